"""Typed syntax tree of `.evrule` files.

Every node is a frozen dataclass whose `span` does not take part in equality, so two trees
compare equal when they mean the same program, wherever the text sat (that is what lets the
formatter prove `parse(fmt(x)) == parse(x)`).

Example::

    >>> from evrule.compiler.parser import parse
    >>> module = parse('track "X"\\n  when c = interaction.click(ok)\\n', "x.evrule").module
    >>> module.rules[0].steps[0].kind
    'interaction.click'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from evrule.compiler.diagnostics import Span

NO_SPAN = Span("<none>", 1, 1, 1, 1)


# ---- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number, boolean or null written in the rule."""

    value: str | int | float | bool | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListExpr:
    """`[a, b, ...]`: the right-hand side of `in`, or a list value in a map."""

    items: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Path:
    """A dotted path such as `target.innerText`, `req.requestId` or `body.items[0]`.

    Whether `root` names an alias, an envelope field or a field under the signal's `data` is
    decided by the checker and the lowering pass (`evrule.compiler.resolve`), not by syntax.
    """

    root: str
    segments: tuple[str | int, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False, repr=False)

    @property
    def parts(self) -> tuple[str | int, ...]:
        return (self.root, *self.segments)


@dataclass(frozen=True, slots=True)
class Template:
    """A string with `{expr}` holes, e.g. `"Clicked {click.target.innerText}"` (map values only)."""

    parts: tuple[str | Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call: `number(x)`, `if(cond, a, b)`, ..."""

    name: str
    args: tuple[Expr | Pred, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    name_span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Coalesce:
    """`a ?? b ?? c`: the first operand that is not null."""

    items: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Expr: TypeAlias = "Literal | ListExpr | Path | Template | Call | Coalesce"


# ---- predicates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    """`left op right`; `op` is one of `COMPARE_OPS` (a trailing `~` means case-insensitive)."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    op_span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Matches:
    """`left matches /pattern/flags`."""

    left: Expr
    pattern: str
    flags: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    regex_span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exists:
    """`path exists`: the field is present and not null."""

    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Truthy:
    """A bare value used as a condition (`ok`), or the name of a `predicate` definition."""

    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Pred
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Pred, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Pred, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Pred: TypeAlias = "Compare | Matches | Exists | Truthy | Not | And | Or"

COMPARE_OPS = (
    "==", "!=", "<", "<=", ">", ">=", "contains", "startswith", "endswith", "glob", "in",
    "==~", "!=~", "contains~", "startswith~", "endswith~", "glob~", "in~",
)  # fmt: skip


# ---- rules --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duration:
    """A window such as `2s`; `ms` is its length in milliseconds."""

    text: str
    ms: float
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Step:
    """One `when`/`then`/`unless` line: `then req = network.request(cond) within 2s`."""

    word: str
    alias: str | None
    kind: str
    cond: Pred | None
    within: Duration | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    alias_span: Span = field(default=NO_SPAN, compare=False, repr=False)
    kind_span: Span = field(default=NO_SPAN, compare=False, repr=False)

    @property
    def negated(self) -> bool:
        return self.word == "unless"


@dataclass(frozen=True, slots=True)
class MapEntry:
    """`properties.price = number(resp.body.price)`; the value may be a condition."""

    target: tuple[str, ...]
    value: Expr | Pred
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    target_span: Span = field(default=NO_SPAN, compare=False, repr=False)

    @property
    def target_text(self) -> str:
        return ".".join(self.target)


@dataclass(frozen=True, slots=True)
class Meta:
    """A rule header clause: `id`, `description`, `owner`, `tags`, `enabled` or `within`."""

    key: str
    value: str | bool | tuple[str, ...] | Duration
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: an event type and name, header clauses, ordered steps, map entries."""

    event_type: str
    name: Literal | Template | None
    meta: tuple[Meta, ...]
    steps: tuple[Step, ...]
    maps: tuple[MapEntry, ...]
    reset: bool = False
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    header_span: Span = field(default=NO_SPAN, compare=False, repr=False)

    def meta_value(self, key: str) -> object | None:
        """The value of the first header clause called `key`, or None."""
        for m in self.meta:
            if m.key == key:
                return m.value
        return None

    @property
    def rule_id(self) -> str | None:
        value = self.meta_value("id")
        return value if isinstance(value, str) else None

    @property
    def within(self) -> Duration | None:
        value = self.meta_value("within")
        return value if isinstance(value, Duration) else None

    @property
    def enabled(self) -> bool:
        return self.meta_value("enabled") is not False

    @property
    def display_name(self) -> str:
        """A short human name: the id, else `type "name"`, else the type alone."""
        if self.rule_id:
            return self.rule_id
        if isinstance(self.name, Literal):
            return f'{self.event_type} "{self.name.value}"'
        return self.event_type


@dataclass(frozen=True, slots=True)
class PredicateDef:
    """`predicate cart_api = url glob "*/api/cart*" and method == "POST"`."""

    name: str
    body: Pred
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    name_span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file: its rules and predicate definitions in source order, and its comments."""

    items: tuple[Rule | PredicateDef, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    file: str = field(default="<string>", compare=False)
    source: str = field(default="", compare=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(i for i in self.items if isinstance(i, Rule))

    @property
    def predicates(self) -> dict[str, PredicateDef]:
        return {i.name: i for i in self.items if isinstance(i, PredicateDef)}
