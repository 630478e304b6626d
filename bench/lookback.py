"""A look-back matcher in the style of Segment's own Signals runtime, for comparison.

Segment's runtime (shared/reference/segment-signals.md) keeps a buffer of recent signals and, for
every rule on every signal, asks whether the signal fits the rule's last trigger (`current`);
if it does, it looks back through the buffer for the most recent earlier signal that fits each
earlier trigger. This module does the same over a per-key buffer of the last 100 signals, with
evrule's compiled predicates (no sharing of predicate results between rules: each rule tests
its own triggers, as Segment's rules do). A match builds the same Segment Spec event evrule
would, so both sides pay for their output.

It differs from evrule's semantics where matches overlap: a signal may be used by several
matches of the same rule, and nothing is consumed. On `generate.pairs_workload` the two agree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from evrule.runtime import core

Signal = dict[str, Any]
BUFFER = 100


class _Trigger:
    __slots__ = ("corr", "kind", "test")

    def __init__(self, kind: str, test: Callable[[Signal], bool], corr: Any) -> None:
        self.kind = kind
        self.test = test
        self.corr = corr


def _test(atoms: tuple[Callable[[Signal], bool], ...]) -> Callable[[Signal], bool]:
    def test(s: Signal) -> bool:
        for a in atoms:
            try:
                if not a(s):
                    return False
            except Exception:
                return False
        return True

    return test


class LookBack:
    """Segment-style matching: per rule per signal, scan back for the earlier triggers."""

    def __init__(self, program: core.Program, version: str = "0.0.0", max_span_ms: float = 1.8e6):
        self.rules = program.rules
        self.version = version
        self.buffers: dict[str, deque[tuple[float, str, str, Signal]]] = {}
        self.triggers: list[tuple[core.RuleSpec, list[_Trigger], float]] = []
        for rule in self.rules:
            if any(s.negated for s in rule.steps):
                raise ValueError(f"{rule.id}: Segment's rules have no `unless`")
            trig = [
                _Trigger(s.kind, _test(tuple(program.atoms[a] for a in s.atoms)), s.corr)
                for s in rule.positives
            ]
            self.triggers.append((rule, trig, rule.within or max_span_ms))
        self.matches: list[tuple[str, str, tuple[int, ...]]] = []
        self.identity: dict[str, str] = {}

    def feed(self, signal: Signal) -> list[dict[str, Any]]:
        ts = core.parse_ts(signal.get("timestamp"))
        key = signal.get("anonymousId")
        if ts is None or type(key) is not str:
            return []
        specific, base = core.kind_of(signal)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = deque(maxlen=BUFFER)
        out: list[dict[str, Any]] = []
        for rule, trig, span in self.triggers:
            last = trig[-1]
            if last.kind != specific and last.kind != base:
                continue
            if not last.test(signal):
                continue
            bound = self._look_back(buf, trig, signal, ts, span)
            if bound is not None:
                out.append(self._event(rule, bound))
        buf.append((ts, specific, base, signal))
        return out

    def _look_back(
        self,
        buf: deque[tuple[float, str, str, Signal]],
        trig: list[_Trigger],
        current: Signal,
        ts: float,
        span: float,
    ) -> list[Signal] | None:
        n = len(trig)
        if n == 1:
            return [current] if trig[0].corr is None or _corr(trig[0], current, []) else None
        # Depth-first from the last trigger backwards: for each earlier trigger, the most recent
        # earlier signal that fits it (and the correlations that can be checked once it is
        # bound); on a dead end, the next older candidate.
        found: list[Signal | None] = [None] * n
        found[-1] = current
        items = list(buf)

        def search(step: int, before: int) -> bool:
            t = trig[step]
            for i in range(before - 1, -1, -1):
                at, specific, base, s = items[i]
                if ts - at > span:
                    return False
                if (t.kind != specific and t.kind != base) or not t.test(s):
                    continue
                found[step] = s
                if step == 0:
                    bound = [x for x in found if x is not None]
                    if all(_corr(trig[k], bound[k], bound[:k]) for k in range(n)):
                        return True
                    continue
                if search(step - 1, i):
                    return True
            return False

        if search(n - 2, len(items)):
            return [s for s in found if s is not None]
        return None

    def _event(self, rule: core.RuleSpec, bound: list[Signal]) -> dict[str, Any]:
        def warn(message: str, line: int) -> None:
            pass

        fields = rule.build(bound, warn)
        event = core.build_event(rule, bound, fields, self.identity, self.version)
        self.matches.append(
            (rule.id, str(bound[-1].get("anonymousId")), tuple(int(s["index"]) for s in bound))
        )
        return event

    def feed_many(self, signals: list[Signal]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for s in signals:
            out.extend(self.feed(s))
        return out


def _corr(t: _Trigger, s: Signal, bound: list[Signal]) -> bool:
    if t.corr is None:
        return True
    try:
        return bool(t.corr(s, bound))
    except Exception:
        return False
