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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from evrule.compiler.signals import (
    DEFAULT_MAX_DEPTH,
    ENVELOPE,
    KINDS,
    REQUIRED_ENVELOPE,
    SIGNAL_TYPES,
    FieldSpec,
    KindSpec,
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
# (bench/results.md). The checkers below are generated once, at import, from the same tables
# (`ENVELOPE`, `KINDS`) and only ever *accept*: `_surely_valid` returns True only for signals
# that `validate_signal` accepts too, and anything it is unsure about (an unknown Python type, a
# possibly deep nesting, a timestamp outside the common form) goes to `validate_signal`, which
# also writes every rejection reason. So the fast path changes how long validation takes, never
# its outcome (tests/test_io.py checks both agree on generated and mutated signals of every kind).
#
# One function per signal type checks the envelope and then, by the kind `kind_of` would pick,
# that kind's `data`, in straight-line code: a known field is one `get` and one type test, and the
# known objects below it are checked in place. Objects with many known keys of which few are
# present (a DOM element: 33 known, ~8 present) are walked by their keys instead, in a function
# shared by every place they appear. `_CHECKER_SOURCE` holds the generated code.

_NONE = type(None)
_SIGNAL_TYPE_SET = frozenset(SIGNAL_TYPES)
_MISSING = object()
_FLAT_MAX_FIELDS = 16  # objects with more known keys are walked by their present keys

# JSON type name -> the exact Python type decoded JSON gives it; floats are tested apart
# ("number" takes finite ones, "integer" integral ones) and bool is never a number.
_PY_TYPES: dict[str, type] = {
    "string": str,
    "boolean": bool,
    "null": _NONE,
    "integer": int,
    "number": int,
    "object": dict,
    "array": list,
}
_PY_NAMES: dict[type, str] = {
    str: "str",
    bool: "bool",
    _NONE: "_NONE",
    int: "int",
    dict: "dict",
    list: "list",
}
_DEFAULTS: dict[type, str] = {str: "''", bool: "False", _NONE: "None", int: "0"}

# The timestamps SDKs write ("2026-03-01T12:00:00.045Z"), with the calendar spelled out so that
# a match needs no datetime: years 0001-9999, days that exist in every year (29 February is left
# to parse_timestamp), hours 00-23, offsets within a day. Every string it matches also matches
# TIMESTAMP_PATTERN and parses with datetime.fromisoformat; the fraction lengths and offsets are
# probed against parse_timestamp itself below, so a Python that parses fewer forms only makes
# this pattern narrower. A cache would not help: timestamps hardly ever repeat.
_DATE = (
    r"(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_ZONE = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"


def _fast_timestamp_pattern() -> re.Pattern[str]:
    base = "2024-01-31T23:59:59"
    if parse_timestamp(base) is None:
        return re.compile("(?!)")  # nothing is surely a timestamp
    digits = 0
    while digits < 9 and all(
        parse_timestamp(f"{base}.{d * (digits + 1)}") is not None for d in "09"
    ):
        digits += 1
    fraction = rf"(?:\.[0-9]{{1,{digits}}})?" if digits else ""
    zones = ("Z", "+23:59", "-23:59", "+00:00", "-00:00")
    # If one offset form does not parse, every offset is left to parse_timestamp.
    zone = _ZONE if all(parse_timestamp(base + z) is not None for z in zones) else ""
    return re.compile(_DATE + _TIME + fraction + zone)


_FAST_TIMESTAMP: Final = _fast_timestamp_pattern()


def _timestamp_ok(value: Any) -> bool:
    """The timestamp check the checkers inline; on decoded JSON, exactly
    `parse_timestamp(value) is not None`."""
    return type(value) is str and (
        _FAST_TIMESTAMP.fullmatch(value) is not None or parse_timestamp(value) is not None
    )


class _Generator:
    """Writes the checker functions as Python source.

    Each check is emitted for a value held in a local variable and ends in ``return False`` when
    the value is not surely valid. Locals are named by nesting level (``x3``, ``t3``), so a
    child's checks can sit inside its parent's without clashing. Functions are shared by the
    shape of what they check, so the code stays deterministic and small.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tail: list[str] = []  # tables naming functions, assigned once all are defined
        self.env: dict[str, Any] = {
            "_NONE": _NONE,
            "_MISSING": _MISSING,
            "_isfinite": math.isfinite,
            "_ts_match": _FAST_TIMESTAMP.fullmatch,
            "_parse_timestamp": parse_timestamp,
        }
        self.functions: dict[Any, str] = {}
        self.count = 0

    def const(self, prefix: str, value: Any) -> str:
        self.count += 1
        name = f"_{prefix}{self.count}"
        self.env[name] = value
        return name

    def build(self) -> dict[str, Any]:
        source = "\n".join([*self.lines, "", *self.tail]) + "\n"
        exec(compile(source, "<evrule.runtime.io checkers>", "exec"), self.env)
        self.env["__source__"] = source
        return self.env

    def type_test(self, t: str, types: Iterable[type]) -> str:
        """An expression true when the type in `t` is none of `types`."""
        names = [_PY_NAMES[py] for py in dict.fromkeys(types)]
        if len(names) > 2:
            return f"{t} not in {self.const('S', frozenset(dict.fromkeys(types)))}"
        return " and ".join(f"{t} is not {n}" for n in names)

    # -- one value

    def value(self, spec: FieldSpec, x: str, level: int, ind: str) -> list[str]:
        """Checks of the value in local `x`, which sits `level` deep (the signal is level 1)."""
        t = f"t{level}"
        types = spec.types
        branches: list[tuple[str, list[str]]] = []
        if ("object" in types or "any" in types) and spec.children:
            branches.append(("dict", self.fields(spec.children, x, level, ind + "    ")))
        if ("array" in types or "any" in types) and spec.items is not None:
            branches.append(("list", self.items(spec.items, x, level, ind + "    ")))
        if "any" in types:
            if not branches:
                return []
            return [f"{ind}{t} = type({x})"] + [
                line
                for i, (py, body) in enumerate(branches)
                for line in [f"{ind}{'if' if i == 0 else 'elif'} {t} is {py}:", *body]
            ]
        if "number" in types or "integer" in types:
            test = f"_isfinite({x})" if "number" in types else f"{x}.is_integer()"
            branches.append(("float", [f"{ind}    if not {test}:", f"{ind}        return False"]))
        # Types accepted without a further test: scalars, and objects and arrays the schema
        # says nothing more about.
        plain = [py for py in map(_PY_TYPES.get, types) if py.__name__ not in dict(branches)]
        out = [f"{ind}{t} = type({x})"]
        # The type listed first is the likely one: test it first.
        if _PY_TYPES[types[0]] in plain or not branches:
            out.append(f"{ind}if {self.type_test(t, plain)}:")
            if not branches:
                return [*out, f"{ind}    return False"]
            for i, (py, body) in enumerate(branches):
                out.append(f"{ind}    {'if' if i == 0 else 'elif'} {t} is {py}:")
                out.extend("    " + line for line in body)
            return [*out, f"{ind}    else:", f"{ind}        return False"]
        for i, (py, body) in enumerate(branches):
            out += [f"{ind}{'if' if i == 0 else 'elif'} {t} is {py}:", *body]
        if plain:
            return [*out, f"{ind}elif {self.type_test(t, plain)}:", f"{ind}    return False"]
        return [*out, f"{ind}else:", f"{ind}    return False"]

    def items(self, spec: FieldSpec, x: str, level: int, ind: str) -> list[str]:
        y = f"x{level + 1}"
        body = self.value(spec, y, level + 1, ind + "    ")
        return [f"{ind}for {y} in {x}:", *body] if body else []

    # -- objects

    def fields(
        self, fields: Mapping[str, FieldSpec], x: str, level: int, ind: str, envelope: bool = False
    ) -> list[str]:
        """Checks of the known fields of the dict in local `x`."""
        if len(fields) > _FLAT_MAX_FIELDS and not envelope:
            return [f"{ind}if not {self.walker(fields, level)}({x}):", f"{ind}    return False"]
        # `x.get(...)` rather than a local `g = x.get`: CPython 3.11+ calls a method it looks up
        # in place faster than a bound method held in a variable.
        out: list[str] = []
        for key, spec in fields.items():
            out += self.field(key, spec, x, level + 1, ind, envelope)
        return out

    def field(
        self, key: str, spec: FieldSpec, obj: str, level: int, ind: str, envelope: bool
    ) -> list[str]:
        """Checks of one known field of the dict in local `obj`; the field sits `level` deep."""
        x, get = f"x{level}", f"{obj}.get({key!r}"
        required = envelope and key in REQUIRED_ENVELOPE
        if envelope and key in ("type", "data"):
            return []  # checked first, to choose the kind
        if envelope and key == "timestamp":  # _timestamp_ok
            test = f"_ts_match({x}) is None and _parse_timestamp({x}) is None"
            return [
                f"{ind}{x} = {get})",
                f"{ind}if type({x}) is not str or ({test}):",
                f"{ind}    return False",
            ]
        if "any" in spec.types and not spec.children and spec.items is None:
            # Anything goes.
            if required:
                return [f"{ind}if {key!r} not in {obj}:", f"{ind}    return False"]
            return []
        # A missing field reads as a default the checks accept: a value of its first scalar type
        # when it is optional, None (which it must not accept) when it is required; a field that
        # takes only objects or arrays reads as _MISSING and is skipped.
        if "any" in spec.types:
            scalars = [str, int, bool, _NONE]
        else:
            scalars = [
                py for py in map(_PY_TYPES.__getitem__, spec.types) if py not in (dict, list)
            ]
        if required:
            default = "_MISSING" if _NONE in scalars else None
        else:
            default = _DEFAULTS[scalars[0]] if scalars else "_MISSING"
        got = f"{get})" if default is None else f"{get}, {default})"
        if all(t in ("string", "boolean", "null") for t in spec.types):
            if len(scalars) == 1:
                test = self.type_test(f"type({got})", scalars)
                return [f"{ind}if {test}:", f"{ind}    return False"]
            t = f"t{level}"
            test = self.type_test(t, scalars)
            return [f"{ind}{t} = type({got})", f"{ind}if {test}:", f"{ind}    return False"]
        out = [f"{ind}{x} = {got}"]
        if default != "_MISSING":
            return out + self.value(spec, x, level, ind)
        if required:
            out += [f"{ind}if {x} is _MISSING:", f"{ind}    return False"]
            return out + self.value(spec, x, level, ind)
        return [*out, f"{ind}if {x} is not _MISSING:", *self.value(spec, x, level, ind + "    ")]

    def walker(self, fields: Mapping[str, FieldSpec], level: int) -> str:
        """A function checking a dict `level` deep by walking its keys; returns its name."""
        key = ("walk", _shape_of(fields), level)
        name = self.functions.get(key)
        if name is not None:
            return name
        self.count += 1
        name = self.functions[key] = f"_walk{self.count}"
        # Per known key: the types that need no further test, and a checker for the others; a
        # string in a known key that takes none is wrong at once.
        accepted: dict[str, frozenset[type]] = {}
        checkers: dict[str, str] = {}
        for field, spec in fields.items():
            if "any" in spec.types and not spec.children and spec.items is None:
                continue
            accepted[field] = _unchecked(spec)
            checkers[field] = self.checker(spec, level + 1)
        table = self.const("C", None)
        self.tail.append(f"{table} = {{{', '.join(f'{k!r}: {c}' for k, c in checkers.items())}}}")
        no_string = frozenset(k for k, types in accepted.items() if str not in types)
        self.lines += [
            "",
            f"def {name}(x):",
            f"    accepted = {self.const('A', accepted)}.get",
            "    for k, v in x.items():",
            "        t = type(v)",
            "        if t is str:  # most values: one set lookup",
            f"            if k in {self.const('N', no_string)}:",
            "                return False",
            "        else:",
            "            s = accepted(k)",
            f"            if s is not None and t not in s and not {table}[k](v):",
            "                return False",
            "    return True",
        ]
        return name

    def checker(self, spec: FieldSpec, level: int) -> str:
        """A function value -> bool for one field `level` deep; returns its name."""
        key = ("check", _shape(spec), level)
        name = self.functions.get(key)
        if name is None:
            self.count += 1
            name = self.functions[key] = f"_check{self.count}"
            body = self.value(spec, f"x{level}", level, "    ")
            self.lines += ["", f"def {name}(x{level}):", *body, "    return True"]
        return name

    def signal_type(self, name: str, kinds: list[KindSpec]) -> str:
        """The checker of every signal of one type: the envelope, then the fields of the kind that
        kind_of picks (the whole type's when the discriminator matches no sub-kind), then the
        nesting depth."""
        whole = next(k for k in kinds if k.discriminator is None)
        subs = [k for k in kinds if k.discriminator is not None]
        out = [
            "",
            f"# {', '.join(k.name for k in kinds)}",
            f"def _{name}(signal, text):",
            "    data = signal.get('data')",
            "    if type(data) is not dict:",
            "        return False",
            *self.fields(ENVELOPE, "signal", 1, "    ", envelope=True),
        ]
        if subs:
            keys = {k.discriminator[0] for k in subs if k.discriminator is not None}
            assert len(keys) == 1, "one discriminator per signal type"
            out += [
                f"    sub = data.get({keys.pop()!r})",
                "    if type(sub) is not str and isinstance(sub, str):",
                "        return False  # a str subclass: leave it to validate_signal",
            ]
            for i, kind in enumerate(subs):
                assert kind.discriminator is not None
                key, value = kind.discriminator
                out.append(f"    {'if' if i == 0 else 'elif'} sub == {value!r}:")
                # The discriminator is a string here, which its field takes.
                assert "string" in kind.fields[key].types and not kind.fields[key].children
                fields = {k: f for k, f in kind.fields.items() if k != key}
                out += self.fields(fields, "data", 2, "        ") or ["        pass"]
            out.append("    else:")
            out += self.fields(whole.fields, "data", 2, "        ") or ["        pass"]
        else:
            out += self.fields(whole.fields, "data", 2, "    ")
        # Nesting can be no deeper than the number of brackets in the text (brackets inside
        # strings only make the count larger), which is cheaper than walking what the schema
        # leaves open (unknown keys, open objects, "any" fields).
        # Many lines hold no array: one quick find spares counting '[' through the whole line.
        limit = DEFAULT_MAX_DEPTH
        for kind, b in (("bytes", "b"), ("str", "")):
            out += [
                f"    {'if' if kind == 'bytes' else 'elif'} type(text) is {kind}:",
                f"        n = text.count({b}'{{')",
                f"        i = text.find({b}'[')",
                f"        return (n if i < 0 else n + text.count({b}'[', i)) <= {limit!r}",
            ]
        out.append("    return False")
        self.lines += out
        return f"_{name}"


def _unchecked(spec: FieldSpec) -> frozenset[type]:
    """The Python types a field takes without a further test: floats only where it takes any
    value, objects and arrays only where the schema says nothing about what they hold."""
    if "any" in spec.types:
        types = {str, int, float, bool, _NONE, dict, list}
    else:
        types = {_PY_TYPES[n] for n in spec.types}
    described = {dict if spec.children else None, list if spec.items is not None else None}
    return frozenset(types - described)


def _shape(spec: FieldSpec) -> Any:
    """What the checks of a field depend on, as a hashable value."""
    children = _shape_of(spec.children) if spec.children else None
    return (spec.types, children, _shape(spec.items) if spec.items is not None else None)


def _shape_of(fields: Mapping[str, FieldSpec]) -> Any:
    return tuple((key, _shape(spec)) for key, spec in fields.items())


def _generate() -> tuple[dict[str, Any], str]:
    """signal type -> its checker (signal, line text) -> bool; and the generated source."""
    gen = _Generator()
    names = {
        t: gen.signal_type(t, [k for k in KINDS.values() if k.type == t]) for t in SIGNAL_TYPES
    }
    env = gen.build()
    return {t: env[name] for t, name in names.items()}, env["__source__"]


_CHECKERS, _CHECKER_SOURCE = _generate()


def _surely_valid(obj: dict[str, Any], text: str | bytes) -> bool:
    """A quick yes for the common case; False means "ask validate_signal". `text` is the line
    `obj` was decoded from (decode_line and read_lines inline this)."""
    kind = obj.get("type")
    check = _CHECKERS.get(kind) if type(kind) is str else None
    return check is not None and check(obj, text)


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
        kind = obj.get("type")  # _surely_valid, inlined
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
        kind = obj.get("type") if type(obj) is dict else None  # _surely_valid, inlined
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
