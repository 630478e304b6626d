"""Signatures of the functions usable in rules; the implementations live in
`evrule.runtime.functions` (standard library only, so generated modules can embed them).

Types use the JSON type names of `evrule.compiler.signals` plus "any". A parameter that accepts
several types lists them; `variadic` repeats the last parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    params: tuple[tuple[str, ...], ...]
    returns: tuple[str, ...]
    doc: str
    min_args: int | None = None
    variadic: bool = False

    @property
    def required(self) -> int:
        return len(self.params) if self.min_args is None else self.min_args


_SCALAR = ("string", "number", "integer", "boolean", "null")
_ANY = ("any",)

FUNCTIONS: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature("number", (_SCALAR,), ("number", "null"),
                  "the value as a number; null when it is not numeric"),
        Signature("string", (_ANY,), ("string", "null"),
                  "the value as a string (objects and arrays as compact JSON); null stays null"),
        Signature("bool", (_ANY,), ("boolean",), "true unless null, false, 0, \"\", [] or {}"),
        Signature("lower", (("string", "null"),), ("string", "null"), "lower case"),
        Signature("upper", (("string", "null"),), ("string", "null"), "upper case"),
        Signature("trim", (("string", "null"),), ("string", "null"),
                  "without white space at both ends"),
        Signature("split", (("string", "null"), ("string",)), ("array", "null"),
                  "the string split at each separator"),
        Signature("replace", (("string", "null"), ("string",), ("string",)), ("string", "null"),
                  "every occurrence of the second argument replaced by the third"),
        Signature("extract", (("string", "null"), ("string",), ("integer",)), ("string", "null"),
                  "group N (default 1) of the first match of a regular expression, or null",
                  min_args=2),
        Signature("urldecode", (("string", "null"),), ("string", "null"),
                  "percent-escapes decoded and `+` read as a space, as in query strings"),
        Signature("json", (("string", "null"),), _ANY,
                  "the string parsed as JSON; null when it is not valid JSON"),
        Signature("if", (("boolean",), _ANY, _ANY), _ANY,
                  "the second argument when the condition holds, else the third"),
        Signature("length", (("string", "array", "object", "null"),), ("integer", "null"),
                  "the number of characters, items or keys"),
        Signature("join", (("array", "null"), ("string",)), ("string", "null"),
                  "the items as strings joined with a separator"),
        Signature("round", (("number", "integer", "null"), ("integer",)), ("number", "null"),
                  "rounded to N decimals (default 0), half to even", min_args=1),
        Signature("concat", (_ANY,), ("string",),
                  "the arguments as strings, nulls skipped, joined", variadic=True),
    ]
}  # fmt: skip
