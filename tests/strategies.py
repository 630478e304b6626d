"""Hypothesis strategies for `.evrule` syntax trees, shared by the tests of every stage.

Every tree drawn here is one the parser can build: `parse(format_module(m)).module == m` is the
formatter's law, so a tree that no text parses to would be a bug in this file. The shapes follow
the parser's normal forms: `a and b and c` is one flat `And` (a nested `And` is written with
parentheses), a call's arguments are never `Truthy` except the condition of `if`, `??` chains
are flat, templates alternate non-empty text and holes, and so on.

    >>> from hypothesis import given
    >>> from tests import strategies as evs
    >>> @given(evs.modules())
    ... def test_something(module): ...

`values(template=True)` and `preds(template=True)` draw what may stand in a `map` value, where
strings can be templates; without it, what may stand in a step condition.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from evrule.compiler import ast
from evrule.compiler.signals import KINDS

# A path cannot start with these where a predicate may stand: `not` starts a negation and the
# others are literals. Every other keyword is a fine name (the lexer is contextual).
RESERVED_ROOTS = frozenset({"not", "true", "false", "null"})
KEYWORDS = (
    "predicate", "track", "identify", "page", "screen", "group", "alias", "id", "description",
    "owner", "tags", "enabled", "within", "when", "then", "unless", "map", "reset", "and", "or",
    "not", "matches", "exists", "contains", "startswith", "endswith", "glob", "in", "true",
    "false", "null",
)  # fmt: skip
FUNCTION_NAMES = (
    "number", "string", "bool", "lower", "upper", "trim", "split", "replace", "extract", "json",
    "if", "length", "join", "round", "concat",
)  # fmt: skip
MAP_ROOTS = (
    "event", "properties", "traits", "context", "userId", "name", "category", "groupId",
    "previousId",
)  # fmt: skip
COMMON_NAMES = (
    "target", "innerText", "url", "method", "body", "status", "items", "sku", "price", "click",
    "req", "resp", "ok", "$el", "_x", "a1",
)  # fmt: skip
UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
ODD_STRINGS = (
    "", " ", '"', "\\", '\\"', "{", "}", "{{", "}}", "{x}", "a b", "é", "日本語", "😀", "\n", "\t",
    "\r", "\x00", "\x7f", "\u2028", "\x85", "#", "# not a comment", "/", "*/api/cart*", "0",
)  # fmt: skip
MAX_DEPTH = 3

_identifiers = st.from_regex(r"[A-Za-z_$][A-Za-z0-9_$]{0,7}", fullmatch=True)


def names() -> st.SearchStrategy[str]:
    """Identifiers, keywords included: usable as field names after `.`, aliases, map keys."""
    return st.one_of(st.sampled_from(COMMON_NAMES), st.sampled_from(KEYWORDS), _identifiers)


def roots() -> st.SearchStrategy[str]:
    """Names that may start a path anywhere (and so name a predicate that can be referenced)."""
    return names().filter(lambda n: n not in RESERVED_ROOTS)


def strings() -> st.SearchStrategy[str]:
    """Text with quotes, backslashes, braces, control characters, non-ASCII (no surrogates)."""
    any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
    return st.one_of(st.sampled_from(ODD_STRINGS), any_text)


def numbers() -> st.SearchStrategy[int | float]:
    return st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def literals(template: bool = False) -> st.SearchStrategy[ast.Literal | ast.Template]:
    """String, number, boolean and null literals; with `template`, template strings too."""
    plain = st.one_of(strings(), numbers(), st.booleans(), st.none()).map(ast.Literal)
    return st.one_of(plain, templates()) if template else plain


def paths(odd_segments: bool = True) -> st.SearchStrategy[ast.Path]:
    """`a.b[0]["x y"]`; without `odd_segments` only names and indexes (what fits in a hole)."""
    segment = st.one_of(names(), st.integers(min_value=-3, max_value=20))
    if odd_segments:
        segment = st.one_of(segment, strings())
    return st.builds(ast.Path, roots(), st.lists(segment, max_size=3).map(tuple))


def durations() -> st.SearchStrategy[ast.Duration]:
    """`500ms`, `2s`, `1.5m`...; `ms` computed the way the parser does."""
    amount = st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,2})?", fullmatch=True)
    unit = st.sampled_from(tuple(UNIT_MS))
    return st.builds(lambda a, u: ast.Duration(a + u, float(a) * UNIT_MS[u]), amount, unit)


def regex_patterns() -> st.SearchStrategy[str]:
    """Raw text between the slashes of `/.../`: no bare `/`, `\\` always escapes something."""
    piece = st.one_of(
        st.sampled_from(("a", "b", ".", "*", "+", "?", "^", "$", "|", "(", ")", "[a-z]", "{2}")),
        st.sampled_from(("\\d", "\\w", "\\s", "\\/", "\\.", "\\\\", " ", "#", "é", '"')),
    )
    return st.lists(piece, min_size=1, max_size=6).map("".join)


# ---- values and predicates ------------------------------------------------------------------


def _unwrap(pred: ast.Pred) -> ast.Expr | ast.Pred:
    # The parser unwraps a bare value passed to a function (`f(x)` is Call(f, (Path(x),))).
    return pred.operand if isinstance(pred, ast.Truthy) else pred


@st.composite
def _calls(
    draw: st.DrawFn,
    args: st.SearchStrategy[ast.Expr | ast.Pred],
    condition: st.SearchStrategy[ast.Pred],
) -> ast.Call:
    name = draw(st.one_of(st.sampled_from(FUNCTION_NAMES), roots()))
    items = draw(st.lists(args, max_size=3))
    if name == "if" and items:
        items[0] = draw(condition)  # `if` keeps its condition as parsed, Truthy included
    return ast.Call(name, tuple(items))


def _coalesce(primary: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Coalesce]:
    # `a ?? b ?? c` is one flat node and values have no parentheses, so no nesting.
    plain = primary.filter(lambda e: not isinstance(e, ast.Coalesce))
    return st.lists(plain, min_size=2, max_size=3).map(lambda xs: ast.Coalesce(tuple(xs)))


@functools.cache
def _hole_values(depth: int) -> st.SearchStrategy[ast.Expr]:
    # A hole is raw text inside a string token: no quotes, backslashes or braces can appear,
    # so no strings, odd path segments or regexes.
    leaf = st.one_of(
        paths(odd_segments=False),
        st.one_of(numbers(), st.booleans(), st.none()).map(ast.Literal),
    )
    if depth == 0:
        return leaf
    sub = _hole_values(depth - 1)
    return st.one_of(
        leaf,
        st.lists(sub, max_size=3).map(lambda xs: ast.ListExpr(tuple(xs))),
        _calls(sub, sub.map(ast.Truthy)),
        _coalesce(sub),
    )


@st.composite
def templates(draw: st.DrawFn) -> ast.Template:
    """`"Clicked {click.target.innerText} at {{now}}"`: text parts and at least one hole."""
    pieces = draw(st.lists(st.one_of(strings(), _hole_values(1)), min_size=1, max_size=4))
    parts: list[str | ast.Expr] = []
    for piece in pieces:
        if isinstance(piece, str) and parts and isinstance(parts[-1], str):
            parts[-1] += piece
        else:
            parts.append(piece)
    parts = [p for p in parts if p != ""]
    if all(isinstance(p, str) for p in parts):
        parts.append(draw(_hole_values(0)))
    return ast.Template(tuple(parts))


@functools.cache
def values(template: bool = False, depth: int = MAX_DEPTH) -> st.SearchStrategy[ast.Expr]:
    """Any value: literals, paths, lists, calls (with predicate arguments), `??` chains."""
    leaf = st.one_of(literals(template), paths())
    if depth == 0:
        return leaf
    sub = values(template, depth - 1)
    sub_preds = preds(template, depth - 1)
    return st.one_of(
        leaf,
        st.lists(sub, max_size=3).map(lambda xs: ast.ListExpr(tuple(xs))),
        _calls(st.one_of(sub, sub_preds.map(_unwrap)), sub_preds),
        _coalesce(sub),
    )


@functools.cache
def preds(template: bool = False, depth: int = MAX_DEPTH) -> st.SearchStrategy[ast.Pred]:
    """Any condition: every comparison operator, matches, exists, truthiness, not/and/or."""
    operand = values(template, max(depth - 1, 0))
    leaf = st.one_of(
        st.builds(ast.Compare, st.sampled_from(ast.COMPARE_OPS), operand, operand),
        st.builds(
            ast.Matches, operand, regex_patterns(), st.sampled_from(("", "i", "m", "s", "ims"))
        ),
        st.builds(ast.Exists, operand),
        st.builds(ast.Truthy, operand),
    )
    if depth == 0:
        return leaf
    sub = preds(template, depth - 1)
    chain = st.lists(sub, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        leaf,
        st.builds(ast.Not, sub),
        chain.map(ast.And),
        chain.map(ast.Or),
    )


# ---- rules ----------------------------------------------------------------------------------


def metas() -> st.SearchStrategy[ast.Meta]:
    """One header clause: id, description, owner, tags, enabled or within."""
    return st.one_of(
        st.builds(ast.Meta, st.sampled_from(("id", "description", "owner")), strings()),
        st.builds(ast.Meta, st.just("tags"), st.lists(strings(), max_size=3).map(tuple)),
        st.builds(ast.Meta, st.just("enabled"), st.booleans()),
        st.builds(ast.Meta, st.just("within"), durations()),
    )


def steps(word: str | None = None) -> st.SearchStrategy[ast.Step]:
    """A step; `word` is `when`, `then` or `unless` (any of them when None)."""
    return st.builds(
        ast.Step,
        st.just(word) if word else st.sampled_from(("when", "then", "unless")),
        st.none() | names(),
        st.sampled_from(tuple(KINDS)),
        st.none() | preds(),
        st.none() | durations(),
    )


def map_entries() -> st.SearchStrategy[ast.MapEntry]:
    """`properties.price = ...`, `traits."odd key" = "{a.b}"`."""
    keys = st.lists(st.one_of(names(), strings()), max_size=2)
    target = st.builds(lambda root, rest: (root, *rest), st.sampled_from(MAP_ROOTS), keys)
    # A map value is a value or, unwrapped like a function argument, a condition.
    value = st.one_of(values(template=True), preds(template=True, depth=2).map(_unwrap))
    return st.builds(ast.MapEntry, target, value)


@st.composite
def rules(draw: st.DrawFn) -> ast.Rule:
    """A rule of any event type: name, header clauses, 1-4 steps, map entries, reset."""
    name = draw(st.none() | st.one_of(strings().map(ast.Literal), templates()))
    first = draw(steps("when"))
    rest = draw(st.lists(st.sampled_from(("then", "unless")).flatmap(steps), max_size=3))
    return ast.Rule(
        event_type=draw(st.sampled_from(ast.EVENT_TYPES)),
        name=name,
        meta=tuple(draw(st.lists(metas(), max_size=3))),
        steps=(first, *rest),
        maps=tuple(draw(st.lists(map_entries(), max_size=3))),
        reset=draw(st.booleans()),
    )


def predicate_defs() -> st.SearchStrategy[ast.PredicateDef]:
    """`predicate name = <condition>`."""
    return st.builds(ast.PredicateDef, roots(), preds())


def modules(max_items: int = 4) -> st.SearchStrategy[ast.Module]:
    """A file of rules and predicate definitions (no comments: they are not part of the tree)."""
    item = st.one_of(rules(), predicate_defs())
    return st.lists(item, max_size=max_items).map(lambda xs: ast.Module(tuple(xs)))
