"""What a check can ask about the rules being checked.

`Context` holds every module of one checker run. `Context.scope(rule)` gives the rule's
`RuleScope`: its module and predicate definitions, which step each alias binds and of which
kind, what a path inside a step or a map refers to (`evrule.compiler.resolve`), the JSON types
of a field (`evrule.compiler.signals`) and of a whole expression. Checks only read from it.

Example::

    >>> from evrule.compiler.parser import parse
    >>> m = parse('track "X"\\n  when c = interaction.click(target.id == "buy")\\n', "a").module
    >>> scope = Context((m,)).scope(m.rules[0])
    >>> compare = m.rules[0].steps[0].cond
    >>> scope.type_of(compare.left, 0)
    ('string',)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from evrule.compiler import ast, resolve, signals
from evrule.compiler.diagnostics import Span
from evrule.compiler.functions import FUNCTIONS
from evrule.compiler.signals import suggest

Node: TypeAlias = "ast.Expr | ast.Pred"
Types: TypeAlias = tuple[str, ...]


# ---- walking the tree ---------------------------------------------------------------------


T = TypeVar("T")


def repeats(items: Iterable[T], key: Callable[[T], Hashable | None]) -> Iterator[tuple[T, T]]:
    """`(later, first)` for every item whose key an earlier item already had (None: skipped)."""
    first: dict[Hashable, T] = {}
    for item in items:
        k = key(item)
        if k is None:
            continue
        if k in first:
            yield item, first[k]
        else:
            first[k] = item


def children(node: Node) -> tuple[Node, ...]:
    """The predicate and expression nodes directly inside `node`."""
    if isinstance(node, ast.Compare):
        return (node.left, node.right)
    if isinstance(node, ast.Matches):
        return (node.left,)
    if isinstance(node, ast.Exists | ast.Truthy | ast.Not):
        return (node.operand,)
    if isinstance(node, ast.And | ast.Or | ast.ListExpr | ast.Coalesce):
        return node.items
    if isinstance(node, ast.Call):
        return node.args
    if isinstance(node, ast.Template):
        return tuple(p for p in node.parts if not isinstance(p, str))
    return ()


def iter_nodes(node: Node | None) -> Iterator[Node]:
    """Every node inside `node`, itself first, in source order.

    Iterative rather than recursive: the parser accepts conditions nested hundreds deep.
    """
    stack: list[Node] = [] if node is None else [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def module_roots(module: ast.Module) -> Iterator[Node]:
    """The top of every expression tree in a file: predicate bodies, step conditions, map
    values and rule names. Checks that do not depend on a step's kind walk these."""
    for item in module.items:
        if isinstance(item, ast.PredicateDef):
            yield item.body
            continue
        if item.name is not None:
            yield item.name
        for step in item.steps:
            if step.cond is not None:
                yield step.cond
        for entry in item.maps:
            yield entry.value


# ---- small helpers for messages and spans ------------------------------------------------


def show(text: str, limit: int = 40) -> str:
    """`text` made safe to quote in a one-line message: control characters escaped, shortened."""
    if any(not c.isprintable() for c in text):
        text = json.dumps(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_types(types: Sequence[str]) -> str:
    """`("string", "null")` as "string", `("string", "number", "boolean")` as "string, number
    or boolean" (null is left out unless it is all there is)."""
    shown = list(dict.fromkeys(t for t in types if t != "null")) or list(dict.fromkeys(types))
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def literal_type(value: object) -> str:
    """The JSON type name of a literal written in a rule."""
    return signals.json_type(value)


def family(json_type: str) -> str:
    """Types that compare with each other share a family: integers are numbers."""
    return "number" if json_type == "integer" else json_type


def families(types: Iterable[str]) -> set[str]:
    """The families of the non-null types (null compares with anything)."""
    return {family(t) for t in types if t != "null"}


def prefix_span(span: Span, width: int) -> Span:
    """The first `width` characters of a span (e.g. the alias at the start of a path)."""
    return Span(span.file, span.line, span.column, span.line, span.column + max(1, width))


def word_span(step: ast.Step) -> Span:
    """The `when`/`then`/`unless` keyword that starts a step."""
    return prefix_span(step.span, len(step.word))


def source_text(module: ast.Module, span: Span) -> str | None:
    """The characters a one-line span covers, or None when they cannot be found."""
    if span.line != span.end_line or span.file != module.file:
        return None
    lines = module.source.split("\n")
    if not 1 <= span.line <= len(lines):
        return None
    text = lines[span.line - 1][span.column - 1 : span.end_column - 1]
    return text or None


def clause_value_span(module: ast.Module, meta: ast.Meta) -> Span:
    """The value of a header clause (`"cart.add"` in `id "cart.add"`), else the whole clause."""
    if isinstance(meta.value, ast.Duration):
        return meta.value.span
    span = meta.span
    lines = module.source.split("\n")
    if span.line != span.end_line or not 1 <= span.line <= len(lines):
        return span
    line = lines[span.line - 1]
    start = span.column - 1 + len(meta.key)
    while start < len(line) and line[start] in " \t":
        start += 1
    if start >= span.end_column - 1:
        return span
    return Span(span.file, span.line, start + 1, span.line, span.end_column)


def keyword_span(meta: ast.Meta) -> Span:
    """The keyword of a header clause (`id` in `id "cart.add"`)."""
    return prefix_span(meta.span, len(meta.key))


def where(span: Span) -> str:
    """`file:line:column` for a message that points elsewhere."""
    return f"{span.file}:{span.line}:{span.column}"


def lookup_field(kind: str, ref: resolve.Ref) -> signals.Lookup | None:
    """The schema's answer for a resolved path of a signal of `kind`; None for an unknown kind.

    An empty path is the whole signal (an alias on its own, as in `properties.raw = click`).
    """
    if kind not in signals.KINDS:
        return None
    if not ref.path:
        return signals.Lookup("known", ("object",))
    if ref.scope == "envelope":
        return signals.lookup_envelope(ref.path)
    return signals.lookup(kind, ref.path)


# ---- one rule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleScope:
    """One rule seen from inside: its steps' aliases and kinds, and how its paths resolve.

    Step conditions are walked with `predicate` references expanded in place (`step_nodes`), so
    a definition's fields are checked against the kind of each step that uses it, at the spans
    inside the definition.
    """

    module: ast.Module
    rule: ast.Rule
    predicates: dict[str, ast.PredicateDef]
    kinds: Mapping[str, str]
    """Alias of each `when`/`then` step to its kind (the first binding when bound twice)."""
    negative: Mapping[str, ast.Step]
    """Alias of each `unless` step to the step: such an alias holds no signal outside it."""
    bound_before: tuple[frozenset[str], ...]
    """Per step: the aliases that earlier positive steps bound."""
    _step_nodes: tuple[tuple[Node, ...], ...] = field(repr=False)
    _used: frozenset[str] = field(repr=False)
    _origin: dict[int, ast.PredicateDef] = field(repr=False)

    @classmethod
    def build(cls, module: ast.Module, rule: ast.Rule) -> RuleScope:
        predicates = module.predicates
        kinds: dict[str, str] = {}
        negative: dict[str, ast.Step] = {}
        bound_before: list[frozenset[str]] = []
        for step in rule.steps:
            bound_before.append(frozenset(kinds))
            if step.alias is None:
                continue
            if step.negated:
                negative.setdefault(step.alias, step)
            else:
                kinds.setdefault(step.alias, step.kind)
        used: set[str] = set()
        nodes = []
        origin: dict[int, ast.PredicateDef] = {}
        for step in rule.steps:
            found, expanded = _expand(step.cond, predicates, origin)
            nodes.append(found)
            used |= expanded
        return cls(
            module,
            rule,
            predicates,
            kinds,
            negative,
            tuple(bound_before),
            tuple(nodes),
            frozenset(used),
            origin,
        )

    # -- walking --
    def step_nodes(self, index: int) -> tuple[Node, ...]:
        """Every node of step `index`'s condition, predicate references expanded (each
        definition once per step; a reference itself is not included)."""
        return self._step_nodes[index]

    def map_nodes(self) -> Iterator[Node]:
        """Every node of the map values and of a templated rule name (alias paths only)."""
        if self.rule.name is not None:
            yield from iter_nodes(self.rule.name)
        for entry in self.rule.maps:
            yield from iter_nodes(entry.value)

    def paths(self) -> Iterator[tuple[ast.Path, int | None]]:
        """Every path of the rule with where it stands: the step index, or None in the map."""
        for index in range(len(self.rule.steps)):
            for node in self.step_nodes(index):
                if isinstance(node, ast.Path):
                    yield node, index
        for node in self.map_nodes():
            if isinstance(node, ast.Path):
                yield node, None

    @property
    def used_predicates(self) -> frozenset[str]:
        """Names of the predicate definitions the steps use, directly or through others."""
        return self._used

    def predicate_ref(self, node: Node) -> str | None:
        """The definition a bare name in a condition refers to, if it is one."""
        if not isinstance(node, ast.Truthy):
            return None
        return resolve.is_predicate_ref(node, self.predicates)

    def conjuncts(self, node: ast.And) -> list[Node]:
        """The operands of an `and`, with nested `and`s and referenced definitions flattened."""
        out: list[Node] = []
        seen: set[str] = set()
        stack: list[Node] = list(reversed(node.items))
        while stack:
            item = stack.pop()
            name = self.predicate_ref(item)
            if name is not None:
                if name not in seen:
                    seen.add(name)
                    stack.append(self.predicates[name].body)
            elif isinstance(item, ast.And):
                stack.extend(reversed(item.items))
            else:
                out.append(item)
        return out

    def definition_of(self, node: Node) -> ast.PredicateDef | None:
        """The predicate definition a node of `step_nodes` was expanded from, if any."""
        return self._origin.get(id(node))

    # -- paths --
    @property
    def aliases(self) -> set[str]:
        return set(self.kinds) | set(self.negative)

    def path_problem(self, path: ast.Path, index: int | None) -> tuple[str, str] | None:
        """Why a path cannot be resolved (message, hint), or None when it can.

        `index` is the step whose condition holds the path; None for map values and names.
        """
        root = path.root
        if index is None:
            if root in self.kinds:
                return None
            if root in self.negative:
                return _unless_alias(root)
            known = sorted(self.kinds)
            close = suggest(root, known)
            if close is not None:
                hint = f"did you mean `{close}`?"
            elif known:
                hint = "map values read fields through a step alias: " + ", ".join(
                    f"`{a}`" for a in known
                )
            else:
                hint = "bind a step to an alias, e.g. `when c = interaction.click(...)`"
            return f"`{show(root)}` is not an alias of this rule", hint
        definition = self.definition_of(path)
        if definition is not None:
            if root in self.aliases:
                return (
                    f"predicate `{definition.name}` cannot use alias `{root}`",
                    "a predicate tests the signal of the step that uses it; compare with "
                    f"`{root}` in the step itself",
                )
            return None
        step = self.rule.steps[index]
        if root == step.alias or root in self.bound_before[index]:
            return None
        if root in self.kinds:
            return (
                f"alias `{root}` is used before it is bound",
                "a step can only refer to the steps before it",
            )
        if root in self.negative:
            return _unless_alias(root)
        return None

    def path_ref(self, path: ast.Path, index: int | None) -> resolve.Ref | None:
        """What a path refers to, or None when it is invalid (`path_problem` says why)."""
        if self.path_problem(path, index) is not None:
            return None
        if index is None:
            return resolve.resolve_in_map(path, set(self.kinds))
        if self.definition_of(path) is not None:
            # A definition reads only the signal being tested, whatever the step calls it.
            return resolve.resolve_in_step(path, frozenset(), None)
        step = self.rule.steps[index]
        return resolve.resolve_in_step(path, self.bound_before[index], step.alias)

    def kind_of(self, ref: resolve.Ref, index: int | None) -> str | None:
        """The kind of the signal a resolved path reads."""
        if ref.alias is not None:
            return self.kinds.get(ref.alias)
        return None if index is None else self.rule.steps[index].kind

    def lookup(self, ref: resolve.Ref, index: int | None) -> signals.Lookup | None:
        """The schema's answer for a resolved path; None when its kind is unknown."""
        kind = self.kind_of(ref, index)
        return None if kind is None else lookup_field(kind, ref)

    def type_of(self, expr: Node, index: int | None) -> Types | None:
        """The JSON types an expression can have, or None when they are not known."""
        if isinstance(expr, ast.Literal):
            return (literal_type(expr.value),)
        if isinstance(expr, ast.ListExpr):
            return ("array",)
        if isinstance(expr, ast.Template):
            return ("string",)
        if isinstance(expr, ast.Path):
            ref = self.path_ref(expr, index)
            found = None if ref is None else self.lookup(ref, index)
            if found is None or found.status != "known" or "any" in found.types:
                return None
            return found.types
        if isinstance(expr, ast.Call):
            sig = FUNCTIONS.get(expr.name)
            if sig is None or "any" in sig.returns:
                return None
            return sig.returns
        if isinstance(expr, ast.Coalesce):
            return self._coalesce_type(expr, index)
        return ("boolean",)  # a predicate used as a value

    def _coalesce_type(self, expr: ast.Coalesce, index: int | None) -> Types | None:
        out: list[str] = []
        last = len(expr.items) - 1
        for i, item in enumerate(expr.items):
            types = self.type_of(item, index)
            if types is None:
                return None
            # Only the last operand can leave a null behind.
            out.extend(t for t in types if t != "null" or i == last)
        return tuple(dict.fromkeys(out)) or ("null",)

    def text(self, node: Node | Span) -> str:
        """How a node is written in the source (shortened), for messages."""
        span = node if isinstance(node, Span) else node.span
        written = source_text(self.module, span)
        if written is not None:
            return show(written)
        if isinstance(node, ast.Path):
            body = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in node.segments)
            return show(node.root + body)
        if isinstance(node, ast.Literal):
            return show(json.dumps(node.value))
        return "expression"


def _unless_alias(root: str) -> tuple[str, str]:
    return (
        f"alias `{root}` belongs to an `unless` step and holds no signal",
        "an `unless` step matches when nothing happens; only its own condition can use its alias",
    )


def _expand(
    cond: ast.Pred | None,
    predicates: dict[str, ast.PredicateDef],
    origin: dict[int, ast.PredicateDef],
) -> tuple[tuple[Node, ...], frozenset[str]]:
    """Nodes of a condition with predicate references replaced by their definitions' nodes.

    Each definition is expanded once: that is enough for checks that report at the
    definition's spans, keeps cycles finite and stops `a = b and b`, `b = c and c`, ... from
    growing exponentially. `origin` learns which definition each expanded node came from (by
    identity: spans cannot tell, trees built in code have none).
    """
    out: list[Node] = []
    expanded: set[str] = set()
    stack: list[tuple[Node, ast.PredicateDef | None]] = [] if cond is None else [(cond, None)]
    while stack:
        node, definition = stack.pop()
        name = resolve.is_predicate_ref(node, predicates) if isinstance(node, ast.Truthy) else None
        if name is not None:
            if name not in expanded:
                expanded.add(name)
                stack.append((predicates[name].body, predicates[name]))
            continue
        out.append(node)
        if definition is not None:
            origin[id(node)] = definition
        stack.extend((child, definition) for child in reversed(children(node)))
    return tuple(out), frozenset(expanded)


# ---- the whole run ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """Everything one checker run sees: all modules, and per-rule scopes built on demand.

    `partial_files` are files whose parse failed somewhere: some of their rules are missing, so
    checks that need the whole file (an unused predicate) stay quiet about them.
    """

    modules: tuple[ast.Module, ...]
    partial_files: frozenset[str] = frozenset()
    _scopes: dict[int, RuleScope] = field(default_factory=dict, repr=False, compare=False)
    _module_of: dict[int, ast.Module] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Rules compare by value (spans excluded), so identical rules in two files are equal:
        # key by identity.
        for module in self.modules:
            for rule in module.rules:
                self._module_of[id(rule)] = module

    def module_of(self, rule: ast.Rule) -> ast.Module:
        """The file a rule was written in."""
        return self._module_of[id(rule)]

    def scope(self, rule: ast.Rule) -> RuleScope:
        """The rule's `RuleScope` (built once per run)."""
        found = self._scopes.get(id(rule))
        if found is None:
            found = self._scopes[id(rule)] = RuleScope.build(self.module_of(rule), rule)
        return found

    def step_kinds(self, rule: ast.Rule) -> Mapping[str, str]:
        """Alias to kind for the rule's `when`/`then` steps."""
        return self.scope(rule).kinds

    def predicates(self, module: ast.Module) -> dict[str, ast.PredicateDef]:
        """The file's `predicate` definitions by name (the last one when defined twice, as
        lowering does)."""
        return module.predicates

    lookup_field = staticmethod(lookup_field)
