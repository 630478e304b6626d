"""Small builders for signals and runs, shared by the runtime tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import evrule
from evrule.compiler.ir import Plan

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    """An ISO timestamp `seconds` after a fixed base time, with milliseconds."""
    t = BASE + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def signal(kind: str, anon: str, at: float, index: int, **data: Any) -> dict[str, Any]:
    """A signals-2.0 signal: `kind` like "interaction.click" or "navigation"."""
    base, _, sub = kind.partition(".")
    body = dict(data)
    if base == "interaction" and sub:
        body.setdefault("eventType", sub)
    if base == "network" and sub:
        body.setdefault("action", sub)
    return {
        "type": base,
        "anonymousId": anon,
        "timestamp": ts(at),
        "index": index,
        "context": {"library": {"name": "@segment/analytics-signals", "version": "1.0.0"}},
        "data": body,
    }


def click(anon: str, at: float, index: int, text: str, **target: Any) -> dict[str, Any]:
    return signal("interaction.click", anon, at, index, target={"innerText": text, **target})


def request(
    anon: str, at: float, index: int, url: str, rid: str, method: str = "POST"
) -> dict[str, Any]:
    return signal("network.request", anon, at, index, url=url, method=method, requestId=rid)


def response(
    anon: str, at: float, index: int, url: str, rid: str, status: int = 200, body: Any = None
) -> dict[str, Any]:
    return signal(
        "network.response",
        anon,
        at,
        index,
        url=url,
        status=status,
        ok=200 <= status < 300,
        requestId=rid,
        body=body,
        contentType="application/json",
    )


def plan_of(rules: str, name: str = "rules.evrule") -> Plan:
    return evrule.compile({name: rules})


def matcher_of(rules: str | Plan, backend: str, **options: Any) -> Any:
    plan = rules if isinstance(rules, Plan) else plan_of(rules)
    return evrule.load(plan, backend=backend, **options)


def run_all(
    rules: str | Plan, signals: list[dict[str, Any]], backend: str, **options: Any
) -> list[dict[str, Any]]:
    m = matcher_of(rules, backend, **options)
    return m.feed_many(signals) + m.flush()


def brief(event: dict[str, Any]) -> tuple[str, str, list[int]]:
    """(event name or type, anonymousId, indexes of the matched signals)."""
    name = event.get("event") or event.get("name") or event["type"]
    indexes = [int(s.split("/")[1]) for s in event["context"]["evrule"]["signals"]]
    return name, event["anonymousId"], indexes
