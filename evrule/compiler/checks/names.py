"""Checks on names: signal kinds, aliases, fields, functions, predicates, map targets and the
fields each event type requires."""

from __future__ import annotations

from collections.abc import Iterable

from evrule.compiler import ast, resolve, signals
from evrule.compiler.checks import Check, register
from evrule.compiler.checks.context import (
    Context,
    RuleScope,
    iter_nodes,
    module_roots,
    prefix_span,
    repeats,
    show,
    suggest,
)
from evrule.compiler.diagnostics import Diagnostic, Severity
from evrule.compiler.functions import FUNCTIONS

# Map targets per event type: single names, and object targets that take sub-keys (`properties`
# alone and `properties.price` are both fine). `context` works for every type.
SIMPLE_TARGETS: dict[str, tuple[str, ...]] = {
    "track": ("event",),
    "identify": ("userId",),
    "page": ("name", "category"),
    "screen": ("name", "category"),
    "group": ("groupId",),
    "alias": ("userId", "previousId"),
}
OBJECT_TARGETS: dict[str, tuple[str, ...]] = {
    "track": ("properties", "context"),
    "identify": ("traits", "context"),
    "page": ("properties", "context"),
    "screen": ("properties", "context"),
    "group": ("traits", "context"),
    "alias": ("context",),
}


def valid_targets(event_type: str) -> list[str]:
    """The map targets an event type accepts, as written in hints (`properties.*`)."""
    simple = SIMPLE_TARGETS.get(event_type, ())
    objects = OBJECT_TARGETS.get(event_type, ())
    return [*simple, *(o for o in objects if o != "context"), *(f"{o}.*" for o in objects)]


def _is_valid_target(event_type: str, target: tuple[str, ...]) -> bool:
    if not target:
        return False
    if target[0] in OBJECT_TARGETS.get(event_type, ()):
        return True
    return len(target) == 1 and target[0] in SIMPLE_TARGETS.get(event_type, ())


@register
class UnknownKind(Check):
    code = "E201"
    severity = Severity.ERROR
    description = "unknown signal kind"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for step in rule.steps:
            if step.kind in signals.KINDS:
                continue
            close = suggest(step.kind, signals.KINDS)
            hint = (
                f"did you mean `{close}`?"
                if close is not None
                else "kinds are " + ", ".join(f"`{k}`" for k in signals.KINDS)
            )
            yield self.diag(f"unknown signal kind `{show(step.kind)}`", step.kind_span, hint)


@register
class BadAliasUse(Check):
    code = "E202"
    severity = Severity.ERROR
    description = "alias not bound, used before it is bound, or belonging to an `unless` step"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        scope = ctx.scope(rule)
        for node, index in scope.paths():
            problem = scope.path_problem(node, index)
            if problem is not None:
                message, hint = problem
                yield self.diag(message, prefix_span(node.span, len(node.root)), hint)


@register
class AliasBoundTwice(Check):
    code = "E203"
    severity = Severity.ERROR
    description = "alias bound twice in one rule"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for step, first in repeats(rule.steps, lambda s: s.alias):
            yield self.diag(
                f"alias `{step.alias}` is bound twice",
                step.alias_span,
                f"first bound on line {first.alias_span.line}; give each step its own alias",
            )


@register
class UnknownFunction(Check):
    code = "E204"
    severity = Severity.ERROR
    description = "unknown function"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        for root in module_roots(module):
            for node in iter_nodes(root):
                if isinstance(node, ast.Call) and node.name not in FUNCTIONS:
                    close = suggest(node.name, FUNCTIONS)
                    hint = (
                        f"did you mean `{close}`?"
                        if close is not None
                        else "functions are " + ", ".join(f"`{f}`" for f in FUNCTIONS)
                    )
                    yield self.diag(f"unknown function `{show(node.name)}`", node.name_span, hint)


@register
class InvalidMapTarget(Check):
    code = "E205"
    severity = Severity.ERROR
    description = "map target not valid for the event type"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for entry in rule.maps:
            if _is_valid_target(rule.event_type, entry.target):
                continue
            targets = ", ".join(f"`{t}`" for t in valid_targets(rule.event_type))
            yield self.diag(
                f"`{show(entry.target_text)}` is not a target of `{rule.event_type}`",
                entry.target_span,
                f"`{rule.event_type}` maps {targets}",
            )


@register
class MissingRequiredField(Check):
    code = "E206"
    severity = Severity.ERROR
    description = "a field the event type requires is missing"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        mapped = {entry.target[0] for entry in rule.maps if entry.target}
        kind = rule.event_type
        if kind == "track" and "event" not in mapped:
            if isinstance(rule.name, ast.Literal) and rule.name.value == "":
                yield self.diag("the event name is empty", rule.name.span)
            elif rule.name is None:
                yield self.diag(
                    "`track` needs an event name",
                    rule.header_span,
                    'write `track "Product Added"` or map `event = ...`',
                )
        elif kind == "identify" and not mapped & {"userId", "traits"}:
            yield self.diag(
                "`identify` needs `userId` or `traits`",
                rule.header_span,
                "add `map userId = ...` or `map traits.email = ...`",
            )
        elif kind == "group" and "groupId" not in mapped:
            yield self.diag("`group` needs `groupId`", rule.header_span, "add `map groupId = ...`")
        elif kind == "alias":
            missing = [f for f in ("userId", "previousId") if f not in mapped]
            if missing:
                listed = " and ".join(f"`{f}`" for f in missing)
                yield self.diag(
                    f"`alias` needs {listed}",
                    rule.header_span,
                    "an alias links `previousId` to `userId`; map both",
                )


@register
class PredicateProblem(Check):
    code = "E209"
    severity = Severity.ERROR
    description = "predicate definition cycle, defined twice, or named like an alias"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        defs = [i for i in module.items if isinstance(i, ast.PredicateDef)]
        first: dict[str, ast.PredicateDef] = {}
        for d in defs:
            if d.name in first:
                yield self.diag(
                    f"predicate `{d.name}` is defined twice",
                    d.name_span,
                    f"first defined on line {first[d.name].name_span.line}; the last one wins",
                )
            else:
                first[d.name] = d
        graph = {name: _references(d.body, module.predicates) for name, d in first.items()}
        for name, d in first.items():
            cycle = _cycle_from(name, graph)
            if cycle is None:
                continue
            if len(cycle) == 1:
                message = f"predicate `{name}` refers to itself"
            else:
                through = ", ".join(f"`{n}`" for n in cycle[1:])
                message = f"predicate `{name}` refers to itself through {through}"
            yield self.diag(message, d.name_span, "a predicate cannot use itself")
        for rule in module.rules:
            for step in rule.steps:
                if step.alias is not None and step.alias in module.predicates:
                    yield self.diag(
                        f"alias `{step.alias}` has the same name as a predicate",
                        step.alias_span,
                        f"a bare `{step.alias}` in a condition means the predicate; rename one",
                    )


def _references(body: ast.Pred, predicates: dict[str, ast.PredicateDef]) -> list[str]:
    names: list[str] = []
    for node in iter_nodes(body):
        if (
            isinstance(node, ast.Truthy)
            and isinstance(node.operand, ast.Path)
            and not node.operand.segments
            and node.operand.root in predicates
        ):
            names.append(node.operand.root)
    return names


def _cycle_from(start: str, graph: dict[str, list[str]]) -> list[str] | None:
    """The shortest chain `start -> ... -> start` as [start, ...], or None."""
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following: list[str] = []
        for name in frontier:
            for ref in graph.get(name, ()):
                if ref == start:
                    chain = [name]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return list(reversed(chain))
                if ref not in seen:
                    seen.add(ref)
                    previous[ref] = name
                    following.append(ref)
        frontier = following
    return None


@register
class DuplicateMapTarget(Check):
    code = "E213"
    severity = Severity.ERROR
    description = "map target given twice"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        for entry, first in repeats(rule.maps, lambda e: e.target):
            yield self.diag(
                f"`{show(entry.target_text)}` is mapped twice",
                entry.target_span,
                f"first mapped on line {first.target_span.line}",
            )


@register
class UnknownField(Check):
    code = "W201"
    severity = Severity.WARNING
    description = "unknown field for the signal kind"

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        scope = ctx.scope(rule)
        for node, index in scope.paths():
            ref = scope.path_ref(node, index)
            found = None if ref is None else scope.lookup(ref, index)
            if ref is None or found is None or found.status != "unknown":
                continue
            kind = scope.kind_of(ref, index)
            text = scope.text(node)
            if ref.scope == "envelope":
                message = f"`{text}` is not a signal field"
            else:
                message = f"`{text}` is not a field of `{kind}`"
            hint = self._hint(scope, node, ref, found, index)
            yield self.diag(message, node.span, hint)

    def _hint(
        self,
        scope: RuleScope,
        path: ast.Path,
        ref: resolve.Ref,
        found: signals.Lookup,
        index: int | None,
    ) -> str | None:
        kind = scope.kind_of(ref, index)
        if kind is None or kind not in signals.KINDS:
            return None  # not reached: the lookup needed a known kind
        # Whether the first name as written is itself unknown (not `c.` in front of a field).
        root_unknown = (
            ref.alias is None
            and ref.scope == "data"
            and ref.path[:1] == (path.root,)
            and signals.lookup(kind, ref.path[:1]).status == "unknown"
        )
        if root_unknown and not path.segments:
            # A bare name: perhaps a misspelt predicate.
            close = suggest(path.root, scope.predicates)
            if close is not None:
                return f"did you mean the predicate `{close}`?"
        if (
            root_unknown
            and path.segments
            and index is not None
            and scope.definition_of(path) is None
        ):
            visible = scope.bound_before[index] | {scope.rule.steps[index].alias or ""}
            close = suggest(path.root, [a for a in visible if a])
            if close is not None:
                return f"did you mean the alias `{close}`?"
        if found.suggestion is not None:
            return f"did you mean `{found.suggestion}`?"
        if ref.scope == "data" and len(ref.path) == 1:
            fields = list(signals.KINDS[kind].fields)
            return f"fields of `{kind}`: " + ", ".join(fields[:12])
        return None


@register
class UnusedPredicate(Check):
    code = "W204"
    severity = Severity.WARNING
    description = "predicate definition never used"

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        if module.file in ctx.partial_files:
            return  # a rule that failed to parse may be the one using it
        used: set[str] = set()
        for rule in module.rules:
            used |= ctx.scope(rule).used_predicates
        reported: set[str] = set()
        for item in module.items:
            if isinstance(item, ast.PredicateDef) and item.name not in used | reported:
                reported.add(item.name)
                yield self.diag(
                    f"predicate `{item.name}` is never used",
                    item.name_span,
                    f"use it in a step condition by name, e.g. `({item.name})`, or delete it",
                )
