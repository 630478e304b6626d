"""Drive a matcher over a stream: events out, rejections to the dead letters, a summary.

This is `evrule run` without the command line, so tests, `evrule test` and `evrule explain`
run signals exactly the way `evrule run` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from evrule.runtime.io import Item, Rejected, dump_json

SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
"""The largest message Segment's HTTP tracking API accepts."""


class StrictStop(Exception):
    """`--strict`: the first rejected signal or map warning stops the run."""


@dataclass
class Summary:
    """What a run did, for the report at its end."""

    lines: int = 0
    signals: int = 0
    events: int = 0
    events_by_rule: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    expired: int = 0
    evicted: int = 0
    cancelled: int = 0
    warnings: int = 0
    # Events larger than Segment's HTTP API takes (32 KB a message), by rule; still written.
    oversized: Counter[str] = field(default_factory=Counter)
    warning_samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "signals": self.signals,
            "events": self.events,
            "eventsByRule": dict(sorted(self.events_by_rule.items())),
            "rejected": self.rejected_total,
            "rejectedByReason": dict(sorted(self.rejected.items())),
            "expired": self.expired,
            "evicted": self.evicted,
            "cancelled": self.cancelled,
            "warnings": self.warnings,
            "oversizedByRule": dict(sorted(self.oversized.items())),
            "warningSamples": self.warning_samples,
        }

    def render(self) -> str:
        out = [
            f"signals read: {self.signals} (from {self.lines} lines)",
            f"events emitted: {self.events}",
        ]
        out += [f"  {rule}: {n}" for rule, n in sorted(self.events_by_rule.items())]
        out.append(f"rejected: {self.rejected_total}")
        out += [f"  {reason}: {n}" for reason, n in sorted(self.rejected.items())]
        out.append(
            f"partial matches expired: {self.expired}, evicted: {self.evicted}, "
            f"cancelled by unless: {self.cancelled}"
        )
        out.append(f"map warnings: {self.warnings}")
        if self.oversized:
            out.append(
                f"events over Segment's {SEGMENT_MAX_MESSAGE_BYTES // 1024} KB message limit "
                f"(written, but the tracking API will refuse them): {sum(self.oversized.values())}"
            )
            out += [f"  {rule}: {n}" for rule, n in sorted(self.oversized.items())]
        for w in self.warning_samples[:10]:
            out.append(f"  {w['file']}:{w['line']}: {w['rule']}: {w['message']}")
        return "\n".join(out)


def run(
    matcher: Any,
    items: Iterable[Item | Rejected],
    emit: Callable[[dict[str, Any]], None],
    reject: Callable[[Rejected], None],
    *,
    strict: bool = False,
    flush: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Feed every item to `matcher`; events go to `emit`, rejections to `reject`."""
    summary = Summary()
    stats = matcher.stats
    last_line = 0
    warned = 0
    refused = stats["rejected"]
    for item in items:
        if item.line != last_line:
            last_line = item.line
            summary.lines += 1
            if progress is not None:
                progress(item.line)
        if isinstance(item, Item):
            for event in matcher.feed(item.signal):
                emit(event)
            if stats["rejected"] == refused:
                summary.signals += 1
            else:
                # The matcher refused it (no key to match by, with --key): a dead letter too.
                refused = stats["rejected"]
                item = Rejected(item.line, str(matcher.rejection), dump_json(item.signal))
        if isinstance(item, Rejected):
            summary.rejected[item.category] += 1
            reject(item)
            if strict:
                raise StrictStop(f"line {item.line}: {item.reason}")
            continue
        if strict and stats["warnings"] != warned:
            w = matcher.warnings[-1]
            raise StrictStop(f"line {item.line}: {w['file']}:{w['line']}: {w['message']}")
        warned = stats["warnings"]
    if flush:
        for event in matcher.flush():
            emit(event)
    summary.events = sum(stats["events"].values())
    summary.events_by_rule.update(stats["events"])
    summary.expired = stats["expired"]
    summary.evicted = stats["evicted"]
    summary.cancelled = stats["cancelled"]
    summary.warnings = stats["warnings"]
    summary.warning_samples = list(matcher.warnings[:100])
    return summary
