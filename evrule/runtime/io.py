"""Sources and sinks: reading signal streams, writing events and dead letters.

Input is JSON Lines. Each line may be a raw signal (signals schema 2.0), a Segment message that
carries a signal (a `track` named `Segment Signal Generated` whose properties are the signal, as
the SDK sends them in debug mode), or a Segment batch (`{"batch": [...]}`) of such messages; the
kind is recognised per line. Nothing is dropped silently: a line that cannot be used becomes a
`Rejected` record with its line number and reason, for the dead-letter file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from evrule.compiler.signals import SIGNAL_TYPES, validate_signal
from evrule.runtime.validate import CHECKERS as _CHECKERS

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
# (bench/results.md). The checkers below are generated once, at import, from the same tables
# (`ENVELOPE`, `KINDS`) and only ever *accept*: `_surely_valid` returns True only for signals
# that `validate_signal` accepts too, and anything it is unsure about (an unknown Python type, a
# possibly deep nesting, a timestamp outside the common form) goes to `validate_signal`, which
# also writes every rejection reason. So the fast path changes how long validation takes, never
# its outcome (tests/test_io.py checks both agree on generated and mutated signals of every kind).
#
_SIGNAL_TYPE_SET = frozenset(SIGNAL_TYPES)


# An Item without the frozen dataclass's __init__ (two object.__setattr__ calls, half the cost of
# a valid line's bookkeeping): the slots are set through their descriptors. Same object.
_new_item = object.__new__
_set_line = Item.line.__set__  # type: ignore[attr-defined]
_set_signal = Item.signal.__set__  # type: ignore[attr-defined]


def decode_line(text: str | bytes, line: int, source: str = "-") -> list[Item | Rejected]:
    """Decode one input line into signals and rejections (a batch line may give many)."""
    try:
        obj = _loads(text)
    except _DECODE_ERRORS as exc:
        return [Rejected(line, f"not valid JSON: {exc}", _text(text), source)]
    if type(obj) is dict:
        kind = obj.get("type")  # validate.surely_valid, inlined
        check = _CHECKERS.get(kind) if type(kind) is str else None
        if check is not None and "batch" not in obj and check(obj, text):
            item = _new_item(Item)
            _set_line(item, line)
            _set_signal(item, obj)
            return [item]
    return _decoded(obj, text, line, source)


def _decoded(obj: Any, text: str | bytes, line: int, source: str) -> list[Item | Rejected]:
    """decode_line for a decoded line the fast path did not accept."""
    if type(obj) is not dict:
        return [Rejected(line, "not a JSON object", _text(text), source)]
    kind = obj.get("type")
    raw = _text(text)
    if "batch" not in obj and type(kind) is str and kind in _SIGNAL_TYPE_SET:
        # The common case, a raw signal: the checks below cannot apply to it.
        return [_validated(obj, line, source, "", raw)]
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
    if kind == "track" and obj.get("event") == SIGNAL_EVENT:
        sig = _from_message(obj)
        if isinstance(sig, str):
            return [Rejected(line, sig, raw, source)]
        assert sig is not None
        return [_validated(sig, line, source, "")]
    if kind in ("track", "identify", "page", "screen", "group", "alias"):
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
    readline, limit, loads, checkers = stream.readline, max_line_bytes + 1, _loads, _CHECKERS
    # json.loads guesses the encoding from the first bytes: it gets the line stripped, as before.
    as_read = _loads is not json.loads
    while True:
        chunk = readline(limit)
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
        # decode_line, inlined for the common case of one valid signal per line. orjson skips
        # the whitespace around a JSON value, and fails on what else strip() would remove, so the
        # line is decoded as read and stripped only when it takes the general path.
        text = chunk if as_read else chunk.strip()
        try:
            obj = loads(text)
        except _DECODE_ERRORS:
            stripped = chunk.strip()
            if stripped:
                yield from decode_line(stripped, n, source)
            continue
        kind = obj.get("type") if type(obj) is dict else None  # validate.surely_valid, inlined
        check = checkers.get(kind) if type(kind) is str else None
        if check is not None and "batch" not in obj and check(obj, text):
            item = _new_item(Item)
            _set_line(item, n)
            _set_signal(item, obj)
            yield item
        else:
            yield from _decoded(obj, chunk.strip(), n, source)


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
