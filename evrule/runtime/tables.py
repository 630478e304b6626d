"""The `tables` backend's interpreter: a JSON plan becomes a runnable `Program`.

Each IR node turns into a Python closure once, at load time, so running a rule costs closure
calls and no tree walking. Semantics live in `evrule.runtime.core` (shared with generated
modules): this file only wires IR nodes to those functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from evrule.compiler.ir import IRNode, Plan, RuleIR
from evrule.runtime import core

Fn = Callable[[core.Signal, list[core.Signal]], Any]


class _Builder:
    def __init__(self, plan: Plan):
        self.regexes = [core.compile_regex(p, f) for p, f in plan.regexes]

    def expr(self, node: IRNode) -> Fn:
        tag = node[0]
        if tag == "lit":
            value = node[1]
            return lambda s, b: value
        if tag == "get":
            src, path = node[1], tuple(node[2])
            get = core.get
            if src == -1:
                fast = _getter(path)
                if fast is not None:
                    return fast
                return lambda s, b: get(s, path)
            return lambda s, b: get(b[src], path)
        if tag == "list":
            items = [self.expr(i) for i in node[1]]
            return lambda s, b: [f(s, b) for f in items]
        if tag == "tpl":
            parts = [(lambda s, b, t=p: t) if isinstance(p, str) else self.expr(p) for p in node[1]]
            return lambda s, b: core.template(f(s, b) for f in parts)
        if tag == "call":
            fn = core.FUNCTIONS[node[1]]
            args = [self.expr(a) for a in node[2]]
            return lambda s, b: fn(*[a(s, b) for a in args])
        if tag == "if":
            cond, then, other = self.pred(node[1]), self.expr(node[2]), self.expr(node[3])
            return lambda s, b: then(s, b) if cond(s, b) else other(s, b)
        if tag == "coalesce":
            items = [self.expr(i) for i in node[1]]

            def first(s: core.Signal, b: list[core.Signal]) -> Any:
                for f in items:
                    v = f(s, b)
                    if v is not None:
                        return v
                return None

            return first
        return self.pred(node)

    def pred(self, node: IRNode) -> Callable[[core.Signal, list[core.Signal]], bool]:
        tag = node[0]
        if tag == "cmp":
            special = _literal_test(node[1], node[3])
            if special is not None:
                operand = self.expr(node[2])
                return lambda s, b: special(operand(s, b))
            op = core.OPS[node[1]]
            left, right = self.expr(node[2]), self.expr(node[3])
            return lambda s, b: op(left(s, b), right(s, b))
        if tag == "re":
            rx: re.Pattern[str] = self.regexes[node[1]]
            operand = self.expr(node[2])
            return lambda s, b: core.search(rx, operand(s, b))
        if tag == "exists":
            operand = self.expr(node[1])
            return lambda s, b: operand(s, b) is not None
        if tag == "truthy":
            operand = self.expr(node[1])
            return lambda s, b: core.truthy(operand(s, b))
        if tag == "not":
            inner = self.pred(node[1])
            return lambda s, b: not inner(s, b)
        if tag == "and":
            items = [self.pred(i) for i in node[1]]
            return lambda s, b: all(f(s, b) for f in items)
        if tag == "or":
            items = [self.pred(i) for i in node[1]]
            return lambda s, b: any(f(s, b) for f in items)
        value = self.expr(node)
        return lambda s, b: core.truthy(value(s, b))

    def atom(self, node: IRNode) -> Callable[[core.Signal], bool]:
        fn = self.pred(node)
        empty: list[core.Signal] = []
        return lambda s: fn(s, empty)

    def rule(self, r: RuleIR) -> core.RuleSpec:
        steps = [
            core.StepSpec(
                s.kind,
                s.negated,
                s.atoms,
                self.pred(s.corr) if s.corr is not None else None,
                s.within,
                s.alias,
                s.line,
                s.index,
            )
            for s in r.steps
        ]
        entries = [(m.target, self.expr(m.value), m.line) for m in r.maps]

        def build(bound: list[core.Signal], warn: Callable[[str, int], None]) -> dict[str, Any]:
            fields: dict[str, Any] = {}
            for target, fn, line in entries:
                try:
                    value = fn(bound[-1], bound)
                except Exception as exc:
                    value = core.failed(exc, warn, line)
                core.set_path(fields, target, value)
            return fields

        return core.RuleSpec(
            r.id, r.hash, r.file, r.line, r.event_type, steps, r.within, r.reset, build
        )


def _getter(path: tuple[Any, ...]) -> Fn | None:
    """`core.get(s, path)` for a signal and a short path of keys, without the loop."""
    if not path or len(path) > 3 or not all(type(k) is str for k in path):
        return None
    if len(path) == 1:
        (k1,) = path
        return lambda s, b: s.get(k1)
    if len(path) == 2:
        k1, k2 = path
        return lambda s, b: v.get(k2) if type(v := s.get(k1)) is dict else None
    k1, k2, k3 = path
    return lambda s, b: (
        w.get(k3)
        if type(w := (v.get(k2) if type(v := s.get(k1)) is dict else None)) is dict
        else None
    )


def _literal_test(op: str, right: IRNode) -> Callable[[Any], bool] | None:
    """A comparison against a string constant, as a one-argument test with the meaning of
    `core.OPS[op](x, constant)`."""
    if right[0] != "lit" or type(right[1]) is not str:
        return None
    lit: str = right[1]
    if op == "==":
        return lambda x: x == lit  # only a string equals a string
    if op == "!=":
        return lambda x: x != lit
    if op in ("==~", "!=~"):
        folded = lit.casefold()
        if op == "==~":
            return lambda x: type(x) is str and x.casefold() == folded
        return lambda x: not (type(x) is str and x.casefold() == folded)
    if op == "glob":
        inner = lit.strip("*")
        if any(c in inner for c in "*?[") or lit.startswith("**") or lit.endswith("**"):
            return None
        lead, trail = lit.startswith("*"), lit.endswith("*")
        if lit == "*":
            return lambda x: type(x) is str
        if lead and trail:
            return lambda x: type(x) is str and inner in x
        if lead:
            return lambda x: type(x) is str and x.endswith(inner)
        if trail:
            return lambda x: type(x) is str and x.startswith(inner)
        return lambda x: x == inner
    return None


def load_plan(plan: Plan) -> core.Program:
    """Build the runnable program of a plan."""
    b = _Builder(plan)
    return core.Program([b.atom(a) for a in plan.atoms], [b.rule(r) for r in plan.rules])
