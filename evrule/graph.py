"""Rules drawn as automata: what `evrule graph` prints, as Mermaid or Graphviz DOT.

A rule's states are the positions between its positive steps: `start`, one state after each
positive step but the last, and the emitted event. Each positive step is an edge labelled with
its number (as `evrule explain` counts steps), `alias = kind`, its condition one top-level `and`
per line (long parts cut short, correlations with earlier steps always in full) and its window.
An `unless` step is a dashed edge to a `cancelled` state: from the gap it guards, or, for a
trailing `unless`, from a `held back` state that waits for its window before the event is
emitted. The rule's own window is in the title. Output is deterministic.

    >>> print(render_graph({"a.evrule": 'track "X"\\n  id "x"\\n  when c = interaction.click\\n'}))
    flowchart LR
      subgraph r1["x: track #quot;X#quot;"]
        direction LR
        r1_s0(("start"))
        r1_done(["emit track #quot;X#quot;"])
        r1_s0 -->|"1: c = interaction.click"| r1_done
      end
    <BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from evrule.compiler import ast
from evrule.compiler.diagnostics import CompileError
from evrule.compiler.fmt import format_expr, format_pred
from evrule.compiler.lower import rule_ids
from evrule.compiler.resolve import resolve_in_step

__all__ = ["Edge", "Node", "RuleGraph", "render_graph", "rule_graphs", "to_dot", "to_mermaid"]

GraphFormat = Literal["mermaid", "dot"]

_CLIP = 48  # a condition part longer than this is cut short (correlations never are)
_MAX_PARTS = 4  # condition parts shown per edge; the rest are counted


@dataclass(frozen=True, slots=True)
class Node:
    """A state; `shape` is one of start, state, held, emitted, cancelled."""

    id: str
    label: str
    shape: str


@dataclass(frozen=True, slots=True)
class Edge:
    """A step (or the passing of a trailing `unless` window); `label` holds its lines."""

    source: str
    target: str
    label: tuple[str, ...]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class RuleGraph:
    """One rule's automaton; `id` prefixes its node ids so several rules share one drawing."""

    id: str
    rule: str
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def render_graph(
    rules: object, *, rule: str | Collection[str] | None = None, fmt: GraphFormat = "mermaid"
) -> str:
    """Check `rules` (what `evrule.check` takes) and draw them; raise `CompileError` when they
    have errors and `ValueError` for an unknown rule id."""
    from evrule.api import check

    result = check(rules)  # type: ignore[arg-type]
    if result.errors:
        raise CompileError(result.errors, result.sources)
    graphs = rule_graphs(result.modules, rule=rule)
    return to_dot(graphs) if fmt == "dot" else to_mermaid(graphs)


def rule_graphs(
    modules: Sequence[ast.Module], *, rule: str | Collection[str] | None = None
) -> list[RuleGraph]:
    """The automaton of every rule (or of the rules named by `rule`), in rule-set order;
    disabled rules are drawn too, marked so in their title."""
    ids = rule_ids(modules)
    found = [(ids[(m.file, i)], r) for m in modules for i, r in enumerate(m.rules)]
    if rule is not None:
        wanted = {rule} if isinstance(rule, str) else set(rule)
        unknown = sorted(wanted - {rid for rid, _ in found})
        if unknown:
            known = ", ".join(sorted(rid for rid, _ in found)) or "none"
            raise ValueError(f"no rule {unknown[0]!r} in these rules (known: {known})")
        found = [(rid, r) for rid, r in found if rid in wanted]
    return [_graph(r, rid, f"r{n}") for n, (rid, r) in enumerate(found, 1)]


def _graph(rule: ast.Rule, rule_id: str, gid: str) -> RuleGraph:
    positives = [s for s in rule.steps if not s.negated]
    last = rule.steps.index(positives[-1])
    trailing = [s for s in rule.steps[last + 1 :] if s.negated]
    name = f" {format_expr(rule.name, template=True)}" if rule.name is not None else ""
    title = f"{rule_id}: {rule.event_type}{name}"
    if rule.within is not None:
        title += f", within {rule.within.text}"
    if not rule.enabled:
        title += ", disabled"

    states = [f"{gid}_s{i}" for i in range(len(positives))]
    done = f"{gid}_done"
    held = f"{gid}_held"
    cancel = f"{gid}_cancel"
    states.append(held if trailing else done)
    nodes = [Node(states[0], "start", "start")]
    for i, s in enumerate(positives[:-1], 1):
        label = f"after {s.alias}" if s.alias else f"after step {rule.steps.index(s) + 1}"
        nodes.append(Node(states[i], label, "state"))
    if trailing:
        nodes.append(Node(held, "held back", "held"))
    nodes.append(Node(done, f"emit {rule.event_type}{name}", "emitted"))
    if any(s.negated for s in rule.steps):
        nodes.append(Node(cancel, "cancelled", "cancelled"))

    edges: list[Edge] = []
    earlier: set[str] = set()
    pos = 0
    for k, step in enumerate(rule.steps, 1):
        label = _step_label(k, step, frozenset(earlier))
        if step.negated:
            edges.append(Edge(states[pos], cancel, label, dashed=True))
            continue
        edges.append(Edge(states[pos], states[pos + 1], label))
        pos += 1
        if step.alias:
            earlier.add(step.alias)
    if trailing:
        longest = max((s.within for s in trailing if s.within), key=lambda d: d.ms, default=None)
        wait = f"after {longest.text}" if longest is not None else "at the end of the stream"
        edges.append(Edge(held, done, (wait,)))
    return RuleGraph(gid, rule_id, title, tuple(nodes), tuple(edges))


def _step_label(k: int, step: ast.Step, earlier: frozenset[str]) -> tuple[str, ...]:
    alias = f"{step.alias} = " if step.alias else ""
    lines = [f"{k}: {'unless ' if step.negated else ''}{alias}{step.kind}"]
    # One line per operand of the top-level `and` (or `or`), parenthesised as fmt would.
    joiner, parts, nested = "and", [step.cond] if step.cond is not None else [], ()
    if isinstance(step.cond, ast.And):
        parts, nested = list(step.cond.items), (ast.And, ast.Or)
    elif isinstance(step.cond, ast.Or):
        joiner, parts, nested = "or", list(step.cond.items), (ast.Or,)
    texts = []
    for p in parts:
        text = format_pred(p)
        if isinstance(p, nested):
            text = f"({text})"
        if len(text) > _CLIP and not _correlates(p, earlier, step.alias):
            text = text[: _CLIP - 3] + "..."
        texts.append(text)
    if len(texts) > _MAX_PARTS:
        more = len(texts) - (_MAX_PARTS - 1)
        texts = [*texts[: _MAX_PARTS - 1], f"{more} more"]
    lines += [t if i == 0 else f"{joiner} {t}" for i, t in enumerate(texts)]
    if step.within is not None:
        lines.append(f"within {step.within.text}")
    return tuple(lines)


def _correlates(node: object, earlier: frozenset[str], own: str | None) -> bool:
    """Whether a condition reads the signal of an earlier step (`requestId == req.requestId`)."""
    if isinstance(node, ast.Path):
        return resolve_in_step(node, earlier, own).alias is not None
    children: Iterable[object] = ()
    if isinstance(node, ast.Compare):
        children = (node.left, node.right)
    elif isinstance(node, ast.Matches):
        children = (node.left,)
    elif isinstance(node, ast.Exists | ast.Truthy | ast.Not):
        children = (node.operand,)
    elif isinstance(node, ast.And | ast.Or | ast.ListExpr | ast.Coalesce):
        children = node.items
    elif isinstance(node, ast.Call):
        children = node.args
    elif isinstance(node, ast.Template):
        children = [p for p in node.parts if not isinstance(p, str)]
    return any(_correlates(c, earlier, own) for c in children)


# ---- Mermaid ------------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "start": ("((", "))"),
    "state": ("(", ")"),
    "held": ("{{", "}}"),
    "emitted": ("([", "])"),
    "cancelled": ("[[", "]]"),
}

# Inside a quoted Mermaid label `"` would end it, `#` starts an entity code, `<`, `>` and `&`
# read as HTML, a leading backtick as Markdown and `|` as the end of an edge label.
_MERMAID_ESCAPES = str.maketrans(
    {
        "#": "#35;",
        '"': "#quot;",
        "<": "#lt;",
        ">": "#gt;",
        "&": "#amp;",
        "`": "#96;",
        "|": "#124;",
    }
)


def _mermaid_text(lines: Iterable[str]) -> str:
    return '"' + "<br/>".join(line.translate(_MERMAID_ESCAPES) for line in lines) + '"'


def to_mermaid(graphs: Iterable[RuleGraph]) -> str:
    """A Mermaid `flowchart LR` with one subgraph per rule."""
    out = ["flowchart LR"]
    for g in graphs:
        out.append(f"  subgraph {g.id}[{_mermaid_text([g.title])}]")
        out.append("    direction LR")
        for n in g.nodes:
            left, right = _MERMAID_SHAPES[n.shape]
            out.append(f"    {n.id}{left}{_mermaid_text([n.label])}{right}")
        for e in g.edges:
            arrow = "-.->" if e.dashed else "-->"
            out.append(f"    {e.source} {arrow}|{_mermaid_text(e.label)}| {e.target}")
        out.append("  end")
    return "\n".join(out) + "\n"


# ---- Graphviz DOT -------------------------------------------------------------------------

_DOT_SHAPES = {
    "start": "shape=circle",
    "state": "",
    "held": "shape=hexagon",
    "emitted": "peripheries=2",
    "cancelled": 'style="rounded,dashed"',
}


def _dot_text(lines: Iterable[str]) -> str:
    # `\n` between lines centres them; a backslash of the rule's own text must stay one.
    return '"' + "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in lines) + '"'


def to_dot(graphs: Iterable[RuleGraph]) -> str:
    """A Graphviz `digraph` with one cluster per rule."""
    out = [
        "digraph evrule {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica"];',
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for g in graphs:
        out.append(f"  subgraph cluster_{g.id} {{")
        out.append(f"    label={_dot_text([g.title])};")
        for n in g.nodes:
            extra = f", {_DOT_SHAPES[n.shape]}" if _DOT_SHAPES[n.shape] else ""
            out.append(f"    {n.id} [label={_dot_text([n.label])}{extra}];")
        for e in g.edges:
            style = ", style=dashed" if e.dashed else ""
            out.append(f"    {e.source} -> {e.target} [label={_dot_text(e.label)}{style}];")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
