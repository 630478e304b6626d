"""Name resolution shared by the checker and the lowering pass.

A path in a rule means one of three things, decided by its first name:

- an alias bound by an earlier step (`req.requestId`): a field of that step's signal;
- an envelope field (`anonymousId`, `timestamp`, `index`, `context...`, `type`, `userId`,
  `messageId`) of the signal being tested;
- otherwise a field under the signal's `data` (`target.innerText`, `page.path`, `body.items[0]`);
  an explicit `data.` prefix names the data object itself (`data.type`, `data.index`), for data
  keys spelled like envelope fields; a bare `data` is a field called `data`.

Inside an alias path the same envelope-or-data rule applies to what follows the alias:
`req.timestamp` is the request's envelope timestamp, `req.body.id` is under its `data`.
In `map` values every path must start with an alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from evrule.compiler import ast

ENVELOPE_ROOTS = frozenset(
    {"anonymousId", "timestamp", "index", "context", "type", "userId", "messageId"}
)


@dataclass(frozen=True, slots=True)
class Ref:
    """A resolved path: which signal (`alias` None = the one being tested), where, which keys."""

    alias: str | None
    scope: Literal["data", "envelope"]
    path: tuple[str | int, ...]

    def __str__(self) -> str:
        head = f"{self.alias}." if self.alias else ""
        body = ".".join(f"[{p}]" if isinstance(p, int) else p for p in self.path)
        return head + body.replace(".[", "[")


def _split(
    parts: tuple[str | int, ...],
) -> tuple[Literal["data", "envelope"], tuple[str | int, ...]]:
    if len(parts) > 1 and parts[0] == "data":
        # An explicit `data.` names the data object itself, so that data keys spelled like
        # envelope fields stay reachable (`data.type` of an instrumentation signal).
        return "data", parts[1:]
    if parts and isinstance(parts[0], str) and parts[0] in ENVELOPE_ROOTS:
        return "envelope", parts
    return "data", parts


def resolve_in_step(path: ast.Path, earlier: frozenset[str] | set[str], own: str | None) -> Ref:
    """Resolve a path written inside a step's condition.

    `earlier` holds the aliases bound by previous positive steps; `own` is the step's own alias
    (writing `click.target.id` inside the `click` step means the signal being tested).
    """
    if path.root in earlier and path.root != own:
        scope, rest = _split(path.segments)
        return Ref(path.root, scope, rest)
    if own is not None and path.root == own:
        scope, rest = _split(path.segments)
        return Ref(None, scope, rest)
    scope, rest = _split(path.parts)
    return Ref(None, scope, rest)


def resolve_in_map(path: ast.Path, aliases: frozenset[str] | set[str]) -> Ref | None:
    """Resolve a path in a map value or template hole; None when it names no alias."""
    if path.root not in aliases:
        return None
    scope, rest = _split(path.segments)
    return Ref(path.root, scope, rest)


def is_predicate_ref(pred: ast.Pred, predicates: dict[str, ast.PredicateDef]) -> str | None:
    """The predicate name when `pred` is a bare name that a `predicate` definition binds."""
    if (
        isinstance(pred, ast.Truthy)
        and isinstance(pred.operand, ast.Path)
        and not pred.operand.segments
        and pred.operand.root in predicates
    ):
        return pred.operand.root
    return None
