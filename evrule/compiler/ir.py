"""The automaton IR: what checked rules lower to and both backends start from.

A `Plan` is plain JSON data (docs/ir.md describes every field), so the `tables` backend can write
it out as is and an interpreter can run it anywhere. Expressions are tagged lists:

    ["lit", v]                       a constant
    ["get", src, [k, ...]]           a field: src -1 is the signal being tested, i >= 0 the signal
                                     bound by positive step i; keys start at the envelope
                                     ("data", "timestamp", "context", ...)
    ["list", [e, ...]]               a list built from expressions
    ["tpl", [str | e, ...]]          a template string
    ["call", name, [e, ...]]         a function (evrule.compiler.functions)
    ["if", p, e1, e2]                a conditional (the condition is a predicate)
    ["coalesce", [e, ...]]           the first non-null value
    ["cmp", op, e1, e2]              a comparison (ops of evrule.compiler.ast.COMPARE_OPS)
    ["re", i, e]                     regexes[i] searched in e
    ["exists", e] ["truthy", e]      presence, truthiness
    ["not", p] ["and", [p, ...]] ["or", [p, ...]]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PLAN_FORMAT = "evrule-plan"
PLAN_VERSION = 1

IRNode = list[Any]


@dataclass(frozen=True, slots=True)
class StepIR:
    """One step: its kind, the shared atoms it needs, its correlation and window."""

    kind: str
    negated: bool
    alias: str | None
    atoms: tuple[int, ...]
    corr: IRNode | None
    within: float | None
    line: int
    index: tuple[tuple[str | int, ...], str | int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "negated": self.negated,
            "alias": self.alias,
            "atoms": list(self.atoms),
            "corr": self.corr,
            "within": self.within,
            "line": self.line,
            "index": [list(self.index[0]), self.index[1]] if self.index else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StepIR:
        idx = d.get("index")
        return cls(
            d["kind"],
            bool(d["negated"]),
            d.get("alias"),
            tuple(d["atoms"]),
            d.get("corr"),
            d.get("within"),
            int(d["line"]),
            (tuple(idx[0]), idx[1]) if idx else None,
        )


@dataclass(frozen=True, slots=True)
class MapIR:
    target: tuple[str, ...]
    value: IRNode
    line: int

    def to_json(self) -> dict[str, Any]:
        return {"target": list(self.target), "value": self.value, "line": self.line}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MapIR:
        return cls(tuple(d["target"]), d["value"], int(d["line"]))


@dataclass(frozen=True, slots=True)
class RuleIR:
    """One rule's automaton: states are the positive steps; `unless` steps guard the gaps."""

    id: str
    hash: str
    file: str
    line: int
    event_type: str
    within: float | None
    reset: bool
    steps: tuple[StepIR, ...]
    maps: tuple[MapIR, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hash": self.hash,
            "file": self.file,
            "line": self.line,
            "type": self.event_type,
            "within": self.within,
            "reset": self.reset,
            "steps": [s.to_json() for s in self.steps],
            "maps": [m.to_json() for m in self.maps],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RuleIR:
        return cls(
            d["id"],
            d["hash"],
            d["file"],
            int(d["line"]),
            d["type"],
            d.get("within"),
            bool(d.get("reset")),
            tuple(StepIR.from_json(s) for s in d["steps"]),
            tuple(MapIR.from_json(m) for m in d["maps"]),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole rule set: shared atom predicates, regexes, and one automaton per rule."""

    atoms: tuple[IRNode, ...]
    regexes: tuple[tuple[str, str], ...]
    rules: tuple[RuleIR, ...]
    evrule_version: str = field(default="0.0.0")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "evrule": self.evrule_version,
            "atoms": list(self.atoms),
            "regexes": [list(r) for r in self.regexes],
            "rules": [r.to_json() for r in self.rules],
        }

    def dumps(self) -> str:
        """Deterministic JSON text of the plan, one atom, step or map entry per line so that a
        change to one rule shows as a small diff."""

        def one(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

        def block(items: list[str], indent: str) -> str:
            if not items:
                return "[]"
            return "[\n" + ",\n".join(indent + "  " + i for i in items) + "\n" + indent + "]"

        rules = []
        for r in self.to_json()["rules"]:
            head = ", ".join(
                f"{one(k)}: {one(v)}" for k, v in r.items() if k not in ("steps", "maps")
            )
            steps = block([one(s) for s in r["steps"]], "    ")
            maps = block([one(m) for m in r["maps"]], "    ")
            rules.append(f'{{{head},\n    "steps": {steps},\n    "maps": {maps}}}')
        return (
            "{\n"
            f'  "format": {one(PLAN_FORMAT)},\n'
            f'  "version": {PLAN_VERSION},\n'
            f'  "evrule": {one(self.evrule_version)},\n'
            f'  "atoms": {block([one(a) for a in self.atoms], "  ")},\n'
            f'  "regexes": {block([one(list(r)) for r in self.regexes], "  ")},\n'
            f'  "rules": {block(rules, "  ")}\n'
            "}\n"
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        if d.get("format") != PLAN_FORMAT:
            raise ValueError('not an evrule plan (missing "format": "evrule-plan")')
        if d.get("version") != PLAN_VERSION:
            raise ValueError(
                f"plan version {d.get('version')!r} is not supported (this evrule reads "
                f"version {PLAN_VERSION}); compile the rules again"
            )
        return cls(
            tuple(d["atoms"]),
            tuple((p, f) for p, f in d["regexes"]),
            tuple(RuleIR.from_json(r) for r in d["rules"]),
            d.get("evrule", "0.0.0"),
        )
