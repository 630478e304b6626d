"""`evrule explain`: near misses with their failing condition, the life of partial matches, and
the promise that explain reports exactly the events `evrule run` writes."""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import evrule
from evrule.cli import cli
from evrule.commands.explain_cmd import explain_command
from evrule.explain import SignalReport, explain, render_json, render_text
from tests.helpers import click, request, response, signal

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.evrule"))

RULES = """\
predicate cart_api = url glob "*/api/cart*" and method == "POST"

track "Add to Cart"
  id "cart.add"
  within 15s
  when click = interaction.click(target.innerText ==~ "add to cart")
  then req = network.request(cart_api) within 2s
  then resp = network.response(requestId == req.requestId and ok) within 10s
  map properties.product = resp.body.id

track "Add to Cart Failed"
  id "cart.failed"
  when click = interaction.click(target.innerText ==~ "add to cart")
  then req = network.request(cart_api) within 2s
  unless network.response(requestId == req.requestId and ok) within 5s

track "Express Checkout"
  id "checkout.express"
  when cart = navigation(path == "/cart")
  unless navigation(path startswith "/checkout")
  then order = network.request(url glob "*/api/orders")
"""
SOURCES = {"shop.evrule": RULES}
CART = "https://shop.example/api/cart"


def _at(line: int, text: str) -> str:
    """`shop.evrule:line:column` of `text` on that line of RULES."""
    return f"shop.evrule:{line}:{RULES.splitlines()[line - 1].index(text) + 1}"


def _run(signals: list[dict[str, Any]], **options: Any) -> list[SignalReport]:
    return explain(SOURCES, signals, **options)


def _misses(reports: list[SignalReport], rule: str) -> list[Any]:
    return [a for r in reports for a in r.activities if a.rule == rule and a.what == "near_miss"]


def _cart(*tail: dict[str, Any]) -> list[dict[str, Any]]:
    return [click("a1", 0, 1, "Add to cart"), request("a1", 0.5, 2, CART, "r1"), *tail]


# ---- near misses --------------------------------------------------------------------------


def test_near_miss_wrong_text_on_a_click(snapshot: Any) -> None:
    # A first step's near misses are reported when the rule is asked for by id.
    reports = _run([click("a1", 0, 1, "Add to wishlist")], rule="cart.add")
    assert render_text(reports) == snapshot
    (miss,) = _misses(reports, "cart.add")
    assert (miss.step, miss.partial) == (1, ())
    f = miss.failure
    assert f.condition == 'target.innerText ==~ "add to cart"'
    assert f.values == (("target.innerText", "Add to wishlist"),)
    assert f.location == _at(6, "target.innerText")
    # Without --rule a click that starts nothing is not news.
    assert _run([click("a1", 0, 1, "Add to wishlist")]) == []


def test_near_miss_failed_response(snapshot: Any) -> None:
    reports = _run(_cart(response("a1", 1, 3, CART, "r1", status=503)))
    assert render_text(reports) == snapshot
    (miss,) = _misses(reports, "cart.add")
    assert (miss.step, miss.partial) == (3, (1, 2))
    assert miss.failure.message == "`ok` is false (actual: false)"
    assert miss.failure.location == _at(8, "ok)")


def test_near_miss_correlation_mismatch(snapshot: Any) -> None:
    reports = _run(_cart(response("a1", 1, 3, CART, "r2")))
    assert render_text(reports) == snapshot
    (miss,) = _misses(reports, "cart.add")
    assert miss.failure.condition == "requestId == req.requestId"
    assert miss.failure.values == (("requestId", "r2"), ("req.requestId", "r1"))
    assert miss.failure.location == _at(8, "requestId ==")


def test_near_miss_window_too_late(snapshot: Any) -> None:
    reports = _run(_cart(response("a1", 12, 3, CART, "r1")))
    assert render_text(reports) == snapshot
    (miss,) = _misses(reports, "cart.add")
    assert miss.failure.condition == "within 10s"
    assert miss.failure.message.startswith("too late: 11.5s after `req` (#2)")
    assert miss.failure.location == _at(8, "10s")


def test_near_miss_rule_window_too_late() -> None:
    rules = {
        "w.evrule": 'track "W"\n  id "w"\n  within 3s\n'
        '  when a = interaction.click(target.innerText == "A")\n'
        '  then b = interaction.click(target.innerText == "B")\n'
    }
    reports = explain(rules, [click("a1", 0, 1, "A"), click("a1", 4, 2, "B")])
    (miss,) = _misses(reports, "w")
    assert miss.failure.message == "too late: 4s after the first step (#1), rule window `within 3s`"
    assert miss.failure.location == "w.evrule:3:10"


def test_near_miss_inside_a_predicate_definition() -> None:
    signals = [
        click("a1", 0, 1, "Add to cart"),
        request("a1", 0.5, 2, CART, "r1", method="DELETE"),
    ]
    (miss,) = _misses(_run(signals), "cart.add")
    f = miss.failure
    assert (f.condition, f.predicate) == ('method == "POST"', "cart_api")
    assert f.location == _at(1, "method")
    assert f.values == (("method", "DELETE"),)


def test_near_miss_values_that_cannot_be_computed_or_are_missing() -> None:
    rules = {
        "o.evrule": 'track "Big"\n  id "big"\n'
        "  when resp = network.response(ok and number(body.total) >= 500 and body.x.y == 3)\n"
    }
    signals = [
        response("a1", 0, 1, "u", "r", body={"total": "n/a"}),
        response("a1", 1, 2, "u", "r", body={"total": "900"}),
    ]
    first, second = (m.failure for m in _misses(explain(rules, signals, rule="big"), "big"))
    assert first.message == (
        "`number(body.total) >= 500` cannot be computed: number('n/a'): not a number"
    )
    assert first.values == (("number(body.total)", None),)
    assert second.message == "`body.x.y == 3` is false (body.x.y: null)"


def test_near_miss_of_an_unless_step_with_rule() -> None:
    signals = _cart(response("a1", 1, 3, CART, "r1", status=500))
    reports = _run(signals, rule="cart.failed")
    (miss,) = _misses(reports, "cart.failed")
    assert (miss.step, miss.step_text) == (3, "unless network.response(...)")
    assert miss.failure.condition == "ok"
    assert [e.rule for r in reports for e in r.events] == ["cart.failed"]


def test_a_signal_taken_by_one_match_is_no_near_miss_of_another() -> None:
    # Two pending requests; the answer to the older one fails the newer one's correlation on
    # the way, but it extends the older one, so it is no near miss.
    signals = [
        click("a1", 0, 1, "Add to cart"),
        request("a1", 0.5, 2, CART, "r1"),
        click("a1", 1, 3, "Add to cart"),
        request("a1", 1.5, 4, CART, "r2"),
        response("a1", 2, 5, CART, "r1"),
    ]
    reports = _run(signals)
    assert _misses(reports, "cart.add") == []
    last = reports[4].activities
    assert [(a.rule, a.what, a.partial) for a in last if a.rule == "cart.add"] == [
        ("cart.add", "completed", (1, 2, 5))
    ]


# ---- the life of partial matches ----------------------------------------------------------


def test_expiry_eviction_and_cancellation(snapshot: Any) -> None:
    signals = [
        signal("navigation", "a1", 0, 1, path="/cart"),
        signal("navigation", "a1", 1, 2, path="/checkout/address"),  # cancels the middle gap
        click("a1", 2, 3, "Add to cart"),
        click("a1", 2.5, 4, "Add to cart"),  # evicts #3 (max_partials=1)
        request("a1", 3, 5, CART, "r1"),
        response("a1", 3.5, 6, CART, "r1"),  # completes cart.add, cancels the held-back failure
        click("a1", 10, 7, "Add to cart"),
        request("a1", 10.5, 8, CART, "r2"),  # held back until 15.5s
        signal("navigation", "a2", 40, 1, path="/"),  # releases it; cart.add [#7 #8] expires
    ]
    reports = _run(signals, max_partials=1)
    assert render_text(reports) == snapshot
    whats = [(r.number, a.rule, a.what) for r in reports for a in r.activities]
    assert (2, "checkout.express", "cancelled") in whats
    assert (4, "cart.add", "evicted") in whats
    assert (6, "cart.failed", "cancelled") in whats
    expired = [a for r in reports for a in r.activities if a.what == "expired"]
    assert [(a.rule, a.partial, a.at) for a in expired] == [
        ("cart.add", (7, 8), "2026-03-01T12:00:20.500Z")
    ]
    released = [e for r in reports for e in r.events if e.released]
    assert [(e.rule, e.signals) for e in released] == [("cart.failed", (7, 8))]


def test_end_of_stream_expires_what_is_left() -> None:
    reports = _run([click("a1", 0, 1, "Add to cart")])
    end = reports[-1]
    assert end.end_of_stream
    assert {(a.rule, a.what, a.detail) for a in end.activities} == {
        ("cart.add", "expired", "step 2 `within 2s` after #1"),
        ("cart.failed", "expired", "step 2 `within 2s` after #1"),
    }


# ---- filters and formats ------------------------------------------------------------------


STREAM = [
    click("a1", 0, 1, "Add to cart"),
    click("a2", 0.1, 1, "Add to cart"),
    request("a1", 0.5, 2, CART, "r1"),
    request("a2", 0.6, 2, CART, "r2"),
    response("a1", 1, 3, CART, "r1"),
    response("a2", 1.1, 3, CART, "r2", status=500),
    signal("navigation", "a2", 1.2, 4, path="/cart"),
]


def test_rule_filter() -> None:
    reports = _run(STREAM, rule="cart.add")
    assert {a.rule for r in reports for a in r.activities} == {"cart.add"}
    assert [e.rule for r in reports for e in r.events] == ["cart.add"]
    assert 7 not in [r.number for r in reports]  # the navigation touched only another rule
    with pytest.raises(ValueError, match="no rule 'nope'"):
        _run(STREAM, rule="nope")


def test_anonymous_id_filter() -> None:
    reports = _run(STREAM, anonymous_id="a2")
    assert {r.anonymous_id for r in reports if not r.end_of_stream} == {"a2"}
    assert {a.anonymous_id for r in reports for a in r.activities} == {"a2"}
    assert [e.event["anonymousId"] for r in reports for e in r.events] == ["a2"]
    everything = _run(STREAM, anonymous_id="a2", all_signals=True)
    assert [r.number for r in everything if r.number] == [2, 4, 6, 7]


def test_all_lists_quiet_signals_and_rejected_lines() -> None:
    lines = [json.dumps(click("a1", 0, 1, "Hello")), "not json", json.dumps(STREAM[0])]
    assert [r.number for r in explain(SOURCES, lines)] == [2, None]
    reports = explain(SOURCES, lines, all_signals=True)
    assert [(r.number, r.line) for r in reports][:3] == [(1, 1), (None, 2), (2, 3)]
    assert reports[1].rejected is not None and reports[1].rejected.startswith("not valid JSON")
    assert render_text(reports).splitlines()[:2] == [
        "#1 line 1  a1  interaction.click  2026-03-01T12:00:00.000Z",
        "line 2  rejected: " + reports[1].rejected,
    ]


def test_json_format() -> None:
    reports = _run(_cart(response("a1", 1, 3, CART, "r2"), response("a1", 2, 4, CART, "r1")))
    rows = [json.loads(line) for line in render_json(reports).splitlines()]
    keys = ["signal", "line", "anonymousId", "kind", "timestamp", "endOfStream", "rejected"]
    assert all(list(row)[:7] == keys for row in rows)
    miss = rows[2]["activities"][0]
    assert list(miss) == [
        "rule", "what", "step", "stepText", "file", "line", "partial", "anonymousId", "at",
        "detail", "failure",
    ]  # fmt: skip
    assert miss["failure"] == {
        "condition": "requestId == req.requestId",
        "message": '`requestId == req.requestId` is false (requestId: "r2", req.requestId: "r1")',
        "values": [{"expr": "requestId", "value": "r2"}, {"expr": "req.requestId", "value": "r1"}],
        "file": "shop.evrule",
        "line": 8,
        "column": RULES.splitlines()[7].index("requestId ==") + 1,
        "predicate": None,
    }
    (event,) = rows[3]["events"]
    assert (event["rule"], event["signals"], event["released"]) == ("cart.add", [1, 2, 4], False)
    assert event["event"]["properties"] == {"product": None}


def test_compiled_plan_finds_its_sources(tmp_path: Path) -> None:
    rules = tmp_path / "shop.evrule"
    rules.write_text(RULES, "utf-8")
    plan = evrule.compile([rules])
    signals = _cart(response("a1", 1, 3, CART, "r2"))
    from_plan = explain(plan, signals)
    assert from_plan == explain([rules], signals)
    # When the file changed since, positions are not guessed.
    rules.write_text(RULES.replace("and ok", "and status == 200"), "utf-8")
    (miss,) = _misses(explain(plan, signals), "cart.add")
    assert miss.failure.condition == ""
    assert "source is not available or has changed" in miss.failure.message


# ---- the command --------------------------------------------------------------------------


def test_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("shop.evrule").write_text(RULES, "utf-8")
    signals = _cart(response("a1", 1, 3, CART, "r1", status=500))
    Path("in.jsonl").write_text("".join(json.dumps(s) + "\n" for s in signals), "utf-8")
    runner = CliRunner()
    result = runner.invoke(explain_command, ["shop.evrule", "-i", "in.jsonl"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_text(explain(["shop.evrule"], signals))
    assert "    `ok` is false (actual: false)" in result.stdout

    bad = runner.invoke(explain_command, ["shop.evrule", "-i", "in.jsonl", "--rule", "nope"])
    assert bad.exit_code == 2 and "no rule 'nope'" in bad.output
    Path("broken.evrule").write_text('track "X"\n  when c = interaction.clik\n', "utf-8")
    broken = runner.invoke(explain_command, ["broken.evrule", "-i", "in.jsonl"])
    assert broken.exit_code == 1 and "E201" in broken.output
    missing = runner.invoke(explain_command, ["shop.evrule", "-i", "nope.jsonl"])
    assert missing.exit_code == 2


# ---- explain and run agree ----------------------------------------------------------------


SHOP = "https://shop.example"


def _shop_stream(seed: int, users: int = 6, sessions: int = 5) -> list[dict[str, Any]]:
    """Interleaved sessions of a web shop: views, carts that work and fail, checkouts, orders,
    forms and noise, with late and mismatched answers, mostly in time order."""
    rng = random.Random(seed)
    out: list[tuple[float, int, dict[str, Any]]] = []
    for u in range(users):
        anon, t, steps = f"anon-{u}", rng.uniform(0, 30), []
        for rid in range(1, sessions + 1):
            scene = rng.choice(["view", "cart", "cart", "checkout", "order", "forms", "noise"])
            steps += _scene(rng, scene, rid)
        for index, (dt, kind, data) in enumerate(steps, 1):
            t += dt
            if kind != "navigation":
                data.setdefault("page", {"path": "/products/7-boot", "url": SHOP + "/products/7"})
            out.append((t, len(out), signal(kind, anon, t, index, **data)))
    # A collector delivers a few signals late.
    out.sort(key=lambda x: (x[0] + (rng.uniform(0, 2) if rng.random() < 0.05 else 0), x[1]))
    return [s for _, _, s in out]


def _scene(rng: random.Random, scene: str, rid: int) -> list[tuple[float, str, dict[str, Any]]]:
    """(seconds after the previous signal, kind, data) of one thing a shopper does."""
    u = rng.uniform
    if scene == "view":
        path = f"/products/{rng.randint(1, 9)}-boot"
        return [(u(1, 20), "navigation", {"path": path, "currentUrl": SHOP + path})]
    if scene == "cart":
        text = rng.choice(["Add to cart", "Add to Cart", "Wishlist"])
        status = rng.choice([200, 200, 201, 500])
        cart = {"url": SHOP + "/api/cart/items", "requestId": f"r{rid}"}
        body = {"item": {"productId": "7", "price": "19.90"}, "cartId": "c1"}
        other = {"url": SHOP + "/api/recs", "status": 200, "ok": True, "requestId": "x"}
        return [
            (u(1, 10), "interaction.click", {"target": {"innerText": text}}),
            (u(0.1, 3), "network.request", {**cart, "method": "POST", "body": {"quantity": 2}}),
            *([(0.2, "network.response", other)] if rng.random() < 0.3 else []),
            (u(0.1, 12), "network.response", {**cart, "status": status, "ok": status < 300,
                                              "body": body}),
        ]  # fmt: skip
    if scene == "checkout":
        cart = {"url": SHOP + "/api/cart", "status": 200, "ok": True, "requestId": f"c{rid}"}
        checkout = {"path": "/checkout", "previousUrl": SHOP + "/cart"}
        return [
            (u(1, 20), "navigation", {"path": "/cart", "currentUrl": SHOP + "/cart"}),
            *([(u(1, 5), "navigation", checkout)] if rng.random() < 0.5 else []),
            (u(0.5, 6), "network.response", {**cart, "body": {"id": "c1", "total": "39.80"}}),
        ]
    if scene == "order":
        order = {"url": SHOP + "/api/orders", "requestId": f"o{rid}"}
        body = {"order": {"id": rid, "total": "39.80", "currency": "eur"}}
        return [
            (u(1, 20), "network.request", {**order, "method": "POST"}),
            (u(0.5, 40), "network.response", {**order, "status": 201, "ok": True, "body": body}),
        ]
    if scene == "forms":
        newsletter = {"id": "newsletter-form", "formData": {"email": " A@B.io "}}
        return [
            (u(1, 20), "navigation", {"path": "/signup", "search": "?plan=pro"}),
            *([(u(5, 700), "interaction.submit", {"target": {"id": "signup-form"}})]
              if rng.random() < 0.5 else []),
            (u(1, 5), "interaction.submit", {"target": newsletter}),
        ]  # fmt: skip
    return [(u(0.1, 3), "interaction.click", {"target": {"innerText": "Menu"}})]


@pytest.mark.parametrize(
    "options",
    [[], ["--max-partials", "1", "--lateness", "1s"], ["--key", "anonymousId", "--sort"]],
)
def test_explain_and_run_report_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    monkeypatch.chdir(ROOT)
    signals = _shop_stream(seed=len(options))
    path = tmp_path / "signals.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in signals), "utf-8")
    runner = CliRunner()
    ran = runner.invoke(cli, ["run", *EXAMPLES, "-i", str(path), "--summary", "none", *options])
    assert ran.exit_code == 0, ran.output
    run_events = [json.loads(line) for line in ran.stdout.splitlines()]
    explained = runner.invoke(
        explain_command, [*EXAMPLES, "-i", str(path), "--format", "json", *options]
    )
    assert explained.exit_code == 0, explained.output
    reports = [json.loads(line) for line in explained.stdout.splitlines()]
    explain_events = [e["event"] for r in reports for e in r["events"]]
    assert len(run_events) >= 10, "the stream should make the example rules fire"
    assert explain_events == run_events
    whats = {a["what"] for r in reports for a in r["activities"]}
    assert {"started", "completed", "near_miss", "expired", "held", "cancelled"} <= whats


# ---- the example in the docs --------------------------------------------------------------

_DOC_BLOCK = re.compile(r"<!-- explain-example: (.*?) -->\n```\w*\n(.*?)```", re.DOTALL)


def test_the_example_in_the_docs_is_what_explain_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    blocks = _DOC_BLOCK.findall((ROOT / "docs" / "explain.md").read_text("utf-8"))
    files = {name: text for name, text in blocks if " " not in name}
    runs = [(shlex.split(args), text) for args, text in blocks if " " in args]
    assert set(files) == {"signals.jsonl"} and runs
    (tmp_path / "signals.jsonl").write_text(files["signals.jsonl"], "utf-8")
    for args, expected in runs:
        args = [str(tmp_path / a) if a in files else a for a in args]
        result = CliRunner().invoke(explain_command, args)
        assert result.exit_code == 0, result.output
        assert result.stdout == expected, f"docs/explain.md is out of date for {args}"
