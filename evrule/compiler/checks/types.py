"""Checks on types and values: operators against field types, function arguments, regular
expressions, windows, and conditions that can never hold.

Types come from the signal schema (`evrule.compiler.signals`) and function signatures
(`evrule.compiler.functions`). A check only speaks when the types are known: a path below an
open object (`body.*`), `json(...)` or an unknown field is "any" and accepted everywhere.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from evrule.compiler import ast
from evrule.compiler.checks import Check, register
from evrule.compiler.checks.context import (
    Context,
    Node,
    RuleScope,
    Types,
    describe_types,
    families,
    family,
    iter_nodes,
    literal_type,
    module_roots,
    show,
    source_text,
)
from evrule.compiler.checks.names import OBJECT_TARGETS, SIMPLE_TARGETS
from evrule.compiler.diagnostics import Diagnostic, Severity, Span
from evrule.compiler.functions import FUNCTIONS

REGEX_FLAGS = "ims"
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

STRING_TARGETS = frozenset(t for targets in SIMPLE_TARGETS.values() for t in targets)
"""Map targets that take a string (`event`, `userId`, ...)."""
OBJECT_TARGET_NAMES = frozenset(t for targets in OBJECT_TARGETS.values() for t in targets)
"""Map targets that take an object when mapped whole (`properties`, `traits`, `context`)."""


def _all_step_nodes(scope: RuleScope) -> Iterator[tuple[Node, int | None]]:
    """Every node a rule evaluates, with the step it belongs to (None for map values)."""
    for index in range(len(scope.rule.steps)):
        for node in scope.step_nodes(index):
            yield node, index
    for node in scope.map_nodes():
        yield node, None


def _literal_hint(literal: ast.Expr, other: Types) -> str | None:
    """A fix for the common slip of quoting a number, or not quoting a string."""
    if not isinstance(literal, ast.Literal):
        return None
    value = literal.value
    if isinstance(value, str) and "number" in families(other):
        if _JSON_NUMBER.fullmatch(value.strip()) is None:
            return None
        return f"write the number without quotes: `{value.strip()}`"
    wanted = families(other)
    if isinstance(value, str) and "boolean" in wanted and value in ("true", "false"):
        return f"write the boolean without quotes: `{value}`"
    if isinstance(value, int | float | bool) and "string" in wanted:
        shown = json.dumps(value)
        return f'write the string in quotes: `"{shown}"`'
    return None


# ---- E301 -----------------------------------------------------------------------------------


@register
class OperatorTypeMismatch(Check):
    code = "E301"
    severity = Severity.ERROR
    description = "operator or map target used with a value of the wrong type"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        scope = ctx.scope(rule)
        for node, index in _all_step_nodes(scope):
            if isinstance(node, ast.Compare):
                yield from self._compare(scope, node, index)
            elif isinstance(node, ast.Matches):
                types = scope.type_of(node.left, index)
                if types is not None and "string" not in families(types):
                    text = scope.text(node.left)
                    yield self.diag(
                        f"`matches` needs a string, but `{text}` is {describe_types(types)}",
                        node.left.span,
                        f"convert it first: `string({text}) matches /.../`",
                    )
        yield from self._map_targets(scope)

    def _describe(self, scope: RuleScope, node: Node, types: Types) -> str:
        return f"`{scope.text(node)}` ({describe_types(types)})"

    def _compare(
        self, scope: RuleScope, node: ast.Compare, index: int | None
    ) -> Iterator[Diagnostic]:
        op = node.op
        base = op.removesuffix("~")
        left = scope.type_of(node.left, index)
        right = scope.type_of(node.right, index)
        if op.endswith("~") and left is not None and "string" not in families(left):
            if families(left):  # a null literal compares with anything
                yield self.diag(
                    f"`{op}` compares strings ignoring case, but `{scope.text(node.left)}` is "
                    f"{describe_types(left)}",
                    node.op_span,
                    f"use `{base}` for values that are not strings",
                )
            return
        if base in ("==", "!="):
            if left is not None and right is not None:
                lf, rf = families(left), families(right)
                if lf and rf and not lf & rf:
                    yield self._mismatch(scope, node, left, right)
        elif base in ("<", "<=", ">", ">="):
            yield from self._ordering(scope, node, left, right)
        elif base in ("contains", "startswith", "endswith", "glob"):
            yield from self._text_op(scope, node, base, left, right)
        elif base == "in":
            yield from self._membership(scope, node, index, left, right)

    def _mismatch(
        self, scope: RuleScope, node: ast.Compare, left: Types, right: Types
    ) -> Diagnostic:
        # Point at the literal when there is one: that is the part to fix.
        span, hint = node.op_span, None
        if isinstance(node.right, ast.Literal):
            span, hint = node.right.span, _literal_hint(node.right, left)
        elif isinstance(node.left, ast.Literal):
            span, hint = node.left.span, _literal_hint(node.left, right)
        return self.diag(
            f"`{node.op}` compares {self._describe(scope, node.left, left)} with "
            f"{self._describe(scope, node.right, right)}",
            span,
            hint,
        )

    def _ordering(
        self, scope: RuleScope, node: ast.Compare, left: Types | None, right: Types | None
    ) -> Iterator[Diagnostic]:
        orderable = {"number", "string"}
        for side, types in ((node.left, left), (node.right, right)):
            if types is not None and families(types) and not families(types) & orderable:
                yield self.diag(
                    f"`{node.op}` needs numbers or strings, but `{scope.text(side)}` is "
                    f"{describe_types(types)}",
                    node.op_span,
                )
                return
        if left is not None and right is not None:
            lf, rf = families(left) & orderable, families(right) & orderable
            if lf and rf and not lf & rf:
                yield self._mismatch(scope, node, left, right)

    def _text_op(
        self,
        scope: RuleScope,
        node: ast.Compare,
        base: str,
        left: Types | None,
        right: Types | None,
    ) -> Iterator[Diagnostic]:
        allowed = {"string", "array"} if base == "contains" else {"string"}
        wanted = "a string or array" if base == "contains" else "a string"
        if left is not None and families(left) and not families(left) & allowed:
            hint = (
                "compare numbers with `==`, `<`, `>`"
                if "number" in families(left)
                else f"convert it first: `string({scope.text(node.left)})`"
            )
            yield self.diag(
                f"`{node.op}` needs {wanted}, but `{scope.text(node.left)}` is "
                f"{describe_types(left)}",
                node.op_span,
                hint,
            )
            return
        # The right side is a string unless `contains` looks inside an array.
        text_only = base != "contains" or (left is not None and families(left) == {"string"})
        if text_only and right is not None and families(right) and "string" not in families(right):
            yield self.diag(
                f"`{node.op}` needs a string on the right, but `{scope.text(node.right)}` is "
                f"{describe_types(right)}",
                node.right.span,
                _literal_hint(node.right, ("string",)),
            )

    def _membership(
        self,
        scope: RuleScope,
        node: ast.Compare,
        index: int | None,
        left: Types | None,
        right: Types | None,
    ) -> Iterator[Diagnostic]:
        if isinstance(node.right, ast.ListExpr):
            if left is None or not families(left) or node.op.endswith("~"):
                return
            for item in node.right.items:
                item_types = scope.type_of(item, index)
                if not isinstance(item, ast.Literal) or item_types is None:
                    continue
                item_f = families(item_types)
                if item_f and not item_f & families(left):
                    yield self.diag(
                        f"`{node.op}` compares {self._describe(scope, node.left, left)} with "
                        f"{self._describe(scope, item, item_types)}",
                        item.span,
                        _literal_hint(item, left),
                    )
            return
        if right is not None and "array" not in families(right):
            yield self.diag(
                f"`{node.op}` needs a list or an array, but `{scope.text(node.right)}` is "
                f"{describe_types(right)}",
                node.right.span,
                'write a list such as `["a", "b"]`; to look for a substring use `contains`',
            )

    def _map_targets(self, scope: RuleScope) -> Iterator[Diagnostic]:
        event_type = scope.rule.event_type
        for entry in scope.rule.maps:
            if len(entry.target) != 1:
                continue
            target = entry.target[0]
            if target in SIMPLE_TARGETS.get(event_type, ()):
                wanted, allowed = "a string", {"string"}
                hint = _literal_hint(entry.value, ("string",)) or (
                    f"convert it: `string({scope.text(entry.value)})`"
                )
            elif target in OBJECT_TARGETS.get(event_type, ()):
                wanted, allowed = "an object", {"object"}
                hint = f"map one key at a time, e.g. `{target}.name = ...`"
            else:
                continue  # E205 reports targets the event type does not have
            types = scope.type_of(entry.value, None)
            if types is None or families(types) & allowed:
                continue
            yield self.diag(
                f"`{target}` must be {wanted}, but `{scope.text(entry.value)}` is "
                f"{describe_types(types)}",
                entry.value.span,
                hint,
            )


# ---- functions ------------------------------------------------------------------------------


@register
class ArgumentType(Check):
    code = "E302"
    severity = Severity.ERROR
    description = "function argument of the wrong type"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        scope = ctx.scope(rule)
        for node, index in _all_step_nodes(scope):
            if not isinstance(node, ast.Call) or node.name not in FUNCTIONS:
                continue
            sig = FUNCTIONS[node.name]
            for position, arg in enumerate(node.args):
                if position < len(sig.params):
                    params = sig.params[position]
                elif sig.variadic and sig.params:
                    params = sig.params[-1]
                else:
                    break  # E303 reports extra arguments
                if "any" in params:
                    continue
                types = scope.type_of(arg, index)
                if types is None or {family(t) for t in types} & {family(p) for p in params}:
                    continue
                text = scope.text(arg)
                yield self.diag(
                    f"argument {position + 1} of `{node.name}` must be "
                    f"{describe_types([family(p) for p in params])}, but `{text}` is "
                    f"{describe_types(types)}",
                    arg.span,
                    _argument_hint(text, types),
                )


def _argument_hint(text: str, types: Types) -> str | None:
    kinds = families(types)
    if kinds == {"object"}:
        return f"pick a field inside it, e.g. `{text}.name`"
    if kinds == {"array"}:
        return f"pick an item, e.g. `{text}[0]`, or use `length` or `join`"
    return None


@register
class WrongArity(Check):
    code = "E303"
    severity = Severity.ERROR
    description = "wrong number of function arguments"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        for root in module_roots(module):
            for node in iter_nodes(root):
                if isinstance(node, ast.Call) and node.name in FUNCTIONS:
                    problem = self._arity(node)
                    if problem is not None:
                        yield problem

    def _arity(self, call: ast.Call) -> Diagnostic | None:
        sig = FUNCTIONS[call.name]
        count, least = len(call.args), sig.required
        most = None if sig.variadic else len(sig.params)
        if count >= least and (most is None or count <= most):
            return None
        if most is None:
            expected = f"at least {least} argument{'s' * (least != 1)}"
        elif least == most:
            expected = f"{least} argument{'s' * (least != 1)}"
        else:
            expected = f"{least} to {most} arguments"
        span = call.span
        if most is not None and count > most:
            # Underline the arguments that are too many.
            first, last = call.args[most].span, call.args[-1].span
            span = Span(first.file, first.line, first.column, last.end_line, last.end_column)
        return self.diag(
            f"`{call.name}` takes {expected}, got {count}",
            span,
            f"`{call.name}`: {sig.doc}",
        )


# ---- regular expressions ------------------------------------------------------------------

_BRACE_QUANTIFIER = re.compile(r"\{(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)\}")
_BACKTRACKING_GROUPS = (
    ("(?<=", "lookbehind"),
    ("(?<!", "lookbehind"),
    ("(?P=", "named backreference"),
    ("(?=", "lookahead"),
    ("(?!", "lookahead"),
    ("(?>", "atomic group"),
    ("(?(", "conditional"),
)


def nonlinear_construct(pattern: str) -> tuple[int, int, str] | None:
    """The first construct that needs a backtracking engine: (offset, length, what), or None.

    Rules run on every signal, so they may only use regexes a linear-time engine (RE2-style)
    can run: no backreferences, lookaround, atomic groups, possessive quantifiers or
    conditionals.

        >>> nonlinear_construct(r"(a)\\1")
        (3, 2, 'backreference `\\\\1`')
        >>> nonlinear_construct(r"[\\1]a+b") is None
        True
    """
    i, n = 0, len(pattern)
    quantifier_at = -1  # where the quantifier just read starts; -1 after anything else
    while i < n:
        c = pattern[i]
        if c == "\\":
            following = pattern[i + 1 : i + 2]
            if following in tuple("123456789"):
                j = i + 2
                while j < n and pattern[j].isdigit():
                    j += 1
                return i, j - i, f"backreference `{pattern[i:j]}`"
            if following == "k" and pattern[i + 2 : i + 3] == "<":
                close = pattern.find(">", i)
                j = n if close < 0 else close + 1
                return i, j - i, f"backreference `{pattern[i:j]}`"
            quantifier_at = -1
            i += 2
            continue
        if c == "[":
            # A class is one token: nothing inside it is a group, quantifier or backreference.
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            quantifier_at = -1
            i = j + 1
            continue
        if c == "(":
            for prefix, what in _BACKTRACKING_GROUPS:
                if pattern.startswith(prefix, i):
                    return i, len(prefix), f"{what} `{prefix}`"
            quantifier_at = -1
            i += 1
            continue
        brace = _BRACE_QUANTIFIER.match(pattern, i) if c == "{" else None
        if c in "*+?" or brace is not None:
            if quantifier_at >= 0 and c == "+":
                text = pattern[quantifier_at : i + 1]
                return quantifier_at, i + 1 - quantifier_at, f"possessive quantifier `{text}`"
            # A `?` after a quantifier makes it lazy, which is fine; anything else after one is
            # a "multiple repeat" that `re.compile` reports.
            quantifier_at = -1 if quantifier_at >= 0 else i
            i = brace.end() if brace is not None else i + 1
            continue
        quantifier_at = -1
        i += 1
    return None


def _regex_sources(module: ast.Module) -> Iterator[tuple[str, Span, Span | None]]:
    """Each regex of a file: (pattern, span of the whole regex, span of the pattern text when
    offsets inside it map to columns)."""
    for root in module_roots(module):
        for node in iter_nodes(root):
            if isinstance(node, ast.Matches):
                s = node.regex_span
                inner = Span(s.file, s.line, s.column + 1, s.line, s.column + 1 + len(node.pattern))
                yield node.pattern, s, inner if s.line == s.end_line else None
            elif (
                isinstance(node, ast.Call)
                and node.name == "extract"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Literal)
                and isinstance(node.args[1].value, str)
            ):
                # The literal was decoded from JSON escapes, so offsets do not map to columns.
                yield node.args[1].value, node.args[1].span, None


def _at(inner: Span | None, whole: Span, offset: int, length: int) -> Span:
    if inner is None:
        return whole
    start = inner.column + offset
    return Span(inner.file, inner.line, start, inner.line, start + max(1, length))


@register
class InvalidRegex(Check):
    code = "E304"
    severity = Severity.ERROR
    description = "invalid regular expression or unknown regex flag"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        for root in module_roots(module):
            for node in iter_nodes(root):
                if isinstance(node, ast.Matches):
                    bad = "".join(dict.fromkeys(f for f in node.flags if f not in REGEX_FLAGS))
                    if bad:
                        s = node.regex_span
                        start = s.end_column - len(node.flags)
                        yield self.diag(
                            f"unknown regex flag{'s' * (len(bad) > 1)} `{bad}`",
                            Span(s.file, s.end_line, start, s.end_line, s.end_column),
                            "flags are `i` (ignore case), `m` (multi-line) and `s` (dot matches "
                            "newline)",
                        )
                elif (
                    isinstance(node, ast.Call)
                    and node.name == "extract"
                    and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Template)
                ):
                    yield from self._holes_in_pattern(module, node.args[1])
        for pattern, whole, inner in _regex_sources(module):
            if nonlinear_construct(pattern) is not None:
                continue  # E305 says what to change; the compile error would only add noise
            problem = compile_error(pattern)
            if problem is not None:
                message, position = problem
                span = whole if position is None else _at(inner, whole, position, 1)
                yield self.diag(f"invalid regular expression: {message}", span)

    def _holes_in_pattern(self, module: ast.Module, template: ast.Template) -> Iterator[Diagnostic]:
        # In a map value `"[0-9]{3}"` is a template whose hole `{3}` yields "3", so the regex
        # silently becomes `[0-9]3`. A literal in a hole is never what anyone means.
        for part in template.parts:
            if isinstance(part, ast.Literal):
                text = show(source_text(module, part.span) or json.dumps(part.value))
                yield self.diag(
                    f"`{{{text}}}` in this pattern is a template hole, not a repetition",
                    part.span,
                    "strings in map values are templates: write regex braces doubled, e.g. "
                    "`[0-9]{{3}}`",
                )


def compile_error(pattern: str) -> tuple[str, int | None] | None:
    """Why Python's `re` rejects a pattern (message, offset), or None when it compiles."""
    try:
        with warnings.catch_warnings():
            # "possible nested set" and friends are about future syntax, not errors.
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        return exc.msg, exc.pos
    except (OverflowError, RecursionError, ValueError) as exc:  # e.g. a{99999999999}
        return str(exc) or type(exc).__name__, None
    return None


@register
class NonLinearRegex(Check):
    code = "E305"
    severity = Severity.ERROR
    description = "regular expression that needs backtracking"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        for pattern, whole, inner in _regex_sources(module):
            found = nonlinear_construct(pattern)
            if found is None:
                continue
            offset, length, what = found
            yield self.diag(
                f"regular expression uses a {what}, which needs backtracking",
                _at(inner, whole, offset, length),
                "rules allow only linear-time regexes: no backreferences, lookaround, atomic "
                "groups, possessive quantifiers or conditionals",
            )


# ---- windows --------------------------------------------------------------------------------


@register
class NonPositiveWithin(Check):
    code = "E306"
    severity = Severity.ERROR
    description = "`within` that is zero or negative"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        windows = [m.value for m in rule.meta if isinstance(m.value, ast.Duration)]
        windows += [s.within for s in rule.steps if s.within is not None]
        for duration in windows:
            if duration.ms <= 0:
                yield self.diag(
                    f"`within {duration.text}` is not a positive window",
                    duration.span,
                    "give a window longer than zero, e.g. `within 30s`",
                )


@register
class StepWithinLongerThanRule(Check):
    code = "W203"
    severity = Severity.WARNING
    description = "step `within` longer than the rule's `within`"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        limit = rule.within
        if limit is None or limit.ms <= 0:
            return
        for step in rule.steps:
            if step.within is not None and step.within.ms > limit.ms:
                yield self.diag(
                    f"step window `{step.within.text}` is longer than the rule's "
                    f"`within {limit.text}`",
                    step.within.span,
                    "the rule's window bounds first to last step, so the step never waits "
                    "that long",
                )


# ---- contradictions -------------------------------------------------------------------------

_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
LiteralKey = tuple[str, object]


def _key(value: object) -> LiteralKey:
    # The family keeps True apart from 1; 1 and 1.0 are already equal (and hash alike) in
    # Python, and huge integers must not go through float().
    return family(literal_type(value)), value


def _number(key: LiteralKey) -> int | float | None:
    value = key[1]
    if key[0] == "number" and isinstance(value, int | float):
        return value
    return None


@dataclass(slots=True)
class _Bound:
    value: int | float
    strict: bool
    lower: bool
    node: ast.Compare

    def admits(self, v: int | float) -> bool:
        if self.lower:
            return v > self.value or (v == self.value and not self.strict)
        return v < self.value or (v == self.value and not self.strict)


@dataclass(slots=True)
class _Facts:
    """What one `and` has said about one field so far."""

    equal: tuple[LiteralKey, ast.Compare] | None = None
    unequal: dict[LiteralKey, ast.Compare] = field(default_factory=dict)
    within: list[tuple[set[LiteralKey], ast.Compare]] = field(default_factory=list)
    bounds: list[_Bound] = field(default_factory=list)

    def conflict(self, op: str, value: object, node: ast.Compare) -> ast.Compare | None:
        """The earlier comparison that `field op value` contradicts, if any; then record it."""
        found = self._conflict(op, value, node)
        self._record(op, value, node)
        return found

    def _conflict(self, op: str, value: object, node: ast.Compare) -> ast.Compare | None:
        if op == "in":
            keys = value if isinstance(value, set) else set()
            if self.equal is not None and self.equal[0] not in keys:
                return self.equal[1]
            return next((n for other, n in self.within if not keys & other), None)
        key = _key(value)
        number = _number(key)
        if op == "==":
            if self.equal is not None and self.equal[0] != key:
                return self.equal[1]
            if key in self.unequal:
                return self.unequal[key]
            for keys, n in self.within:
                if key not in keys:
                    return n
            if number is not None:
                return next((b.node for b in self.bounds if not b.admits(number)), None)
            return None
        if op == "!=":
            return self.equal[1] if self.equal is not None and self.equal[0] == key else None
        if number is None:
            return None
        bound = _Bound(number, op in ("<", ">"), op in (">", ">="), node)
        equal = None if self.equal is None else _number(self.equal[0])
        if equal is not None and self.equal is not None and not bound.admits(equal):
            return self.equal[1]
        for other in self.bounds:
            if other.lower == bound.lower:
                continue
            low, high = (other, bound) if other.lower else (bound, other)
            if low.value > high.value or (low.value == high.value and (low.strict or high.strict)):
                return other.node
        return None

    def _record(self, op: str, value: object, node: ast.Compare) -> None:
        if op == "in":
            self.within.append((value if isinstance(value, set) else set(), node))
            return
        key = _key(value)
        if op == "==" and self.equal is None:
            self.equal = (key, node)
        elif op == "!=":
            self.unequal.setdefault(key, node)
        elif op in ("<", "<=", ">", ">=") and (number := _number(key)) is not None:
            self.bounds.append(_Bound(number, op in ("<", ">"), op in (">", ">="), node))


@register
class Contradiction(Check):
    code = "E307"
    severity = Severity.ERROR
    description = "contradictory comparisons on one field inside one `and`"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        scope = ctx.scope(rule)
        for index in range(len(rule.steps)):
            for node in scope.step_nodes(index):
                if isinstance(node, ast.And):
                    yield from self._and(scope, node, index)

    def _and(self, scope: RuleScope, node: ast.And, index: int) -> Iterator[Diagnostic]:
        facts: dict[tuple[object, ...], _Facts] = {}
        done: set[tuple[object, ...]] = set()
        for item in scope.conjuncts(node):
            fact = self._fact(scope, item, index)
            if fact is None:
                continue
            key, op, value, compare = fact
            if key in done:
                continue
            earlier = facts.setdefault(key, _Facts()).conflict(op, value, compare)
            if earlier is not None:
                done.add(key)
                yield self.diag(
                    f"`{scope.text(compare)}` contradicts `{scope.text(earlier)}`",
                    compare.span,
                    "both cannot hold at once, so this `and` never matches; did you mean `or`?",
                )

    def _fact(
        self, scope: RuleScope, item: Node, index: int
    ) -> tuple[tuple[object, ...], str, object, ast.Compare] | None:
        """`(field, op, literal value, comparison)` for `path op literal` (either way round)."""
        if not isinstance(item, ast.Compare):
            return None
        op, path, other = item.op, item.left, item.right
        if isinstance(path, ast.Literal) and isinstance(other, ast.Path) and op in _FLIPPED:
            op, path, other = _FLIPPED[op], other, path
        if not isinstance(path, ast.Path):
            return None
        ref = scope.path_ref(path, index)
        if ref is None:
            return None
        key = (ref.alias, ref.scope, ref.path)
        if op in _FLIPPED and isinstance(other, ast.Literal):
            return key, op, other.value, item
        if (
            op == "in"
            and isinstance(other, ast.ListExpr)
            and all(isinstance(i, ast.Literal) for i in other.items)
        ):
            values = {_key(i.value) for i in other.items if isinstance(i, ast.Literal)}
            return key, "in", values, item
        return None
