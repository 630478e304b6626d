"""Checks across files: what only the whole rule set can show.

Both collect while the rules go by (`check_rule`) and report in `finalize`, pointing at the
later occurrence and naming where the first one is. "Later" is the order of the modules given to
`checker.check` (`check_paths` sorts files, so it is stable).
"""

from __future__ import annotations

from collections.abc import Iterable

from evrule.compiler import ast
from evrule.compiler.checks import Check, register
from evrule.compiler.checks.context import Context, clause_value_span, show, where
from evrule.compiler.diagnostics import Diagnostic, Severity, Span

NAMED_TYPES = ("track", "page", "screen")
"""Event types whose name identifies the event (the others take no name)."""


@register
class DuplicateRuleId(Check):
    code = "E207"
    severity = Severity.ERROR
    description = "rule id used twice across all files"

    def __init__(self) -> None:
        self.seen: dict[str, list[Span]] = {}

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        module = ctx.module_of(rule)
        # Only the first `id` clause names the rule; a second one is E208.
        meta = next((m for m in rule.meta if m.key == "id"), None)
        if meta is not None and isinstance(meta.value, str) and meta.value:
            self.seen.setdefault(meta.value, []).append(clause_value_span(module, meta))
        return ()

    def finalize(self, ctx: Context) -> Iterable[Diagnostic]:
        for rule_id, spans in self.seen.items():
            first, *later = spans
            for span in later:
                yield self.diag(
                    f"duplicate rule id `{show(rule_id)}`",
                    span,
                    f"first used at {where(first)}; rule ids must be unique across all files",
                )


@register
class DuplicateEventName(Check):
    code = "W202"
    severity = Severity.WARNING
    description = "two enabled rules emit the same event type and name"

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[tuple[ast.Rule, Span]]] = {}

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        # A disabled rule is often the old version of an enabled one: not worth a warning.
        if rule.event_type in NAMED_TYPES and rule.enabled:
            name = _literal_name(rule)
            if name:
                self.seen.setdefault((rule.event_type, name), []).append((rule, rule.header_span))
        return ()

    def finalize(self, ctx: Context) -> Iterable[Diagnostic]:
        for (event_type, name), found in self.seen.items():
            (first_rule, first_span), *later = found
            for _, span in later:
                yield self.diag(
                    f'`{event_type} "{show(name)}"` is also emitted by another rule',
                    span,
                    f"first emitted by `{show(first_rule.display_name)}` at {where(first_span)}; "
                    "give the events distinct names or merge the rules",
                )


def _literal_name(rule: ast.Rule) -> str | None:
    """The event name when it is a plain string: the name after the type, else `map event`."""
    if isinstance(rule.name, ast.Literal) and isinstance(rule.name.value, str):
        return rule.name.value
    if rule.name is None and rule.event_type == "track":
        for entry in rule.maps:
            if entry.target == ("event",) and isinstance(entry.value, ast.Literal):
                value = entry.value.value
                return value if isinstance(value, str) else None
    return None
