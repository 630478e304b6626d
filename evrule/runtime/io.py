"""Sources and sinks: reading signal streams, writing events and dead letters.

Input is JSON Lines. Each line may be a raw signal (signals schema 2.0), a Segment message that
carries a signal (a `track` named `Segment Signal Generated` whose properties are the signal, as
the SDK sends them in debug mode), or a Segment batch (`{"batch": [...]}`) of such messages; the
kind is recognised per line. Nothing is dropped silently: a line that cannot be used becomes a
`Rejected` record with its line number and reason, for the dead-letter file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from evrule.compiler.signals import (
    DEFAULT_MAX_DEPTH,
    ENVELOPE,
    KINDS,
    SIGNAL_TYPES,
    FieldSpec,
    parse_timestamp,
    validate_signal,
)

try:  # orjson decodes JSON Lines 2-3x faster (bench/results.md); the stdlib is the fallback.
    import orjson

    _loads: Any = orjson.loads
    _DECODE_ERRORS: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _loads = json.loads
    _DECODE_ERRORS = (ValueError, RecursionError)

SIGNAL_EVENT = "Segment Signal Generated"
DEFAULT_MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input line, or one message of a batch line, that is not a usable signal."""

    line: int
    reason: str
    raw: str
    source: str = "-"

    def to_json(self) -> str:
        return json.dumps(
            {"source": self.source, "line": self.line, "reason": self.reason, "raw": self.raw},
            ensure_ascii=False,
        )

    @property
    def category(self) -> str:
        """The reason without its details, for counting: `unknown signal type`,
        `missing 'anonymousId'`, `wrongly typed field`, ..."""
        reason = _BATCH_PREFIX.sub("", self.reason)
        for pattern, category in _CATEGORIES:
            m = pattern.match(reason)
            if m:
                return category or m.group(0)
        return reason.split(":")[0]


_BATCH_PREFIX = re.compile(r"^batch item \d+: ")
_CATEGORIES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"^not valid JSON"), "not valid JSON"),
    (re.compile(r"^line too long"), "line too long"),
    (re.compile(r"^missing '[^']*'"), None),  # keeps which field is missing
    (re.compile(r"^unknown signal type"), "unknown signal type"),
    (re.compile(r"^'[^']*' must be"), "wrongly typed field"),
    (re.compile(r"^a Segment '[^']*' message"), "a Segment message, not a signal"),
    (re.compile(r"^nesting deeper"), "nesting too deep"),
    (re.compile(r"^no string '[^']*' to match by"), None),
]


@dataclass(frozen=True, slots=True)
class Item:
    """A signal read from the input and where it came from."""

    line: int
    signal: dict[str, Any]


def _from_message(msg: Any) -> dict[str, Any] | str | None:
    """The signal a Segment message carries; None when the message is not a signal message,
    or a reason string when it claims to be one but is malformed."""
    if type(msg) is not dict:
        return "batch item is not a JSON object"
    if msg.get("type") != "track" or msg.get("event") != SIGNAL_EVENT:
        return None
    props = msg.get("properties")
    if type(props) is not dict:
        return f"'{SIGNAL_EVENT}' message has no properties object"
    signal = dict(props)
    # The SDK keeps identity and time on the message; a signal inherits what it lacks.
    for key in ("anonymousId", "timestamp"):
        if key not in signal and key in msg:
            signal[key] = msg[key]
    return signal


# ---- a fast path for validate_signal -------------------------------------------------------
#
# Validating every field of every signal through `validate_signal` costs more than decoding it
# (bench/results.md). The checkers below are compiled once from the same tables (`ENVELOPE`,
# `KINDS`) and only ever *accept*: they return True for signals that `validate_signal` accepts
# too, and anything they are unsure about (a value of an unexpected Python type, a possibly deep
# nesting) goes to `validate_signal`, which also writes every rejection reason. So the fast path
# changes how long validation takes, never its outcome (tests/test_bench.py checks both agree).

_NONE = type(None)
_SIGNAL_TYPE_SET = frozenset(SIGNAL_TYPES)

# A compiled field: (exact Python types accepted or None for any, how floats fare, checks of the
# known keys of an object, check of array items).
_Node = tuple[frozenset[type] | None, int, dict[str, Any] | None, Any]
_FLOAT_NO, _FLOAT_FINITE, _FLOAT_INTEGRAL, _FLOAT_ANY = 0, 1, 2, 3


def _node(spec: FieldSpec) -> _Node:
    types = spec.types
    if "any" in types:
        exact, floats = None, _FLOAT_ANY
    else:
        pairs = (("string", str), ("boolean", bool), ("object", dict), ("array", list))
        found = {py for t, py in pairs if t in types}
        if "null" in types:
            found.add(_NONE)
        if "integer" in types or "number" in types:
            found.add(int)
        exact = frozenset(found)
        floats = (
            _FLOAT_FINITE
            if "number" in types
            else _FLOAT_INTEGRAL
            if "integer" in types
            else _FLOAT_NO
        )
    children = {k: _node(c) for k, c in spec.children.items()} if spec.children else None
    items = _node(spec.items) if spec.items is not None else None
    return exact, floats, children, items


def _float_ok(mode: int, value: float) -> bool:
    if mode == _FLOAT_FINITE:
        return math.isfinite(value)
    if mode == _FLOAT_INTEGRAL:
        return value.is_integer()
    return mode == _FLOAT_ANY


def _ok(node: _Node, value: Any) -> bool:
    """True only if `validate_signal` would accept `value` for this field."""
    exact, floats, children, items = node
    t = type(value)
    if t is float:
        if not _float_ok(floats, value):
            return False
    elif exact is not None and t not in exact:
        return False
    if children is not None and t is dict:
        for k, v in value.items():
            child = children.get(k)
            if child is None:
                continue
            if child[2] is None and child[3] is None:  # a leaf: test it here, without a call
                tv = type(v)
                if tv is float:
                    if not _float_ok(child[1], v):
                        return False
                elif child[0] is not None and tv not in child[0]:
                    return False
            elif not _ok(child, v):
                return False
    if items is not None and t is list:
        if items[2] is None and items[3] is None:
            item_types, item_floats = items[0], items[1]
            for v in value:
                tv = type(v)
                if tv is float:
                    if not _float_ok(item_floats, v):
                        return False
                elif item_types is not None and tv not in item_types:
                    return False
        else:
            for v in value:
                if not _ok(items, v):
                    return False
    return True


_ENVELOPE_NODES = {name: _node(spec) for name, spec in ENVELOPE.items()}
_REQUIRED_NODES = tuple((n, _ENVELOPE_NODES[n]) for n in ("type", "anonymousId", "index"))
_OPTIONAL_NODES = tuple((n, _ENVELOPE_NODES[n]) for n in ("messageId", "userId", "context"))
_DATA_NODES = {
    name: _node(FieldSpec(("object",), name, kind.fields)) for name, kind in KINDS.items()
}
# kind_of(signal) from the same tables, as a dict lookup: type -> (key under data, {value: kind}).
_SUB_KINDS: dict[str, tuple[str, dict[str, str]]] = {}
for _kind in KINDS.values():
    if _kind.discriminator is not None:
        _key, _value = _kind.discriminator
        _SUB_KINDS.setdefault(_kind.type, (_key, {}))[1][_value] = _kind.name


def _data_node(signal_type: str, data: dict[str, Any]) -> _Node | None:
    sub = _SUB_KINDS.get(signal_type)
    if sub is not None:
        value = data.get(sub[0])
        if type(value) is str:
            name = sub[1].get(value)
            if name is not None:
                return _DATA_NODES[name]
        elif isinstance(value, str):  # a str subclass: leave it to validate_signal
            return None
    return _DATA_NODES.get(signal_type)


def _surely_valid(obj: dict[str, Any], raw: bytes | None) -> bool:
    """A quick yes for the common case; False means "ask validate_signal"."""
    # Nesting can be no deeper than the number of brackets in the text (brackets inside strings
    # only make the count larger), so short signals skip the depth walk.
    if raw is None or raw.count(b"{") + raw.count(b"[") > DEFAULT_MAX_DEPTH:
        return False
    for name, node in _REQUIRED_NODES:
        if name not in obj or not _ok(node, obj[name]):
            return False
    kind = obj["type"]
    if type(kind) is not str or kind not in _SIGNAL_TYPE_SET or "timestamp" not in obj:
        return False
    if parse_timestamp(obj["timestamp"]) is None:
        return False
    for name, node in _OPTIONAL_NODES:
        if name in obj and not _ok(node, obj[name]):
            return False
    data = obj.get("data")
    if type(data) is not dict:
        return False
    node = _data_node(kind, data)
    return node is not None and _ok(node, data)


def decode_line(text: str | bytes, line: int, source: str = "-") -> list[Item | Rejected]:
    """Decode one input line into signals and rejections (a batch line may give many)."""
    try:
        obj = _loads(text)
    except _DECODE_ERRORS as exc:
        return [Rejected(line, f"not valid JSON: {exc}", _text(text), source)]
    if type(obj) is not dict:
        return [Rejected(line, "not a JSON object", _text(text), source)]
    kind = obj.get("type")
    if "batch" not in obj and type(kind) is str and kind in _SIGNAL_TYPE_SET:
        # The common case, a raw signal: the checks below cannot apply to it.
        raw = text if type(text) is bytes else None
        if _surely_valid(obj, raw):
            return [Item(line, obj)]
        return [_validated(obj, line, source, "", _text(text))]
    raw = _text(text)
    if "batch" in obj and "type" not in obj:
        batch = obj["batch"]
        if type(batch) is not list:
            return [Rejected(line, "'batch' is not an array", raw, source)]
        out: list[Item | Rejected] = []
        for i, msg in enumerate(batch):
            sig = _from_message(msg)
            if sig is None:
                continue  # ordinary analytics calls travel in the same batches
            if isinstance(sig, str):
                out.append(Rejected(line, f"batch item {i}: {sig}", dump_json(msg), source))
                continue
            out.append(_validated(sig, line, source, f"batch item {i}: "))
        return out
    if obj.get("type") == "track" and obj.get("event") == SIGNAL_EVENT:
        sig = _from_message(obj)
        if isinstance(sig, str):
            return [Rejected(line, sig, raw, source)]
        assert sig is not None
        return [_validated(sig, line, source, "")]
    if obj.get("type") in ("track", "identify", "page", "screen", "group", "alias"):
        return [Rejected(line, f"a Segment '{obj['type']}' message, not a signal", raw, source)]
    return [_validated(obj, line, source, "", raw)]


def _text(text: str | bytes) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _validated(
    signal: dict[str, Any], line: int, source: str, prefix: str, raw: str | None = None
) -> Item | Rejected:
    reason = validate_signal(signal)
    if reason is not None:
        return Rejected(
            line, prefix + reason, raw if raw is not None else dump_json(signal), source
        )
    return Item(line, signal)


def dump_json(obj: Any) -> str:
    """JSON text of a decoded value, for dead letters; never raises."""
    try:
        return json.dumps(obj, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return repr(obj)[:10_000]


def read_lines(
    stream: IO[bytes], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, source: str = "-"
) -> Iterator[Item | Rejected]:
    """Signals and rejections from a binary JSON Lines stream, in input order.

    A line over `max_line_bytes` is rejected without being decoded (and without being held in
    memory beyond the limit plus one read buffer); blank lines are skipped.
    """
    n = 0
    while True:
        chunk = stream.readline(max_line_bytes + 1)
        if not chunk:
            return
        n += 1
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            size = len(chunk)
            head = chunk
            while True:
                more = stream.readline(1 << 16)
                size += len(more)
                if not more:
                    break
                if more.endswith(b"\n"):
                    size -= 1
                    break
            yield Rejected(
                n,
                f"line too long: {size} bytes, over the limit of {max_line_bytes}",
                head[:4096].decode("utf-8", "replace") + "...",
                source,
            )
            continue
        stripped = chunk.strip()
        if not stripped:
            continue
        yield from decode_line(stripped, n, source)


def sort_items(items: Iterable[Item | Rejected]) -> list[Item | Rejected]:
    """Order signals by (timestamp, index), input order breaking ties, as `evrule run --sort`
    does; rejections come first, in input order."""
    from evrule.runtime.core import parse_ts

    everything = list(items)
    rejected = [i for i in everything if isinstance(i, Rejected)]
    signals = [i for i in everything if isinstance(i, Item)]

    def key(pos_item: tuple[int, Item]) -> tuple[float, int, int]:
        pos, item = pos_item
        ts = parse_ts(item.signal.get("timestamp"))
        index = item.signal.get("index")
        return (ts if ts is not None else 0.0, index if type(index) is int else 0, pos)

    return [*rejected, *(item for _, item in sorted(enumerate(signals), key=key))]


__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "SIGNAL_EVENT",
    "SIGNAL_TYPES",
    "Item",
    "Rejected",
    "decode_line",
    "dump_json",
    "read_lines",
    "sort_items",
]
