"""Why each signal did, or did not, move each rule: what `evrule explain` prints.

The signals go through the very path `evrule run` uses (`io.read_lines` → `runner.run` → the
real `Matcher`), with a `Tracer` attached, so the events explain reports are the events run
writes. The tracer records what the engine does (steps matched, partial matches started,
extended, completed, cancelled, expired, evicted); for a near miss, a signal of the right kind
that failed a step, explain re-evaluates the step's condition one top-level `and` at a time,
lowered by the compiler's own lowering code and run by the tables interpreter, and reports the
first part that is false, with the values of its operands and its place in the rule file.

    >>> reports = explain({"a.evrule": RULES}, open("signals.jsonl", "rb"))  # doctest: +SKIP
    >>> print(render_text(reports), end="")                                 # doctest: +SKIP
    #4 line 4  a1  network.response  2026-03-01T12:00:02.000Z
      cart.add step 3 `then resp = network.response(...)` (a.evrule:9) near miss for [#1 #2]:
        `ok` is false (actual: false)                     a.evrule:9:52

What the engine's hooks do not say (a signal that came too late for a window, a signal that
failed a rule's first step or an `unless` step, which partial match a near miss concerned) is
worked out from the matcher's pending state with the engine's own compiled predicates, so it
cannot contradict what the engine decided. docs/explain.md describes the output.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from evrule import __version__
from evrule.api import RuleSource, check
from evrule.compiler import ast
from evrule.compiler.diagnostics import CompileError
from evrule.compiler.fmt import format_expr, format_pred
from evrule.compiler.ir import Plan
from evrule.compiler.lower import _Lowerer, _Scope, lower, rule_ids
from evrule.runtime import core
from evrule.runtime.io import Item, Rejected, read_lines, sort_items
from evrule.runtime.runner import run
from evrule.runtime.tables import _Builder, load_plan

__all__ = [
    "Activity",
    "Emitted",
    "Failure",
    "SignalReport",
    "explain",
    "render_json",
    "render_text",
]

# What an `Activity` can say about a rule; `held` is a complete match waiting for the window of
# a trailing `unless` to pass.
WHATS = ("started", "extended", "completed", "held", "cancelled", "near_miss", "expired", "evicted")

_MAX_OPERANDS = 6
_MAX_VALUE_CHARS = 60
_MESSAGE_WIDTH = 48


# ---- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """The first part of a step's condition that a signal did not meet.

    `condition` is that part as written (`ok`, `requestId == req.requestId`, or `within 10s`
    for a window), `values` the actual values of its operands, and `file:line:column` where it
    is written; `predicate` names the `predicate` definition it came from, if any.
    """

    condition: str
    message: str
    values: tuple[tuple[str, Any], ...]
    file: str
    line: int
    column: int
    predicate: str | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing that happened to one rule while a signal was processed (`what` in `WHATS`).

    `step` counts the rule's steps from 1, `unless` steps included; `partial` lists the input
    numbers of the signals of the partial match concerned; `at` is a time (held back until,
    expired at, evicted at) and `detail` says why.
    """

    rule: str
    what: str
    step: int | None
    step_text: str | None
    file: str
    line: int
    partial: tuple[int, ...] = ()
    anonymous_id: str | None = None
    at: str | None = None
    detail: str | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event exactly as `evrule run` writes it, with the rule and the signals that made it;
    `released` when it was held back for a trailing `unless` window."""

    rule: str
    event: dict[str, Any]
    signals: tuple[int, ...]
    released: bool


@dataclass(frozen=True, slots=True)
class SignalReport:
    """What one input signal did: numbered from 1 in input order, with its input line.

    Two other kinds of report exist: a rejected input line (`rejected` holds the reason, no
    number) and the end of the stream (no number, no line), where the partial matches still
    pending expire and held-back events come out.
    """

    number: int | None
    line: int | None
    anonymous_id: str | None
    kind: str | None
    timestamp: str | None
    activities: tuple[Activity, ...] = ()
    events: tuple[Emitted, ...] = ()
    rejected: str | None = None

    @property
    def end_of_stream(self) -> bool:
        return self.number is None and self.line is None


# ---- the API ------------------------------------------------------------------------------


def explain(
    rules: Plan | RuleSource,
    lines: IO[bytes] | Iterable[str | bytes | Mapping[str, Any]],
    *,
    rule: str | Collection[str] | None = None,
    anonymous_id: str | None = None,
    all_signals: bool = False,
    key: str = "anonymousId",
    sort: bool = False,
    max_partials: int = core.DEFAULT_MAX_PARTIALS,
    max_span_ms: float = core.DEFAULT_MAX_SPAN_MS,
    lateness_ms: float = 0.0,
) -> list[SignalReport]:
    """Run `rules` over `lines` as `evrule run` does and report, per signal, what it did.

    `rules` is what `evrule.compile` takes (paths, folders, `{name: text}`) or a compiled
    `Plan` (whose rule files are read again for the source positions, when they still match).
    `lines` is a binary JSON Lines stream, or an iterable of lines or of decoded signals.
    The matcher options mean what they mean for `evrule run`; pass the same ones to get the
    same events. `rule` and `anonymous_id` only filter the report: matching always sees the
    whole input, so windows, expiry and held-back events happen exactly as in `run`. With
    `rule`, near misses of the rule's first step and of its `unless` steps are reported too.
    Signals that touched nothing are left out unless `all_signals`.

    Raises `CompileError` for rules with errors and `ValueError` for an unknown rule id.
    """
    plan, sources = _load(rules)
    wanted = _wanted_rules(rule, plan, sources)
    session = _Session(sources, wanted)
    matcher = core.Matcher(
        load_plan(plan),
        key=key,
        max_partials=max_partials,
        max_span_ms=max_span_ms,
        lateness_ms=lateness_ms,
        version=__version__,
        tracer=session,
    )
    session.attach(matcher)
    items: Iterable[Item | Rejected] = read_lines(_as_stream(lines))
    if sort:
        items = sort_items(items)
    run(_Observed(matcher, session), session.tap(items), session.on_event, session.on_reject)
    return session.reports(anonymous_id, all_signals)


def render_text(reports: Iterable[SignalReport]) -> str:
    """The reports for people: a header line per signal, one line per thing that happened."""
    out: list[str] = []
    for rep in reports:
        out.append(_header(rep))
        for a in rep.activities:
            out.extend(_activity_lines(a, rep.anonymous_id))
        for e in rep.events:
            out.append(_event_line(e, rep.anonymous_id))
    return "".join(line + "\n" for line in out)


def render_json(reports: Iterable[SignalReport]) -> str:
    """The reports for tools: one JSON object per line, always the same keys in the same order
    (docs/explain.md lists them); `events` hold the events exactly as `evrule run` writes them."""
    return "".join(
        json.dumps(_report_json(rep), ensure_ascii=False, separators=(",", ":")) + "\n"
        for rep in reports
    )


# ---- loading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """A rule's syntax tree and the file it sits in."""

    rule: ast.Rule
    file: str
    predicates: dict[str, ast.PredicateDef]


def _load(rules: Plan | RuleSource) -> tuple[Plan, dict[str, _Source]]:
    if isinstance(rules, Plan):
        return rules, _sources_of_plan(rules)
    result = check(rules)
    if result.errors:
        raise CompileError(result.errors, result.sources)
    return lower(result.modules), _sources(result.modules)


def _sources(modules: list[ast.Module]) -> dict[str, _Source]:
    ids = rule_ids(modules)
    return {
        ids[(m.file, i)]: _Source(r, m.file, m.predicates)
        for m in modules
        for i, r in enumerate(m.rules)
    }


def _sources_of_plan(plan: Plan) -> dict[str, _Source]:
    """The syntax trees of a compiled plan's rules, from its files, where they still match."""
    files = sorted({r.file for r in plan.rules if Path(r.file).is_file()})
    if not files:
        return {}
    result = check(files)
    if result.errors:
        return {}
    hashes = {r.id: r.hash for r in lower(result.modules).rules}
    sources = _sources(result.modules)
    return {r.id: sources[r.id] for r in plan.rules if hashes.get(r.id) == r.hash}


def _wanted_rules(
    rule: str | Collection[str] | None, plan: Plan, sources: dict[str, _Source]
) -> frozenset[str] | None:
    if rule is None:
        return None
    wanted = frozenset([rule] if isinstance(rule, str) else rule)
    running = {r.id for r in plan.rules}
    for rid in sorted(wanted - running):
        src = sources.get(rid)
        if src is not None and not src.rule.enabled:
            raise ValueError(f"rule {rid!r} is disabled (`enabled false`): it never runs")
        known = ", ".join(sorted(running)) or "none"
        raise ValueError(f"no rule {rid!r} in these rules (known: {known})")
    return wanted


def _as_stream(lines: IO[bytes] | Iterable[str | bytes | Mapping[str, Any]]) -> IO[bytes]:
    if hasattr(lines, "readline"):
        return lines  # type: ignore[return-value]
    buf = io.BytesIO()
    for line in lines:  # type: ignore[union-attr]
        if isinstance(line, Mapping):
            line = json.dumps(line, ensure_ascii=False)
        data = line.encode("utf-8") if isinstance(line, str) else line
        buf.write(data.rstrip(b"\r\n") + b"\n")
    buf.seek(0)
    return buf


# ---- explaining a failed step -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Conjunct:
    pred: ast.Pred
    predicate: str | None
    test: Callable[[core.Signal, list[core.Signal]], bool]
    operands: tuple[tuple[str, Callable[[core.Signal, list[core.Signal]], Any]], ...]


class _StepExplainer:
    """One step's condition cut at its top-level `and`s (predicate references inlined), each
    part lowered and built exactly as the compiler and the tables backend do."""

    def __init__(self, src: _Source, index: int):
        step = src.rule.steps[index]
        self.file = src.file
        self.step = step
        scope = _Scope(_positions(src.rule.steps[:index]), step.alias, src.predicates)
        lw = _Lowerer()
        parts = _conjuncts(step.cond, scope, None) if step.cond is not None else []
        lowered = [
            (pred, name, lw.pred(pred, sc), [(format_expr(e), lw.expr(e, s)) for e, s in ops])
            for pred, sc, name in parts
            for ops in [_operands(pred, sc)]
        ]
        builder = _Builder(Plan((), tuple(lw.regexes), ()))
        self.conjuncts = [
            _Conjunct(pred, name, builder.pred(node), tuple((t, builder.expr(n)) for t, n in ops))
            for pred, name, node, ops in lowered
        ]

    def first_failure(self, signal: core.Signal, bound: list[core.Signal]) -> Failure | None:
        for c in self.conjuncts:
            error = None
            try:
                ok = bool(c.test(signal, bound))
            except Exception as exc:
                ok, error = False, exc
            if ok:
                continue
            text = format_pred(c.pred)
            values: list[tuple[str, Any]] = []
            shown: list[str] = []
            for name, fn in c.operands:
                try:
                    value = fn(signal, bound)
                    shown.append(f"{name}: {_show(value)}")
                except Exception as exc:
                    value = None
                    shown.append(f"{name}: cannot be computed: {exc}")
                values.append((name, value))
            if error is not None:
                message = f"`{text}` cannot be computed: {error}"
            elif isinstance(c.pred, ast.Truthy) and len(values) == 1 and values[0][0] == text:
                message = f"`{text}` is false (actual: {_show(values[0][1])})"
            elif shown:
                message = f"`{text}` is false ({', '.join(shown)})"
            else:
                message = f"`{text}` is false"
            span = c.pred.span
            return Failure(
                text, message, tuple(values), span.file, span.line, span.column, c.predicate
            )
        return None


def _positions(steps: Iterable[ast.Step]) -> dict[str, int]:
    """Where the signal of each earlier positive step's alias sits in a partial match."""
    positions: dict[str, int] = {}
    n = 0
    for s in steps:
        if not s.negated:
            if s.alias:
                positions[s.alias] = n
            n += 1
    return positions


def _conjuncts(
    pred: ast.Pred, scope: _Scope, via: str | None
) -> list[tuple[ast.Pred, _Scope, str | None]]:
    if isinstance(pred, ast.And):
        return [part for item in pred.items for part in _conjuncts(item, scope, via)]
    if isinstance(pred, ast.Truthy):
        name = scope.predicate_ref(pred)
        if name is not None:
            return _conjuncts(scope.predicates[name].body, scope.inside(name), name)
    return [(pred, scope, via)]


def _operands(pred: ast.Pred, scope: _Scope) -> list[tuple[ast.Expr, _Scope]]:
    """The values a condition tests (literals left out), first seen first, at most a few."""
    found: dict[str, tuple[ast.Expr, _Scope]] = {}

    def add(e: ast.Expr, sc: _Scope) -> None:
        if isinstance(e, ast.Literal):
            return
        if isinstance(e, ast.ListExpr) and all(isinstance(i, ast.Literal) for i in e.items):
            return
        found.setdefault(format_expr(e), (e, sc))

    def walk(p: ast.Pred, sc: _Scope) -> None:
        if isinstance(p, ast.Compare):
            add(p.left, sc)
            add(p.right, sc)
        elif isinstance(p, ast.Matches):
            add(p.left, sc)
        elif isinstance(p, ast.Exists):
            add(p.operand, sc)
        elif isinstance(p, ast.Truthy):
            name = sc.predicate_ref(p)
            if name is not None:
                walk(sc.predicates[name].body, sc.inside(name))
            else:
                add(p.operand, sc)
        elif isinstance(p, ast.Not):
            walk(p.operand, sc)
        elif isinstance(p, ast.And | ast.Or):
            for item in p.items:
                walk(item, sc)

    walk(pred, scope)
    return list(found.values())[:_MAX_OPERANDS]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


# ---- watching the engine ------------------------------------------------------------------


class _Draft:
    """A report being filled in: activities are kept with their sort key."""

    def __init__(self, number: int | None, line: int | None, signal: core.Signal | None):
        self.number = number
        self.line = line
        self.signal = signal
        self.rejected: str | None = None
        self.activities: list[tuple[tuple[int, int, int], Activity]] = []
        self.events: list[Emitted] = []

    def freeze(
        self, keep: Callable[[Activity], bool], keep_event: Callable[[Emitted], bool]
    ) -> SignalReport:
        s = self.signal or {}
        anon = s.get("anonymousId")
        return SignalReport(
            self.number,
            self.line,
            anon if isinstance(anon, str) else None,
            core.kind_of(s)[0] if self.signal is not None else None,
            s.get("timestamp") if isinstance(s.get("timestamp"), str) else None,
            tuple(a for _, a in sorted(self.activities, key=lambda x: x[0]) if keep(a)),
            tuple(e for e in self.events if keep_event(e)),
            self.rejected,
        )


class _Observed:
    """The matcher as `runner.run` sees it: every call goes to the real matcher, and explain
    gets a look before and after each signal."""

    def __init__(self, matcher: core.Matcher, session: _Session):
        self._matcher = matcher
        self._session = session
        self.key_path = matcher.key_path

    @property
    def stats(self) -> dict[str, Any]:
        return self._matcher.stats

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return self._matcher.warnings

    def feed(self, signal: core.Signal) -> list[core.Event]:
        self._session.before(signal)
        try:
            return self._matcher.feed(signal)
        finally:
            self._session.after(signal)

    def flush(self) -> list[core.Event]:
        self._session.at_end()
        return self._matcher.flush()


class _Session(core.Tracer):
    """The tracer: turns the engine's calls into activities of the current signal's report."""

    def __init__(self, sources: dict[str, _Source], wanted: frozenset[str] | None):
        self.sources = sources
        self.wanted = wanted
        self.drafts: list[_Draft] = []
        self.current: _Draft | None = None
        self.item: Item | Rejected | None = None
        self.numbers: dict[int, int] = {}  # id(signal) -> input number
        self.by_signal_id: dict[str, int] = {}  # core.signal_id -> input number
        self.kept: list[core.Signal] = []  # keeps the ids in `numbers` unique
        self.explainers: dict[tuple[str, int], _StepExplainer | None] = {}
        self.seq = 0

    def attach(self, matcher: core.Matcher) -> None:
        self.matcher = matcher
        self.rule_index = {id(r): i for i, r in enumerate(matcher.rules)}
        self.held_back = {r.id for r in matcher.rules if _trailing(r)}
        self.step_index = {id(s): i for r in matcher.rules for i, s in enumerate(r.steps)}

    def tap(self, items: Iterable[Item | Rejected]) -> Iterator[Item | Rejected]:
        for item in items:
            self.item = item
            yield item

    # -- the run's callbacks --
    def on_reject(self, item: Rejected) -> None:
        draft = _Draft(None, item.line, None)
        draft.rejected = item.reason
        self.drafts.append(draft)

    def on_event(self, event: core.Event) -> None:
        assert self.current is not None
        info = event.get("context", {}).get("evrule", {})
        rid = info.get("rule", "")
        numbers = tuple(self.by_signal_id.get(s, 0) for s in info.get("signals", ()))
        self.current.events.append(Emitted(rid, event, numbers, rid in self.held_back))

    # -- before and after each signal --
    def before(self, signal: core.Signal) -> None:
        item = self.item
        line = item.line if isinstance(item, Item) and item.signal is signal else None
        number = len(self.kept) + 1
        self.kept.append(signal)
        self.numbers[id(signal)] = number
        self.by_signal_id[core.signal_id(signal)] = number
        self.current = _Draft(number, line, signal)
        self.drafts.append(self.current)
        self.ts = core.parse_ts(signal.get("timestamp"))
        self.key = core.get(signal, self.matcher.key_path)
        self.kind = core.kind_of(signal)
        self.touched: set[int] = set()  # rules this signal matched a step of
        self.consumed: set[int] = set()  # rules this signal extended
        self.cancelled: set[int] = set()  # id() of the bound lists this signal cancelled
        self.misses: list[tuple[int, int, Activity, int]] = []  # (rule, seq, activity, bound id)
        self.cancelling: dict[int, core.StepSpec] = {}
        if self.ts is not None and isinstance(self.key, str):
            self._late_signals(signal)
            if self.wanted is not None:
                self._unless_misses(signal)

    def after(self, signal: core.Signal) -> None:
        if self.wanted is not None and self.ts is not None and isinstance(self.key, str):
            self._first_step_misses(signal)
        for r, seq, activity, bound_id in self.misses:
            if r in self.consumed or bound_id in self.cancelled:
                continue
            self._add((1, r, seq), activity)

    def at_end(self) -> None:
        self.current = _Draft(None, None, None)
        self.drafts.append(self.current)

    # -- the tracer hooks --
    def step(
        self,
        rule: core.RuleSpec,
        step: core.StepSpec,
        signal: core.Signal,
        what: str,
        bound: list[core.Signal],
    ) -> None:
        r = self.rule_index[id(rule)]
        if what == "cancelled":
            # The engine's `dropped(..., "cancelled", bound)` follows with the match.
            self.cancelling[r] = step
            return
        self.touched.add(r)
        if what != "started":
            self.consumed.add(r)
        if step is not rule.positives[-1]:
            self._step_activity(rule, step, what, bound)
            return
        trailing = _trailing(rule)
        if not trailing:
            self._step_activity(rule, step, "completed", bound)
            return
        assert self.ts is not None
        until = self.ts + max(u.within or 0.0 for u in trailing)
        detail = f"for the `unless` of step {self.step_index[id(trailing[-1])] + 1}"
        self._step_activity(rule, step, "held", bound, at=_iso(until), detail=detail)

    def near_miss(
        self,
        rule: core.RuleSpec,
        step: core.StepSpec,
        signal: core.Signal,
        pos: int,
        bound: list[core.Signal],
    ) -> None:
        r = self.rule_index[id(rule)]
        if pos == 0 or not self._wants(rule):
            return  # first steps: see _first_step_misses
        failure = self._failure(rule, step, signal, bound)
        self._miss(r, rule, step, list(bound), failure, id(bound))

    def dropped(self, rule: core.RuleSpec, what: str, bound: list[core.Signal]) -> None:
        r = self.rule_index[id(rule)]
        if what == "cancelled":
            step = self.cancelling.pop(r, None)
            self.cancelled.add(id(bound))
            self.touched.add(r)
            held = len(bound) == len(rule.positives)
            detail = "a complete match held back" if held else None
            if step is None:
                self._activity(1, r, rule, "cancelled", None, bound, detail=detail)
            else:
                self._step_activity(rule, step, "cancelled", bound, detail=detail)
            return
        if what == "evicted":
            detail = f"the oldest of more than {self.matcher.max_partials} pending"
            self._activity(1, r, rule, "evicted", None, bound, at=_iso(self.ts), detail=detail)
            return
        deadline, detail = self._deadline(rule, bound)
        self._activity(0, r, rule, "expired", None, bound, at=_iso(deadline), detail=detail)

    # -- what the hooks do not say --
    def _late_signals(self, signal: core.Signal) -> None:
        """Pending matches that the signal would have extended had it come in time."""
        assert self.ts is not None
        specific, base = self.kind
        for r, plist in self.matcher.pending(self.key).items():
            rule = self.matcher.rules[r]
            if not self._wants(rule):
                continue
            for p in reversed(plist):
                step = rule.positives[p.pos]
                if step.kind not in (specific, base) or self._in_window(rule, p, step):
                    continue
                if not self._passes(step, signal, p.bound):
                    continue
                failure = self._window_failure(rule, step, p)
                self._miss(r, rule, step, list(p.bound), failure, id(p.bound))

    def _unless_misses(self, signal: core.Signal) -> None:
        """`--rule`: unless steps that a pending or held-back match checked and that failed."""
        for r, plist in self.matcher.pending(self.key).items():
            rule = self.matcher.rules[r]
            if self._wants(rule):
                for p in reversed(plist):
                    self._unless_gap(r, rule, rule.gaps[p.pos - 1], p.bound, p.last, signal)
        for a in self.matcher.held():
            rule = self.matcher.rules[a.rule]
            if not a.dead and a.key == self.key and self._wants(rule):
                self._unless_gap(a.rule, rule, _trailing(rule), a.bound, a.last, signal)

    def _unless_gap(
        self,
        r: int,
        rule: core.RuleSpec,
        gap: Iterable[core.StepSpec],
        bound: list[core.Signal],
        last: float,
        signal: core.Signal,
    ) -> None:
        assert self.ts is not None
        specific, base = self.kind
        for u in gap:
            if u.kind not in (specific, base):
                continue
            if u.within is not None and self.ts - last > u.within:
                continue
            if not self._passes(u, signal, bound):
                failure = self._failure(rule, u, signal, list(bound))
                self._miss(r, rule, u, list(bound), failure, id(bound))

    def _first_step_misses(self, signal: core.Signal) -> None:
        """`--rule`: the signal had the kind of the rule's first step but failed it."""
        specific, base = self.kind
        for r, rule in enumerate(self.matcher.rules):
            if r in self.touched or not self._wants(rule):
                continue
            first = rule.positives[0]
            if first.kind in (specific, base) and not self._passes(first, signal, []):
                failure = self._failure(rule, first, signal, [])
                self.seq += 1
                self._add((1, r, self.seq), self._make(rule, first, "near_miss", [], failure))

    # -- helpers --
    def _wants(self, rule: core.RuleSpec) -> bool:
        return self.wanted is None or rule.id in self.wanted

    def _passes(self, step: core.StepSpec, signal: core.Signal, bound: list[core.Signal]) -> bool:
        """The engine's own test of a step: its shared atoms and its correlation."""
        atoms = self.matcher.atoms
        try:
            if not all(atoms[a](signal) for a in step.atoms):
                return False
            return step.corr is None or bool(step.corr(signal, bound))
        except Exception:
            return False

    def _in_window(self, rule: core.RuleSpec, p: Any, step: core.StepSpec) -> bool:
        assert self.ts is not None
        if self.ts - p.start > self.matcher.span_of(rule):
            return False
        return step.within is None or self.ts - p.last <= step.within

    def _deadline(self, rule: core.RuleSpec, bound: list[core.Signal]) -> tuple[float, str]:
        start = core.parse_ts(bound[0].get("timestamp")) or 0.0
        last = core.parse_ts(bound[-1].get("timestamp")) or 0.0
        step = rule.positives[len(bound)]
        n = self.step_index[id(step)] + 1
        src = self.sources.get(rule.id)
        if step.within is not None and last + step.within <= start + self.matcher.span_of(rule):
            text = _within_text(src, n - 1, step.within)
            return last + step.within, f"step {n} `within {text}` after #{self._num(bound[-1])}"
        first = self._num(bound[0])
        if rule.within is not None and rule.within <= self.matcher.max_span:
            text = src.rule.within.text if src and src.rule.within else _duration(rule.within)
            return start + self.matcher.span_of(rule), f"rule `within {text}` from #{first}"
        span = self.matcher.span_of(rule)
        return start + span, f"maximum span {_duration(span)} from #{first}"

    def _window_failure(self, rule: core.RuleSpec, step: core.StepSpec, p: Any) -> Failure:
        assert self.ts is not None
        src = self.sources.get(rule.id)
        i = self.step_index[id(step)]
        if self.ts - p.start > self.matcher.span_of(rule):
            after = (
                f"{_duration(self.ts - p.start)} after the first step (#{self._num(p.bound[0])})"
            )
            if rule.within is not None and rule.within <= self.matcher.max_span:
                d = src.rule.within if src else None
                text = d.text if d else _duration(rule.within)
                span = _span_of(d.span if d else None, rule.file, step.line)
                message = f"too late: {after}, rule window `within {text}`"
                return Failure(f"within {text}", message, (), *span)
            limit = _duration(self.matcher.span_of(rule))
            message = f"too late: {after}, over the maximum span {limit}"
            return Failure("maximum span", message, (), rule.file, step.line, 1)
        assert step.within is not None
        prev = rule.positives[p.pos - 1]
        name = f"`{prev.alias}`" if prev.alias else f"step {self.step_index[id(prev)] + 1}"
        text = _within_text(src, i, step.within)
        d = src.rule.steps[i].within if src else None
        span = _span_of(d.span if d else None, rule.file, step.line)
        after = f"{_duration(self.ts - p.last)} after {name} (#{self._num(p.bound[-1])})"
        return Failure(f"within {text}", f"too late: {after}, window `within {text}`", (), *span)

    def _failure(
        self, rule: core.RuleSpec, step: core.StepSpec, signal: core.Signal, bound: list[Any]
    ) -> Failure:
        i = self.step_index[id(step)]
        explainer = self.explainers.get((rule.id, i), False)
        if explainer is False:
            src = self.sources.get(rule.id)
            explainer = _StepExplainer(src, i) if src is not None else None
            self.explainers[(rule.id, i)] = explainer
        found = explainer.first_failure(signal, bound) if explainer is not None else None
        if found is not None:
            return found
        reason = (
            "the step does not hold (no part of its condition was found false)"
            if explainer is not None
            else "the step does not hold (its source is not available or has changed)"
        )
        return Failure("", reason, (), rule.file, step.line, 1)

    def _miss(
        self,
        r: int,
        rule: core.RuleSpec,
        step: core.StepSpec,
        bound: list[core.Signal],
        failure: Failure,
        bound_id: int,
    ) -> None:
        self.seq += 1
        activity = self._make(rule, step, "near_miss", bound, failure)
        self.misses.append((r, self.seq, activity, bound_id))

    def _step_activity(
        self,
        rule: core.RuleSpec,
        step: core.StepSpec,
        what: str,
        bound: list[core.Signal],
        at: str | None = None,
        detail: str | None = None,
    ) -> None:
        r = self.rule_index[id(rule)]
        self.seq += 1
        self._add((1, r, self.seq), self._make(rule, step, what, bound, None, at, detail))

    def _activity(
        self,
        phase: int,
        r: int,
        rule: core.RuleSpec,
        what: str,
        step: core.StepSpec | None,
        bound: list[core.Signal],
        at: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.seq += 1
        self._add((phase, r, self.seq), self._make(rule, step, what, bound, None, at, detail))

    def _make(
        self,
        rule: core.RuleSpec,
        step: core.StepSpec | None,
        what: str,
        bound: list[core.Signal],
        failure: Failure | None,
        at: str | None = None,
        detail: str | None = None,
    ) -> Activity:
        anon = bound[0].get("anonymousId") if bound else None
        if not bound and self.current is not None and self.current.signal is not None:
            anon = self.current.signal.get("anonymousId")
        return Activity(
            rule.id,
            what,
            None if step is None else self.step_index[id(step)] + 1,
            None if step is None else _step_text(rule, step),
            rule.file,
            rule.line if step is None else step.line,
            tuple(self._num(s) for s in bound),
            anon if isinstance(anon, str) else None,
            at,
            detail,
            failure,
        )

    def _add(self, sort_key: tuple[int, int, int], activity: Activity) -> None:
        assert self.current is not None
        self.current.activities.append((sort_key, activity))

    def _num(self, signal: core.Signal) -> int:
        return self.numbers.get(id(signal), 0)

    # -- the result --
    def reports(self, anonymous_id: str | None, all_signals: bool) -> list[SignalReport]:
        def keep(a: Activity) -> bool:
            return self._wants_id(a.rule) and (
                anonymous_id is None or a.anonymous_id == anonymous_id
            )

        def keep_event(e: Emitted) -> bool:
            anon = e.event.get("anonymousId")
            return self._wants_id(e.rule) and (anonymous_id is None or anon == anonymous_id)

        out = []
        for draft in self.drafts:
            rep = draft.freeze(keep, keep_event)
            if (
                rep.activities
                or rep.events
                or (
                    all_signals
                    and not rep.end_of_stream
                    and (anonymous_id is None or rep.anonymous_id == anonymous_id)
                )
            ):
                out.append(rep)
        return out

    def _wants_id(self, rule_id: str) -> bool:
        return self.wanted is None or rule_id in self.wanted


def _trailing(rule: core.RuleSpec) -> tuple[core.StepSpec, ...]:
    """The `unless` steps after the rule's last positive step."""
    last = rule.steps.index(rule.positives[-1])
    return tuple(s for s in rule.steps[last + 1 :] if s.negated)


def _step_text(rule: core.RuleSpec, step: core.StepSpec) -> str:
    word = "unless" if step.negated else "when" if step is rule.positives[0] else "then"
    alias = f"{step.alias} = " if step.alias else ""
    cond = "(...)" if step.atoms or step.corr is not None else ""
    return f"{word} {alias}{step.kind}{cond}"


def _within_text(src: _Source | None, index: int, ms: float) -> str:
    d = src.rule.steps[index].within if src is not None else None
    return d.text if d is not None else _duration(ms)


def _span_of(span: Any, file: str, line: int) -> tuple[str, int, int]:
    if span is None:
        return file, line, 1
    return span.file, span.line, span.column


def _duration(ms: float) -> str:
    """`500ms`, `2.5s`, `12m`, `3h`: a length of time, shortest unit that reads well."""
    for unit, size, limit in (
        ("ms", 1.0, 1000.0),
        ("s", 1000.0, 120_000.0),
        ("m", 60_000.0, 7_200_000.0),
    ):
        if ms < limit:
            return f"{round(ms / size, 3):g}{unit}"
    return f"{round(ms / 3_600_000.0, 3):g}h"


def _iso(ms: float | None) -> str | None:
    if ms is None:
        return None
    whole = round(ms)
    t = datetime.fromtimestamp(whole // 1000, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{whole % 1000:03d}Z"


# ---- rendering ----------------------------------------------------------------------------


def _header(rep: SignalReport) -> str:
    if rep.rejected is not None:
        return f"line {rep.line}  rejected: {rep.rejected}"
    if rep.end_of_stream:
        return "end of stream"
    return f"#{rep.number} line {rep.line}  {rep.anonymous_id or '-'}  {rep.kind}  {rep.timestamp}"


def _numbers(partial: tuple[int, ...]) -> str:
    return "[" + " ".join(f"#{n}" for n in partial) + "]"


def _activity_lines(a: Activity, anon: str | None) -> list[str]:
    who = f" (anonymousId {a.anonymous_id})" if a.anonymous_id and a.anonymous_id != anon else ""
    if a.step is None:
        head = f"  {a.rule} {'match' if a.what == 'cancelled' else 'partial'} {_numbers(a.partial)}"
        if a.what == "expired":
            return [f"{head} expired at {a.at} ({a.detail}){who}"]
        if a.what == "evicted":
            return [f"{head} evicted at {a.at} ({a.detail}){who}"]
        return [f"{head} {a.what}{who}"]
    head = f"  {a.rule} step {a.step} `{a.step_text}` ({a.file}:{a.line})"
    if a.what == "near_miss":
        assert a.failure is not None
        f = a.failure
        target = f" for {_numbers(a.partial)}" if a.partial else ""
        where = f"{f.location}" + (f" (predicate {f.predicate})" if f.predicate else "")
        return [
            f"{head} near miss{target}:{who}",
            f"    {f.message.ljust(_MESSAGE_WIDTH)}  {where}",
        ]
    if a.what == "held":
        return [f"{head}: completed {_numbers(a.partial)}, held back until {a.at} {a.detail}{who}"]
    if a.what == "cancelled" and a.detail:
        return [f"{head}: cancelled {_numbers(a.partial)} ({a.detail}){who}"]
    return [f"{head}: {a.what} {_numbers(a.partial)}{who}"]


def _event_line(e: Emitted, anon: str | None) -> str:
    ev = e.event
    name = ev.get("event") if ev.get("type") == "track" else ev.get("name")
    label = ev.get("type", "?") + (f" {json.dumps(name, ensure_ascii=False)}" if name else "")
    held = " (released: its `unless` window passed)" if e.released else ""
    who = ev.get("anonymousId")
    who_text = f" (anonymousId {who})" if isinstance(who, str) and who != anon else ""
    return f"  => {label} emitted by {e.rule} from {_numbers(e.signals)}{held}{who_text}"


def _report_json(rep: SignalReport) -> dict[str, Any]:
    return {
        "signal": rep.number,
        "line": rep.line,
        "anonymousId": rep.anonymous_id,
        "kind": rep.kind,
        "timestamp": rep.timestamp,
        "endOfStream": rep.end_of_stream,
        "rejected": rep.rejected,
        "activities": [_activity_json(a) for a in rep.activities],
        "events": [
            {"rule": e.rule, "signals": list(e.signals), "released": e.released, "event": e.event}
            for e in rep.events
        ],
    }


def _activity_json(a: Activity) -> dict[str, Any]:
    f = a.failure
    return {
        "rule": a.rule,
        "what": a.what,
        "step": a.step,
        "stepText": a.step_text,
        "file": a.file,
        "line": a.line,
        "partial": list(a.partial),
        "anonymousId": a.anonymous_id,
        "at": a.at,
        "detail": a.detail,
        "failure": None
        if f is None
        else {
            "condition": f.condition,
            "message": f.message,
            "values": [{"expr": k, "value": v} for k, v in f.values],
            "file": f.file,
            "line": f.line,
            "column": f.column,
            "predicate": f.predicate,
        },
    }
