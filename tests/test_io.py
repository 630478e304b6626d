"""Reading signal streams: formats recognised per line, and every kind of bad line."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import random
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrule.compiler.signals import (
    DEFAULT_MAX_DEPTH,
    ENVELOPE,
    KINDS,
    REQUIRED_ENVELOPE,
    TIMESTAMP_PATTERN,
    FieldSpec,
    KindSpec,
    parse_timestamp,
    validate_signal,
)
from evrule.runtime import io as evio
from evrule.runtime import validate
from evrule.runtime.io import Item, Rejected, decode_line, read_lines, sort_items
from tests.helpers import click, signal

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "sessions"
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402


def _one(line: str | bytes) -> Item | Rejected:
    (result,) = decode_line(line, 7, "in.jsonl")
    return result


def test_raw_signal_line() -> None:
    s = click("a1", 0, 1, "Go")
    item = _one(json.dumps(s))
    assert isinstance(item, Item) and item.signal == s and item.line == 7


def test_segment_debug_batch_carries_signals() -> None:
    s1, s2 = click("a1", 0, 1, "Go"), signal("navigation", "a1", 1, 2, path="/")
    for s in (s1, s2):
        del s["anonymousId"]  # the SDK keeps identity on the message
    batch = {
        "batch": [
            {"type": "track", "event": "Segment Signal Generated", "properties": s1,
             "anonymousId": "a1", "messageId": "m1"},
            {"type": "page", "name": "Home", "anonymousId": "a1"},  # an ordinary call
            {"type": "track", "event": "Segment Signal Generated", "properties": s2,
             "anonymousId": "a1"},
        ],
        "sentAt": "2026-03-01T12:00:05.000Z",
    }  # fmt: skip
    out = decode_line(json.dumps(batch), 3)
    assert [type(o) for o in out] == [Item, Item]
    assert [o.signal["anonymousId"] for o in out if isinstance(o, Item)] == ["a1", "a1"]
    assert out[0].signal["data"]["target"]["innerText"] == "Go"  # type: ignore[union-attr]


def test_single_signal_message() -> None:
    s = click("a1", 0, 1, "Go")
    msg = {"type": "track", "event": "Segment Signal Generated", "properties": s}
    assert isinstance(_one(json.dumps(msg)), Item)


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ("42", "not a JSON object"),
    ('"text"', "not a JSON object"),
    ("null", "not a JSON object"),
    ('{"anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
     "missing 'type'"),
    ('{"type": "interaction", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
     "missing 'anonymousId'"),
    ('{"type": "teleport", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {}}', "unknown signal type 'teleport'"),
    ('{"type": "network", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {"action": "response", "url": "u", "status": "200"}}', "'data.status'"),
    ('{"type": "navigation", "anonymousId": 5, "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {}}', "'anonymousId' must be"),
    ('{"type": "navigation", "anonymousId": "a", "timestamp": "yesterday", "index": 1,'
     ' "data": {}}', "'timestamp'"),
    ('{"type": "track", "event": "Order Completed", "anonymousId": "a"}',
     "a Segment 'track' message, not a signal"),
    ('{"type": "track", "event": "Segment Signal Generated", "properties": 3}',
     "has no properties object"),
    ('{"batch": {"a": 1}}', "'batch' is not an array"),
    ('{"batch": [17]}', "batch item 0: batch item is not a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_bad_lines_are_rejected_with_a_reason(line: str, reason: str) -> None:
    result = _one(line)
    assert isinstance(result, Rejected)
    assert reason in result.reason
    assert result.line == 7 and result.source == "in.jsonl"
    assert json.loads(result.to_json())["raw"]


def test_deep_nesting_is_rejected_not_a_crash() -> None:
    deep = '{"type": "userDefined", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z",'
    deep += ' "index": 1, "data": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    result = _one(deep)
    assert isinstance(result, Rejected)
    shallow_but_deep = {"type": "userDefined", "anonymousId": "a",
                        "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}  # fmt: skip
    node: dict = shallow_but_deep["data"]  # type: ignore[assignment]
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    result = _one(json.dumps(shallow_but_deep))
    assert isinstance(result, Rejected) and "nesting" in result.reason


def test_invalid_utf8_is_rejected() -> None:
    result = _one(b'{"type": "interaction", "anonymousId": "\xff\xfe"}')
    assert isinstance(result, Rejected)


def test_read_lines_limits_line_size_without_reading_it_whole() -> None:
    good = json.dumps(click("a1", 0, 1, "Go")).encode()
    huge = b'{"type": "userDefined", "data": "' + b"x" * 5_000_000 + b'"}'
    stream = io.BytesIO(good + b"\n" + huge + b"\n\n" + good + b"\n")
    out = list(read_lines(stream, max_line_bytes=10_000))
    assert [type(o) for o in out] == [Item, Rejected, Item]
    rejected = out[1]
    assert isinstance(rejected, Rejected) and rejected.line == 2
    assert f"line too long: {len(huge)} bytes, over the limit of 10000" in rejected.reason
    assert len(rejected.raw) < 5000
    assert out[2].line == 4  # blank lines count as lines but yield nothing


def test_last_line_without_newline() -> None:
    good = json.dumps(click("a1", 0, 1, "Go")).encode()
    assert [type(o) for o in read_lines(io.BytesIO(good))] == [Item]


def test_sort_items_orders_by_timestamp_then_index() -> None:
    a = click("a1", 5, 2, "late")
    b = click("a1", 5, 1, "same time, lower index")
    c = click("a2", 1, 9, "early")
    items = [Item(1, a), Rejected(2, "bad", "x"), Item(3, b), Item(4, c)]
    ordered = sort_items(items)
    assert isinstance(ordered[0], Rejected)
    assert [i.line for i in ordered[1:]] == [4, 3, 1]


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("not valid JSON: unexpected character: line 1 column 2", "not valid JSON"),
        ("missing 'anonymousId'", "missing 'anonymousId'"),
        ("batch item 3: missing 'type'", "missing 'type'"),
        ("unknown signal type 'warp'", "unknown signal type"),
        ("'data.status' must be integer, got string", "wrongly typed field"),
        ("batch item 0: 'index' must be an integer, got boolean", "wrongly typed field"),
        ("a Segment 'page' message, not a signal", "a Segment message, not a signal"),
        ("line too long: 5 bytes, over the limit of 4", "line too long"),
        ("no string 'userId' to match by", "no string 'userId' to match by"),
    ],
)
def test_rejection_categories_for_the_summary(reason: str, category: str) -> None:
    assert Rejected(1, reason, "raw").category == category


# ---- the fast path of validation agrees with validate_signal -------------------------------
#
# `decode_line` and `read_lines` accept most signals through checkers generated from the schema
# tables, and leave everything else to `validate_signal`. The contract: the fast path accepts a
# signal only if `validate_signal` does. And since it proves nesting depth by counting brackets in
# the line, it accepts every valid signal whose line holds at most DEFAULT_MAX_DEPTH brackets
# (else it would be correct but slow), so the tests below check equality there.

_ODD_VALUES: list[Any] = [
    None, True, False, 0, -7, 2**70, 1.5, 3.0, -0.0, 1e300, math.inf, -math.inf, math.nan, "",
    "x", "2026-03-01T12:00:00Z", [], [None], ["x"], [1, "a"], {}, {"k": 1}, [[[]]],
    {"a": {"b": {}}},
]  # fmt: skip


@contextlib.contextmanager
def _slow_path() -> Iterator[None]:
    """decode_line and read_lines as they were before the fast path: validate_signal decides."""
    saved = evio._CHECKERS
    evio._CHECKERS = {}
    try:
        yield
    finally:
        evio._CHECKERS = saved


def _brackets(text: str) -> int:
    return text.count("{") + text.count("[")


def _agrees(signal: Any) -> bool:
    """Checks the fast path against validate_signal on one decoded value; returns whether the
    fast path accepted it."""
    text = json.dumps(signal)
    fast = validate.surely_valid(signal, text)
    assert fast == validate.surely_valid(signal, text.encode())
    valid = validate_signal(signal) is None
    assert valid or not fast, f"fast path accepts what validate_signal rejects: {text[:300]}"
    if _brackets(text) <= DEFAULT_MAX_DEPTH:
        assert fast == valid, f"fast path leaves a valid signal to validate_signal: {text[:300]}"
    return fast


_SAMPLES: dict[str, Any] = {
    "string": "s",
    "number": 1.5,
    "integer": 2,
    "boolean": True,
    "null": None,
    "object": {"k": "v"},
    "array": [1],
    "any": {"any": [1, {"x": None}]},
}


def _full(spec: FieldSpec) -> Any:
    """A valid value with every known field below it present."""
    if spec.children:
        return {k: _full(c) for k, c in spec.children.items()}
    if spec.items is not None:
        return [_full(spec.items), _full(spec.items)]
    return copy.deepcopy(_SAMPLES[spec.types[0]])


def _full_signal(kind: KindSpec) -> dict[str, Any]:
    envelope = {name: _full(spec) for name, spec in ENVELOPE.items()}
    envelope.update(type=kind.type, timestamp="2026-03-01T12:00:00.000Z")
    envelope["data"] = {k: _full(f) for k, f in kind.fields.items()}
    if kind.discriminator is not None:
        key, value = kind.discriminator
        envelope["data"][key] = value
    return envelope


def _known_paths(
    fields: Mapping[str, FieldSpec], prefix: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    for key, spec in fields.items():
        yield (*prefix, key)
        if spec.children:
            yield from _known_paths(spec.children, (*prefix, key))
        if spec.items is not None:
            yield (*prefix, key, 0)
            if spec.items.children:
                yield from _known_paths(spec.items.children, (*prefix, key, 0))


def _paths_of(kind: KindSpec) -> list[tuple[str | int, ...]]:
    return [*_known_paths(ENVELOPE), *_known_paths(kind.fields, ("data",))]


def _replaced(
    signal: Any, path: tuple[str | int, ...], value: Any = None, *, drop: bool = False
) -> Any:
    out = copy.deepcopy(signal)
    node = out
    for step in path[:-1]:
        node = node[step]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)
    return out


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"d": value} if i % 2 else [value]
    return value


def _get(signal: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        signal = signal[step]
    return signal


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_fast_path_agrees_at_every_known_path(kind: KindSpec) -> None:
    full = _full_signal(kind)
    assert _agrees(full), "a signal with every known field set must take the fast path"
    accepted = rejected = 0
    for path in _paths_of(kind):
        for value in _ODD_VALUES:
            if _agrees(_replaced(full, path, value)):
                accepted += 1
            else:
                rejected += 1
        _agrees(_replaced(full, path, drop=True))
    for path in [(), *(p for p in _paths_of(kind) if isinstance(_get(full, p), dict))]:
        for value in (_nested(DEFAULT_MAX_DEPTH), _nested(3), math.nan, {"x": [1.5]}):
            _agrees(_replaced(full, (*path, "unknownKey"), value))
    assert accepted > 0 and rejected > 0


def test_fast_path_agrees_on_bench_signals_and_their_mutants() -> None:
    # Moved from tests/test_bench.py: the stream the benchmark measures, mutated at random paths.
    rng = random.Random(11)
    signals = list(generate.signals(300, seed=2, concurrency=40))
    checked = rejected = 0
    for generated in signals:
        assert _agrees(generated)  # every generated signal takes the fast path
        for s in [generated, *_mutants(generated, rng)]:
            line = json.dumps(s, separators=(",", ":")).encode()
            assert decode_line(line, 1) == _reference(line, 1), line[:200]
            _agrees(s)
            checked += 1
            rejected += validate_signal(s) is not None
    assert checked > 3000 and rejected > 500


def _reference(line: bytes, n: int) -> list[Item | Rejected]:
    """decode_line for a raw signal, with `validate_signal` deciding every time."""
    obj = json.loads(line)
    reason = validate_signal(obj)
    if reason is None:
        return [Item(n, obj)]
    return [Rejected(n, reason, line.decode("utf-8"), "-")]


# Values a line carries unchanged through both json and orjson (no NaN, no huge integers).
_LINE_VALUES: list[Any] = [None, 0, 1.5, -3, "x", "", True, [], {}, [1, "a"], {"k": [None]}, 3.0]


def _mutants(signal: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    paths: list[tuple[str | int, ...]] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((*path, i))
                walk(v, (*path, i))

    walk(signal, ())
    out = []
    for path in rng.sample(paths, min(6, len(paths))):
        out += [_replaced(signal, path, value) for value in rng.sample(_LINE_VALUES, 3)]
        out.append(_replaced(signal, path, drop=True))
    out.append(_replaced(signal, ("data", "body"), _nested(70)))
    return out


# Hypothesis: signals of every kind drawn from the tables, each known field present or not and of
# one of its types, unknown keys anywhere; then up to three known paths set to any JSON value at
# all (or removed), so that valid and invalid signals both come often.

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_finite = st.floats(allow_nan=False, allow_infinity=False)


def _typed(name: str, spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Valid values of one of a field's types."""
    if name in ("object", "any") and spec.children:
        return _object(spec.children)
    if name == "array" and spec.items is not None:
        return st.lists(_value(spec.items), max_size=3)
    return {
        "string": st.text(max_size=4) | st.sampled_from(["click", "request", "submit"]),
        "number": st.integers(min_value=-(2**70), max_value=2**70) | _finite,
        "integer": st.integers() | st.integers(-(2**60), 2**60).map(float),
        "boolean": st.booleans(),
        "null": st.none(),
        "object": st.dictionaries(st.text(max_size=3), _json, max_size=3),
        "array": st.lists(_json, max_size=3),
        "any": _json,
    }[name]


def _value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    return st.one_of(*(_typed(name, spec) for name in spec.types))


def _object(fields: Mapping[str, FieldSpec]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={k: _value(f) for k, f in fields.items()})
    extra = st.dictionaries(st.sampled_from(["zz", "extra", "Page"]), _json, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


_timestamps = st.one_of(
    st.from_regex(validate.FAST_TIMESTAMP.pattern, fullmatch=True),
    st.from_regex(TIMESTAMP_PATTERN, fullmatch=True),  # mostly valid, some not (month 13...)
    st.sampled_from(["2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-03-01T12:00,5"]),
)


@st.composite
def _signals(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(KINDS.values())))
    optional = {k: f for k, f in ENVELOPE.items() if k not in REQUIRED_ENVELOPE}
    signal = draw(_object(optional))
    signal.update(
        type=kind.type,
        anonymousId=draw(st.text(max_size=4)),
        timestamp=draw(_timestamps),
        index=draw(_typed("integer", ENVELOPE["index"])),
        data=draw(_object(kind.fields)),
    )
    if kind.discriminator is not None and draw(st.booleans()):
        signal["data"][kind.discriminator[0]] = kind.discriminator[1]
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths_of(kind) if _has(signal, p)]
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            signal = _replaced(signal, path, draw(_json | st.sampled_from(["teleport", 5])))
        else:
            signal = _replaced(signal, path, drop=True)
    return signal


def _has(signal: Any, path: tuple[str | int, ...]) -> bool:
    for step in path:
        if not isinstance(signal, (dict, list)):
            return False
        try:
            signal = signal[step]
        except (KeyError, IndexError, TypeError):
            return False
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_signals())
def test_fast_path_agrees_on_drawn_signals(signal: dict[str, Any]) -> None:
    _agrees(signal)
    try:
        line = orjson.dumps(signal)
    except TypeError:  # NaN and huge ints: a line cannot carry them, json.dumps writes them
        line = json.dumps(signal).encode()
    fast = decode_line(line, 3, "x")
    with _slow_path():
        assert fast == decode_line(line, 3, "x")


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.from_regex(TIMESTAMP_PATTERN, fullmatch=True),
    st.from_regex(validate.FAST_TIMESTAMP.pattern, fullmatch=True),
    st.text(alphabet="0123456789-T:.,Z+ ", max_size=30),
))  # fmt: skip
def test_fast_timestamp_pattern_is_a_subset_of_parse_timestamp(text: str) -> None:
    if validate.FAST_TIMESTAMP.fullmatch(text):
        assert parse_timestamp(text) is not None
    assert validate.timestamp_ok(text) == (parse_timestamp(text) is not None)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T12:00:00.045Z", "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456789+23:59",
        "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999999Z", "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "0000-01-01T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T12:60:00Z",
        "2026-03-01T12:00:60Z", "2026-03-01T12:00:00+24:00", "2026-03-01T12:00:00+00:60",
        "2026-03-01T12:00:00.1234567890Z", "2026-03-01T12:00:00,5Z", "2026-03-01T12:00Z",
        "2026-03-01T12:00:00+0100", "2026-03-01 12:00:00Z", "2026-03-01", "2026-03-01T12:00:00z",
        "２０２６-03-01T12:00:00Z", "2026-03-01T12:00:00Z\n", "",
    ],
)  # fmt: skip
def test_fast_timestamp_edges(text: str) -> None:
    if validate.FAST_TIMESTAMP.fullmatch(text):
        assert parse_timestamp(text) is not None
    assert validate.timestamp_ok(text) == (parse_timestamp(text) is not None)
    signal = click("a1", 0, 1, "Go")
    signal["timestamp"] = text
    _agrees(signal)


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH - 3, DEFAULT_MAX_DEPTH - 2, 70])
@pytest.mark.parametrize(
    "path",
    [
        ("data", "body"), ("data", "target", "attributes", "x"), ("context", "device"),
        ("unknown",), ("data", "target", "unknown"), ("data", "target", "labels", 0, "x"),
        ("data", "page", "x"),
    ],
)  # fmt: skip
def test_deep_nesting_anywhere_is_left_to_validate_signal(
    depth: int, path: tuple[str | int, ...]
) -> None:
    signal = click("a1", 0, 1, "Go", labels=[{"id": "l"}], attributes={})
    signal["data"].update(body=None, page={"url": "u"})
    signal = _replaced(signal, path, _nested(depth))
    line = json.dumps(signal).encode()
    with _slow_path():
        expected = decode_line(line, 1)
    assert decode_line(line, 1) == expected
    assert list(read_lines(io.BytesIO(line))) == expected
    assert isinstance(expected[0], Item) == (validate_signal(signal) is None)


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH - 1, DEFAULT_MAX_DEPTH, DEFAULT_MAX_DEPTH + 1])
def test_nesting_at_the_limit_with_no_other_brackets(depth: int) -> None:
    # The signal and its data are two levels; the rest of the depth is one chain below data, so
    # the line holds exactly `depth` brackets.
    signal = {"type": "userDefined", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z",
              "index": 1, "data": {"x": _nested(depth - 2)}}  # fmt: skip
    line = json.dumps(signal).encode()
    assert _brackets(line.decode()) == depth
    assert _agrees(signal) == (depth <= DEFAULT_MAX_DEPTH)
    assert isinstance(_one(line), Item) == (depth <= DEFAULT_MAX_DEPTH)


def test_brackets_inside_strings_only_slow_down() -> None:
    signal = click("a1", 0, 1, "{[" * 40)
    line = json.dumps(signal).encode()
    assert not validate.surely_valid(signal, line)  # 80 brackets, though nothing nests
    assert decode_line(line, 1) == [Item(1, signal)]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.jsonl")), ids=lambda p: p.name)
def test_example_sessions_decode_as_before(path: Path) -> None:
    data = path.read_bytes()
    fast = list(read_lines(io.BytesIO(data), source=path.name))
    lines = [(n, line.strip()) for n, line in enumerate(data.splitlines(), 1) if line.strip()]
    per_line = [decode_line(line, n, path.name) for n, line in lines]
    per_text = [decode_line(line.decode(), n, path.name) for n, line in lines]
    with _slow_path():
        assert fast == list(read_lines(io.BytesIO(data), source=path.name))
        before = [decode_line(line, n, path.name) for n, line in lines]
    assert per_line == before
    assert per_text == before
    assert any(isinstance(r, Item) for r in fast)


def test_generated_checkers_are_deterministic() -> None:
    assert validate._generate()[1] == validate.CHECKER_SOURCE
