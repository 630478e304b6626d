"""AST to IR: one automaton per rule, with whole-rule-set optimisation.

Each step's condition is split at its top-level `and`: the parts that read only the signal being
tested become *atoms*, interned across the whole rule set so that an identical predicate is
evaluated once per signal however many rules share it; the parts that read earlier steps'
signals form the step's *correlation*. An `==` atom against a constant also becomes the step's
*index*, which lets the engine find the rules a signal can start with one dict lookup.

Lowering expects modules the checker has passed (no errors); it does not re-check them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import PurePath

from evrule import __version__
from evrule.compiler import ast
from evrule.compiler.ir import IRNode, MapIR, Plan, RuleIR, StepIR
from evrule.compiler.resolve import Ref, resolve_in_map, resolve_in_step

_NAME_TARGET = {"track": "event", "page": "name", "screen": "name"}


def rule_ids(modules: Sequence[ast.Module]) -> dict[tuple[str, int], str]:
    """The id of every rule, keyed by (file, index in file).

    A rule without an `id` clause gets `<file stem>.<type>.<name>`, made unique with `-2`, `-3`
    in source order, so that ids stay stable when unrelated lines move.
    """
    taken = {r.rule_id for m in modules for r in m.rules if r.rule_id}
    out: dict[tuple[str, int], str] = {}
    for m in modules:
        stem = PurePath(m.file).stem or "rules"
        for i, rule in enumerate(m.rules):
            if rule.rule_id:
                out[(m.file, i)] = rule.rule_id
                continue
            name = rule.name.value if isinstance(rule.name, ast.Literal) else ""
            slug = re.sub(r"[^A-Za-z0-9]+", "_", str(name)).strip("_").lower()
            base = f"{stem}.{rule.event_type}" + (f".{slug}" if slug else "")
            candidate, n = base, 1
            while candidate in taken:
                n += 1
                candidate = f"{base}-{n}"
            taken.add(candidate)
            out[(m.file, i)] = candidate
    return out


class _Lowerer:
    def __init__(self) -> None:
        self.atoms: list[IRNode] = []
        self.atom_ids: dict[str, int] = {}
        self.regexes: list[tuple[str, str]] = []
        self.regex_ids: dict[tuple[str, str], int] = {}

    def regex(self, pattern: str, flags: str) -> int:
        key = (pattern, "".join(sorted(set(flags))))
        if key not in self.regex_ids:
            self.regex_ids[key] = len(self.regexes)
            self.regexes.append(key)
        return self.regex_ids[key]

    def atom(self, node: IRNode) -> int:
        key = json.dumps(node, sort_keys=True)
        if key not in self.atom_ids:
            self.atom_ids[key] = len(self.atoms)
            self.atoms.append(node)
        return self.atom_ids[key]

    # -- expressions --
    def expr(self, e: ast.Expr | ast.Pred, scope: _Scope) -> IRNode:
        if isinstance(e, ast.Literal):
            return ["lit", e.value]
        if isinstance(e, ast.ListExpr):
            items = [self.expr(i, scope) for i in e.items]
            if all(i[0] == "lit" for i in items):
                return ["lit", [i[1] for i in items]]
            return ["list", items]
        if isinstance(e, ast.Path):
            ref = scope.resolve(e)
            top = ["data", *ref.path] if ref.scope == "data" else list(ref.path)
            return ["get", scope.source(ref), top]
        if isinstance(e, ast.Template):
            return ["tpl", [p if isinstance(p, str) else self.expr(p, scope) for p in e.parts]]
        if isinstance(e, ast.Call):
            if e.name == "if":
                cond, a, b = e.args
                return ["if", self.pred(cond, scope), self.expr(a, scope), self.expr(b, scope)]
            return ["call", e.name, [self.expr(a, scope) for a in e.args]]
        if isinstance(e, ast.Coalesce):
            return ["coalesce", [self.expr(i, scope) for i in e.items]]
        # A predicate used where a value is expected (a function argument) yields a boolean.
        return self.pred(e, scope)

    def pred(self, p: ast.Pred | ast.Expr, scope: _Scope) -> IRNode:
        if isinstance(p, ast.Truthy):
            name = scope.predicate_ref(p)
            if name is not None:
                return self.pred(scope.predicates[name].body, scope.inside(name))
            return ["truthy", self.expr(p.operand, scope)]
        if isinstance(p, ast.Compare):
            left, right = self.expr(p.left, scope), self.expr(p.right, scope)
            return ["cmp", p.op, left, right]
        if isinstance(p, ast.Matches):
            return ["re", self.regex(p.pattern, p.flags), self.expr(p.left, scope)]
        if isinstance(p, ast.Exists):
            return ["exists", self.expr(p.operand, scope)]
        if isinstance(p, ast.Not):
            return ["not", self.pred(p.operand, scope)]
        if isinstance(p, ast.And):
            return ["and", [self.pred(i, scope) for i in p.items]]
        if isinstance(p, ast.Or):
            return ["or", [self.pred(i, scope) for i in p.items]]
        return ["truthy", self.expr(p, scope)]

    # -- steps --
    def step(self, step: ast.Step, scope: _Scope, entry: bool) -> StepIR:
        conjuncts: list[IRNode] = []
        if step.cond is not None:
            flat = self.pred(step.cond, scope)
            conjuncts = flat[1] if flat[0] == "and" else [flat]
        atoms: list[int] = []
        corr: list[IRNode] = []
        index = None
        for c in conjuncts:
            if _reads_bound(c):
                corr.append(c)
                continue
            atoms.append(self.atom(c))
            if index is None and entry:
                index = _index_of(c)
        corr_node = None if not corr else corr[0] if len(corr) == 1 else ["and", corr]
        return StepIR(
            step.kind,
            step.negated,
            step.alias,
            tuple(atoms),
            corr_node,
            step.within.ms if step.within else None,
            step.span.line,
            index,
        )


class _Scope:
    """Which aliases a path may name at this point of a rule, and where their signals sit."""

    def __init__(
        self,
        positions: dict[str, int],
        own: str | None,
        predicates: dict[str, ast.PredicateDef],
        in_map: bool = False,
        seen: frozenset[str] = frozenset(),
    ):
        self.positions = positions
        self.own = own
        self.predicates = predicates
        self.in_map = in_map
        self.seen = seen

    def resolve(self, path: ast.Path) -> Ref:
        if self.in_map:
            ref = resolve_in_map(path, set(self.positions))
            if ref is None:  # the checker rejects this; keep lowering total anyway
                return Ref(None, "data", path.parts)
            return ref
        return resolve_in_step(path, set(self.positions), self.own)

    def source(self, ref: Ref) -> int:
        return -1 if ref.alias is None else self.positions[ref.alias]

    def predicate_ref(self, p: ast.Truthy) -> str | None:
        if (
            isinstance(p.operand, ast.Path)
            and not p.operand.segments
            and p.operand.root in self.predicates
            and p.operand.root not in self.positions
            and p.operand.root not in self.seen
        ):
            return p.operand.root
        return None

    def inside(self, name: str) -> _Scope:
        # A predicate definition reads only the signal being tested.
        return _Scope({}, None, self.predicates, False, self.seen | {name})


def _reads_bound(node: object) -> bool:
    if isinstance(node, list):
        if node and node[0] == "get" and node[1] != -1:
            return True
        return any(_reads_bound(x) for x in node)
    return False


def _index_of(node: IRNode) -> tuple[tuple[str | int, ...], str | int] | None:
    if node[0] != "cmp" or node[1] != "==":
        return None
    a, b = node[2], node[3]
    if a[0] == "lit":
        a, b = b, a
    if a[0] == "get" and a[1] == -1 and b[0] == "lit":
        value = b[1]
        if type(value) is str or type(value) is int:
            return tuple(a[2]), value
    return None


def _spell(lw: _Lowerer, node: object) -> object:
    """`node` with regex table indexes replaced by the patterns themselves."""
    if isinstance(node, list):
        if node and node[0] == "re":
            return ["re", list(lw.regexes[node[1]]), _spell(lw, node[2])]
        return [_spell(lw, x) for x in node]
    return node


def lower(modules: Sequence[ast.Module]) -> Plan:
    """Lower checked modules to one plan; disabled rules (`enabled false`) are left out."""
    lw = _Lowerer()
    ids = rule_ids(modules)
    rules: list[RuleIR] = []
    for m in modules:
        predicates = m.predicates
        for i, rule in enumerate(m.rules):
            if not rule.enabled:
                continue
            rules.append(_lower_rule(lw, rule, ids[(m.file, i)], m.file, predicates))
    return Plan(tuple(lw.atoms), tuple(lw.regexes), tuple(rules), __version__)


def _lower_rule(
    lw: _Lowerer, rule: ast.Rule, rule_id: str, file: str, predicates: dict[str, ast.PredicateDef]
) -> RuleIR:
    positions: dict[str, int] = {}
    steps: list[StepIR] = []
    n_pos = 0
    for step in rule.steps:
        scope = _Scope(dict(positions), step.alias, predicates)
        steps.append(lw.step(step, scope, entry=not steps))
        if not step.negated:
            if step.alias:
                positions[step.alias] = n_pos
            n_pos += 1
    map_scope = _Scope(positions, None, predicates, in_map=True)
    maps: list[MapIR] = []
    target = _NAME_TARGET.get(rule.event_type)
    if rule.name is not None and target is not None:
        maps.append(MapIR((target,), lw.expr(rule.name, map_scope), rule.header_span.line))
    for entry in rule.maps:
        maps.append(MapIR(entry.target, lw.expr(entry.value, map_scope), entry.span.line))
    # The content hash covers what the rule does (atoms spelled out, not their shared ids), so
    # that editing one rule changes only its own messageIds.
    body = {
        "type": rule.event_type,
        "within": rule.within.ms if rule.within else None,
        "reset": rule.reset,
        "steps": [
            {
                **s.to_json(),
                "atoms": [_spell(lw, lw.atoms[a]) for a in s.atoms],
                "corr": _spell(lw, s.corr),
                "line": None,
            }
            for s in steps
        ],
        "maps": [{**m.to_json(), "value": _spell(lw, m.value), "line": None} for m in maps],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return RuleIR(
        rule_id,
        digest,
        file,
        rule.span.line,
        rule.event_type,
        rule.within.ms if rule.within else None,
        rule.reset,
        tuple(steps),
        tuple(maps),
    )
