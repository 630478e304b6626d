"""Comparing expected with actual events (deep subset match), and writing events as expectations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from evrule.testing.evtest import NAME_FIELDS, WRITTEN_FIELDS, Expect, compact, format_path

# ---- comparing events -----------------------------------------------------------------------

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """A field where an event differs from an expectation."""

    path: tuple[str | int, ...]
    expected: Any
    actual: Any  # _MISSING when the event has no such field
    note: str = ""

    def render(self) -> str:
        where = format_path(self.path)
        if self.actual is _MISSING:
            return f"{where}: expected {compact(self.expected)}, but the event has no such field"
        if self.note:
            return f"{where}: {self.note}, actual {compact(self.actual)}"
        return f"{where}: expected {compact(self.expected)}, actual {compact(self.actual)}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def field_diffs(expected: Any, actual: Any, path: tuple[str | int, ...] = ()) -> list[FieldDiff]:
    """Where `actual` fails to match `expected`; empty when it matches.

    Objects match when every expected key is present and matches (other keys are ignored);
    arrays match item by item and must have the same length; scalars match when they have the
    same JSON type and are equal (`1` matches `1.0`, never `"1"` or `true`).

    >>> field_diffs({"properties": {"price": 20}}, {"properties": {"price": 20.0, "x": 1}})
    []
    >>> [d.render() for d in field_diffs({"a": [1, "2"]}, {"a": [1, 2]})]
    ['a[1]: expected "2", actual 2']
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [FieldDiff(path, expected, actual, "expected an object")]
        out: list[FieldDiff] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(FieldDiff((*path, key), value, _MISSING))
            else:
                out += field_diffs(value, actual[key], (*path, key))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [FieldDiff(path, expected, actual, "expected an array")]
        if len(expected) != len(actual):
            note = f"expected {len(expected)} item(s), not {len(actual)}"
            return [FieldDiff(path, expected, actual, note)]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += field_diffs(e, a, (*path, i))
        return out
    if _json_kind(expected) != _json_kind(actual) or expected != actual:
        return [FieldDiff(path, expected, actual)]
    return []


def matches(expected: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether `event` has every field of `expected` (see `field_diffs`)."""
    return not field_diffs(expected, event)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One way a case's events differ from its expectations.

    `kind` is "differs" (an expectation and the event in its place disagree on some fields),
    "missing" (no event for an expectation), "extra" (an event no expectation accounts for) or
    "order" (an expectation matches an event, but not in the order of the expect lines).
    `actual` indexes the case's counted events.
    """

    kind: Literal["differs", "missing", "extra", "order"]
    expect: Expect | None
    actual: int | None
    fields: tuple[FieldDiff, ...] = ()


@dataclass(frozen=True, slots=True)
class Comparison:
    pairs: tuple[tuple[int, int], ...]  # (expectation, event) that match, in order
    mismatches: tuple[Mismatch, ...]


def _resembles(expected: dict[str, Any], event: dict[str, Any]) -> bool:
    if expected.get("type") != event.get("type"):
        return False
    key = NAME_FIELDS.get(str(event.get("type")))
    return key is None or key not in expected or expected[key] == event.get(key)


def compare(expects: Sequence[Expect], events: Sequence[dict[str, Any]]) -> Comparison:
    """Align expectations with events, in order: the longest run of matching pairs (an LCS);
    in each gap between them an expectation and an event of the same type and name are
    reported as one that "differs", and the rest as "missing" or "extra" (or "order" when an
    expectation matches an event elsewhere)."""
    n, m = len(expects), len(events)
    ok = [[matches(e.fields, a) for a in events] for e in expects]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if ok[i][j] else max(best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if ok[i][j] and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    mismatches: list[Mismatch] = []
    extra: set[int] = set()
    missing: list[int] = []
    bounds = [(-1, -1), *pairs, (n, m)]
    for (i0, j0), (i1, j1) in pairwise(bounds):
        free = list(range(j0 + 1, j1))
        for ei in range(i0 + 1, i1):
            near = next((aj for aj in free if _resembles(expects[ei].fields, events[aj])), None)
            if near is None:
                missing.append(ei)
                continue
            free.remove(near)
            diffs = tuple(field_diffs(expects[ei].fields, events[near]))
            mismatches.append(Mismatch("differs", expects[ei], near, diffs))
        extra.update(free)
    for ei in missing:
        elsewhere = next((aj for aj in sorted(extra) if ok[ei][aj]), None)
        if elsewhere is not None:
            extra.discard(elsewhere)
            mismatches.append(Mismatch("order", expects[ei], elsewhere))
        else:
            mismatches.append(Mismatch("missing", expects[ei], None))
    mismatches.sort(key=lambda x: x.expect.line if x.expect else 0)
    mismatches += [Mismatch("extra", None, aj) for aj in sorted(extra)]
    return Comparison(tuple(pairs), tuple(mismatches))


# ---- events as expectations -------------------------------------------------------------


def minimal(event: dict[str, Any]) -> dict[str, Any]:
    """What `--update` writes for an event: its type, name and what the rule mapped
    (`properties`, `traits`, `userId`, ...), not `messageId`, `timestamp` or `context`."""
    kind = event.get("type")
    out: dict[str, Any] = {"type": kind}
    name_key = NAME_FIELDS.get(str(kind))
    if name_key is not None and event.get(name_key) is not None:
        out[name_key] = event[name_key]
    for key in WRITTEN_FIELDS:
        if key in event and event[key] not in (None, {}, []):
            out[key] = event[key]
    return out


def project(actual: Any, expected: Any) -> Any:
    """`actual` cut down to the fields `expected` names, to show next to it."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [project(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def rule_of(event: dict[str, Any]) -> Any:
    """The id of the rule that emitted `event` (from its `context.evrule` provenance)."""
    ctx = event.get("context")
    prov = ctx.get("evrule") if isinstance(ctx, dict) else None
    return prov.get("rule") if isinstance(prov, dict) else None
