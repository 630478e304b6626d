"""Checks on the shape of a rule that the grammar leaves open: the order of its steps, header
clauses, the name string, and the rule id."""

from __future__ import annotations

import re
from collections.abc import Iterable

from evrule.compiler import ast
from evrule.compiler.checks import Check, register
from evrule.compiler.checks.context import (
    Context,
    clause_value_span,
    keyword_span,
    repeats,
    show,
    word_span,
)
from evrule.compiler.diagnostics import Diagnostic, Severity

RULE_ID_RE = re.compile(r"[A-Za-z0-9_.:/-]+")
"""What a rule id may be made of: ids end up in file names, metrics and URLs."""

NAMELESS_HINTS = {
    "identify": "an identify call has no name; map `userId` or `traits` instead",
    "group": "a group call has no name; map `groupId` and `traits` instead",
    "alias": "an alias call has no name; map `userId` and `previousId` instead",
}


@register
class DuplicateHeaderClause(Check):
    code = "E208"
    severity = Severity.ERROR
    description = "header clause given twice"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for meta, first in repeats(rule.meta, lambda m: m.key):
            yield self.diag(
                f"`{meta.key}` is given twice",
                keyword_span(meta),
                f"first given on line {first.span.line}; keep one",
            )


@register
class StepOrder(Check):
    code = "E210"
    severity = Severity.ERROR
    description = "steps out of order: the first step must be the only `when`"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for index, step in enumerate(rule.steps):
            if index == 0 and step.word == "then":
                yield self.diag(
                    "a rule starts with `when`, not `then`",
                    word_span(step),
                    "write `when` for the first step",
                )
            elif index == 0 and step.word == "unless":
                yield self.diag(
                    "`unless` cannot be the first step",
                    word_span(step),
                    "start with `when`; an `unless` rules out signals after a positive step",
                )
            elif index > 0 and step.word == "when":
                yield self.diag(
                    "a rule has only one `when`",
                    word_span(step),
                    "later steps start with `then` (or `unless`)",
                )


@register
class NameOnNamelessType(Check):
    code = "E211"
    severity = Severity.ERROR
    description = "name string on `identify`, `group` or `alias`"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        if rule.name is not None and rule.event_type in NAMELESS_HINTS:
            yield self.diag(
                f"`{rule.event_type}` takes no name",
                rule.name.span,
                NAMELESS_HINTS[rule.event_type],
            )


@register
class TrailingUnlessWithin(Check):
    code = "E212"
    severity = Severity.ERROR
    description = "trailing `unless` without `within`"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        last_positive = max(
            (i for i, s in enumerate(rule.steps) if not s.negated),
            default=-1,
        )
        for step in rule.steps[last_positive + 1 :]:
            if step.within is None:
                yield self.diag(
                    "a trailing `unless` needs `within`",
                    word_span(step),
                    "say how long nothing like it may happen, e.g. `unless ... within 30s`",
                )


@register
class WithinOnFirstStep(Check):
    code = "W205"
    severity = Severity.WARNING
    description = "`within` on the first step means nothing"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        # A step window counts from the previous positive step; the first step has none.
        first = rule.steps[0] if rule.steps else None
        if first is not None and not first.negated and first.within is not None:
            yield self.diag(
                "`within` on the first step has no earlier step to count from",
                first.within.span,
                "bound the whole match with a rule-level `within` instead, or remove it",
            )


@register
class NameAndMappedName(Check):
    code = "W206"
    severity = Severity.WARNING
    description = "a name string and a mapped name: the map wins"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        target = {"track": "event", "page": "name", "screen": "name"}.get(rule.event_type)
        if rule.name is None or target is None:
            return
        for entry in rule.maps:
            if entry.target == (target,):
                yield self.diag(
                    f"`map {target}` replaces the name given after `{rule.event_type}`",
                    entry.target_span,
                    "keep one of them: the name string, or the mapped value",
                )


@register
class InvalidRuleId(Check):
    code = "E214"
    severity = Severity.ERROR
    description = "invalid rule id"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        module = ctx.module_of(rule)
        for meta in rule.meta:
            if meta.key != "id" or not isinstance(meta.value, str):
                continue
            if RULE_ID_RE.fullmatch(meta.value):
                continue
            if meta.value:
                message = f"invalid rule id `{show(meta.value)}`"
            else:
                message = "the rule id is empty"
            yield self.diag(
                message,
                clause_value_span(module, meta),
                "ids use letters, digits and `_ . : / -`, e.g. `cart.add`",
            )
