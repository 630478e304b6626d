"""Fast validation of decoded signals, generated from the schema tables.

`evrule.compiler.signals.validate_signal` is the authority on what a signal is, and it says why
a signal is not one; it walks the schema generically. The checkers here are generated from the
same tables (`KINDS`, `ENVELOPE`) as straight-line code, one per signal type, and only ever say
"surely valid": anything they do not accept goes to `validate_signal`, which gives the reason.
`tests/test_io.py` proves that they accept only what `validate_signal` accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from evrule.compiler.signals import (
    DEFAULT_MAX_DEPTH,
    ENVELOPE,
    KINDS,
    REQUIRED_ENVELOPE,
    SIGNAL_TYPES,
    FieldSpec,
    KindSpec,
    parse_timestamp,
)

# One function per signal type checks the envelope and then, by the kind `kind_of` would pick,
# that kind's `data`, in straight-line code: a known field is one `get` and one type test, and the
# known objects below it are checked in place. Objects with many known keys of which few are
# present (a DOM element: 33 known, ~8 present) are walked by their keys instead, in a function
# shared by every place they appear. `CHECKER_SOURCE` holds the generated code.

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


FAST_TIMESTAMP: Final = _fast_timestamp_pattern()


def timestamp_ok(value: Any) -> bool:
    """The timestamp check the checkers inline; on decoded JSON, exactly
    `parse_timestamp(value) is not None`."""
    return type(value) is str and (
        FAST_TIMESTAMP.fullmatch(value) is not None or parse_timestamp(value) is not None
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
            "_ts_match": FAST_TIMESTAMP.fullmatch,
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


CHECKERS, CHECKER_SOURCE = _generate()


def surely_valid(obj: dict[str, Any], text: str | bytes) -> bool:
    """A quick yes for the common case; False means "ask validate_signal". `text` is the line
    `obj` was decoded from (decode_line and read_lines inline this)."""
    kind = obj.get("type")
    check = CHECKERS.get(kind) if type(kind) is str else None
    return check is not None and check(obj, text)
