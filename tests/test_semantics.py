"""Every point of docs/semantics.md, on small streams, for both backends."""

from __future__ import annotations

import json

import pytest

from evrule import load as evrule_load
from evrule.runtime.core import dumps
from evrule.runtime.io import Item, sort_items
from evrule.runtime.runner import run
from tests.helpers import brief, click, matcher_of, plan_of, request, response, run_all, signal

CART = """
track "Add to Cart"
  id "cart"
  when click = interaction.click(target.innerText startswith "Add")
  then req   = network.request(url glob "*/api/cart*") within 2s
  then resp  = network.response(requestId == req.requestId and ok) within 10s
  map properties.label = click.target.innerText
      properties.product = resp.body.id
"""

CLICK_THEN_RESP = """
track "Clicked And Answered"
  id "car"
  when c = interaction.click(target.innerText == "Go")
  then r = network.response(ok)
"""


@pytest.fixture(params=["tables", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


# ---- keys -------------------------------------------------------------------------------


def test_keys_keep_matches_apart(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add"),
        request("a2", 1, 1, "https://x/api/cart", "r1"),
        response("a2", 2, 2, "https://x/api/cart", "r1"),
        request("a1", 1.5, 2, "https://x/api/cart", "r2"),
        response("a1", 4, 3, "https://x/api/cart", "r2", body={"id": "p1"}),
    ]
    events = run_all(CART, signals, backend)
    assert [brief(e) for e in events] == [("Add to Cart", "a1", [1, 2, 3])]


def test_keys_custom_key(backend: str) -> None:
    a = click("a1", 0, 1, "Go")
    b = response("a2", 1, 1, "https://x/", "r")
    for s in (a, b):
        s["context"]["sessionId"] = "S1"
    assert run_all(CLICK_THEN_RESP, [a, b], backend) == []
    events = run_all(CLICK_THEN_RESP, [a, b], backend, key="context.sessionId")
    assert [brief(e) for e in events] == [("Clicked And Answered", "a2", [1, 1])]


def test_keys_missing_key_is_dead_lettered(backend: str) -> None:
    m = matcher_of(CLICK_THEN_RESP, backend, key="userId")
    rejected = []
    summary = run(m, [Item(1, click("a1", 0, 1, "Go"))], lambda e: None, rejected.append)
    assert [r.reason for r in rejected] == ["no string 'userId' to match by"]
    assert summary.rejected_total == 1


# ---- order ------------------------------------------------------------------------------


def test_order_is_arrival_order(backend: str) -> None:
    late_click = click("a1", 0, 1, "Go")
    early_resp = response("a1", 1, 2, "https://x/", "r")
    # The response arrives first: arrival order, not timestamps, decides.
    assert run_all(CLICK_THEN_RESP, [early_resp, late_click], backend) == []


def test_order_sort_orders_by_timestamp_and_index(backend: str) -> None:
    late_click = click("a1", 0, 1, "Go")
    early_resp = response("a1", 1, 2, "https://x/", "r")
    items = sort_items([Item(1, early_resp), Item(2, late_click)])
    events = run_all(CLICK_THEN_RESP, [i.signal for i in items if isinstance(i, Item)], backend)
    assert [brief(e) for e in events] == [("Clicked And Answered", "a1", [1, 2])]


# ---- steps and consumption ----------------------------------------------------------------


def test_skip_noise(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add"),
        signal("navigation", "a1", 0.2, 2, path="/x", currentUrl="https://x/x"),
        click("a1", 0.3, 3, "Other"),
        request("a1", 1, 4, "https://x/api/cart", "r1"),
        request("a1", 1.5, 5, "https://x/api/other", "r2"),
        response("a1", 2, 6, "https://x/api/other", "r2"),
        response("a1", 3, 7, "https://x/api/cart", "r1", body={"id": "p"}),
    ]
    events = run_all(CART, signals, backend)
    assert [brief(e) for e in events] == [("Add to Cart", "a1", [1, 4, 7])]


def test_most_recent_partial_is_extended(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add one"),
        click("a1", 0.5, 2, "Add two"),
        request("a1", 1, 3, "https://x/api/cart", "r1"),
        response("a1", 1.5, 4, "https://x/api/cart", "r1"),
        request("a1", 2, 5, "https://x/api/cart", "r2"),
        response("a1", 2.5, 6, "https://x/api/cart", "r2"),
    ]
    events = run_all(CART, signals, backend)
    assert [brief(e) for e in events] == [
        ("Add to Cart", "a1", [2, 3, 4]),
        ("Add to Cart", "a1", [1, 5, 6]),
    ]
    assert [e["properties"]["label"] for e in events] == ["Add two", "Add one"]


def test_correlation_picks_the_matching_partial(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add one"),
        request("a1", 0.5, 2, "https://x/api/cart", "r1"),
        click("a1", 1, 3, "Add two"),
        request("a1", 1.5, 4, "https://x/api/cart", "r2"),
        # r1 answers first: it must complete the first click's match, not the most recent one.
        response("a1", 2, 5, "https://x/api/cart", "r1"),
    ]
    events = run_all(CART, signals, backend)
    assert [brief(e) for e in events] == [("Add to Cart", "a1", [1, 2, 5])]


def test_consumption_one_response_does_not_complete_two_clicks(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Go"),
        click("a1", 1, 2, "Go"),
        response("a1", 2, 3, "https://x/", "r"),
    ]
    events = run_all(CLICK_THEN_RESP, signals, backend)
    assert [brief(e) for e in events] == [("Clicked And Answered", "a1", [2, 3])]


def test_consumption_two_responses_do_not_count_one_click_twice(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Go"),
        response("a1", 1, 2, "https://x/", "r"),
        response("a1", 2, 3, "https://x/", "r2"),
    ]
    events = run_all(CLICK_THEN_RESP, signals, backend)
    assert [brief(e) for e in events] == [("Clicked And Answered", "a1", [1, 2])]


def test_signal_used_once_per_rule(backend: str) -> None:
    rules = """
track "Double Click"
  when a = interaction.click(target.innerText == "x")
  then b = interaction.click(target.innerText == "x") within 1s
"""
    signals = [click("a1", t * 0.1, i + 1, "x") for i, t in enumerate(range(3))]
    events = run_all(rules, signals, backend)
    # The second click completes the first; it does not also start a match of its own.
    assert [brief(e) for e in events] == [("Double Click", "a1", [1, 2])]


def test_other_rules_see_the_same_signal(backend: str) -> None:
    rules = """
track "A"
  when c = interaction.click(target.innerText == "Go")

track "B"
  when c = interaction.click
"""
    events = run_all(rules, [click("a1", 0, 1, "Go")], backend)
    assert [brief(e) for e in events] == [("A", "a1", [1]), ("B", "a1", [1])]


def test_one_step_rule_fires_on_every_matching_signal(backend: str) -> None:
    rules = """
page "Product"
  when nav = navigation(path glob "/products/*")
"""
    signals = [
        signal("navigation", "a1", i, i + 1, path=p, currentUrl="https://x" + p)
        for i, p in enumerate(["/products/1", "/about", "/products/2", "/products/1"])
    ]
    events = run_all(rules, signals, backend)
    assert [brief(e)[2] for e in events] == [[1], [3], [4]]


# ---- windows ----------------------------------------------------------------------------

WINDOW = """
track "Quick"
  id "quick"
  when c = interaction.click(target.innerText == "Go")
  then r = network.response(ok) within 2s
"""


@pytest.mark.parametrize(("delay", "fires"), [(2.0, True), (2.001, False), (0.0, True)])
def test_window_on_step_is_inclusive(backend: str, delay: float, fires: bool) -> None:
    signals = [click("a1", 0, 1, "Go"), response("a1", delay, 2, "https://x/", "r")]
    assert bool(run_all(WINDOW, signals, backend)) is fires


def test_window_on_rule_bounds_first_to_last(backend: str) -> None:
    rules = """
track "Funnel"
  within 5s
  when a = interaction.click(target.innerText == "1")
  then b = interaction.click(target.innerText == "2") within 4s
  then c = interaction.click(target.innerText == "3") within 4s
"""
    ok = [click("a1", 0, 1, "1"), click("a1", 2, 2, "2"), click("a1", 5, 3, "3")]
    slow = [click("a1", 0, 1, "1"), click("a1", 3, 2, "2"), click("a1", 6, 3, "3")]
    assert [brief(e)[2] for e in run_all(rules, ok, backend)] == [[1, 2, 3]]
    assert run_all(rules, slow, backend) == []


def test_window_default_max_span(backend: str) -> None:
    signals = [click("a1", 0, 1, "Go"), response("a1", 31 * 60, 2, "https://x/", "r")]
    assert run_all(CLICK_THEN_RESP, signals, backend) == []
    events = run_all(CLICK_THEN_RESP, signals, backend, max_span_ms=3_600_000)
    assert [brief(e)[2] for e in events] == [[1, 2]]


def test_window_uses_event_time_not_arrival(backend: str) -> None:
    # Arrival is immediate, but the timestamps are 3 s apart: the 2 s window rejects it.
    signals = [click("a1", 0, 1, "Go"), response("a1", 3, 2, "https://x/", "r")]
    assert run_all(WINDOW, signals, backend) == []


# ---- unless -----------------------------------------------------------------------------

FAILED = """
track "Add to Cart Failed"
  id "failed"
  when click = interaction.click(target.innerText == "Add")
  then req   = network.request(url contains "/api/cart") within 2s
  unless network.response(requestId == req.requestId and ok) within 5s
"""


def test_unless_trailing_waits_for_the_window(backend: str) -> None:
    m = matcher_of(FAILED, backend)
    out = m.feed_many([click("a1", 0, 1, "Add"), request("a1", 1, 2, "https://x/api/cart", "r1")])
    assert out == []  # held back: the window (request + 5 s) has not passed
    out = m.feed(signal("navigation", "a2", 5.9, 1, path="/"))
    assert out == []  # watermark 5.9 s, not yet past 6 s
    out = m.feed(signal("navigation", "a3", 6.5, 1, path="/"))
    assert [brief(e) for e in out] == [("Add to Cart Failed", "a1", [1, 2])]
    assert out[0]["timestamp"] == request("a1", 1, 2, "", "")["timestamp"]


def test_unless_cancelled_by_the_negated_signal(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response("a1", 3, 3, "https://x/api/cart", "r1", status=200),
        signal("navigation", "a2", 60, 1, path="/"),
    ]
    m = matcher_of(FAILED, backend)
    assert m.feed_many(signals) + m.flush() == []
    assert m.stats["cancelled"] == 1


def test_unless_correlation_matters(backend: str) -> None:
    # A successful response to a different request does not cancel.
    signals = [
        click("a1", 0, 1, "Add"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response("a1", 2, 3, "https://x/api/cart", "other", status=200),
        response("a1", 3, 4, "https://x/api/cart", "r1", status=500),
    ]
    events = run_all(FAILED, signals, backend)
    assert [brief(e)[2] for e in events] == [[1, 2]]


def test_unless_after_its_window_does_not_cancel(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response("a1", 7, 3, "https://x/api/cart", "r1", status=200),
    ]
    events = run_all(FAILED, signals, backend)
    assert [brief(e)[2] for e in events] == [[1, 2]]


def test_unless_emitted_by_flush_at_end_of_stream(backend: str) -> None:
    m = matcher_of(FAILED, backend)
    assert (
        m.feed_many([click("a1", 0, 1, "Add"), request("a1", 1, 2, "https://x/api/cart", "r")])
        == []
    )
    assert [brief(e)[2] for e in m.flush()] == [[1, 2]]


def test_unless_flush_until_a_time(backend: str) -> None:
    m = matcher_of(FAILED, backend)
    m.feed_many([click("a1", 0, 1, "Add"), request("a1", 1, 2, "https://x/api/cart", "r")])
    assert m.flush(until=signal("navigation", "x", 5.5, 1)["timestamp"]) == []
    assert len(m.flush(until=signal("navigation", "x", 6.5, 1)["timestamp"])) == 1


def test_unless_in_the_middle(backend: str) -> None:
    rules = """
track "Checkout Without Coupon"
  when start = navigation(path == "/checkout")
  unless interaction.click(target.innerText == "Apply coupon")
  then done = navigation(path == "/thanks") within 10m
"""
    nav = lambda at, i, p: signal("navigation", "a1", at, i, path=p)  # noqa: E731
    with_coupon = [nav(0, 1, "/checkout"), click("a1", 1, 2, "Apply coupon"), nav(2, 3, "/thanks")]
    without = [nav(0, 1, "/checkout"), click("a1", 1, 2, "Pay"), nav(2, 3, "/thanks")]
    assert run_all(rules, with_coupon, backend) == []
    assert [brief(e)[2] for e in run_all(rules, without, backend)] == [[1, 3]]


# ---- bounded state ----------------------------------------------------------------------


def test_eviction_of_the_oldest_partial(backend: str) -> None:
    m = matcher_of(CLICK_THEN_RESP, backend, max_partials=2)
    m.feed_many([click("a1", i, i + 1, "Go") for i in range(3)])
    assert m.stats["evicted"] == 1
    events = m.feed_many(
        [response("a1", 4, 4, "https://x/", "a"), response("a1", 5, 5, "https://x/", "b"),
         response("a1", 6, 6, "https://x/", "c")]
    )  # fmt: skip
    # Click 1 was evicted: only clicks 3 and 2 complete, most recent first.
    assert [brief(e)[2] for e in events] == [[3, 4], [2, 5]]


def test_expiry_counts_and_idle_keys_are_dropped(backend: str) -> None:
    m = matcher_of(WINDOW, backend)
    m.feed(click("a1", 0, 1, "Go"))
    assert m.export_state()["keys"]  # a1 holds one partial match
    m.feed(signal("navigation", "a2", 600, 1, path="/"))  # the watermark moves 10 minutes on
    assert m.stats["expired"] == 1
    assert m.export_state()["keys"] == {}


def test_flush_expires_remaining_partials(backend: str) -> None:
    m = matcher_of(CLICK_THEN_RESP, backend)
    m.feed_many([click("a1", 0, 1, "Go"), click("a2", 0, 1, "Go")])
    assert m.flush() == []
    assert m.stats["expired"] == 2


# ---- identity ---------------------------------------------------------------------------

IDENTITY = """
identify
  id "login"
  when login = network.response(url contains "/login" and ok)
  map userId = login.body.user.id

track "Clicked"
  id "clicked"
  when c = interaction.click

track "Signed Out"
  id "logout"
  when c = interaction.click(target.innerText == "Log out")
  reset
"""


def test_identity_is_carried_after_identify(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Before"),
        response("a1", 1, 2, "https://x/login", "r", body={"user": {"id": "u1"}}),
        click("a1", 2, 3, "After"),
        click("a2", 2, 1, "Other user"),
    ]
    events = run_all(IDENTITY, signals, backend)
    assert [(brief(e)[0], e.get("userId")) for e in events] == [
        ("Clicked", None),
        ("identify", "u1"),
        ("Clicked", "u1"),
        ("Clicked", None),
    ]


def test_identity_reset(backend: str) -> None:
    signals = [
        response("a1", 1, 1, "https://x/login", "r", body={"user": {"id": "u1"}}),
        click("a1", 2, 2, "Log out"),
        click("a1", 3, 3, "After"),
    ]
    events = run_all(IDENTITY, signals, backend)
    assert [(brief(e)[0], e.get("userId")) for e in events] == [
        ("identify", "u1"),
        ("Clicked", "u1"),
        ("Signed Out", "u1"),
        ("Clicked", None),
    ]


# ---- events -----------------------------------------------------------------------------


def test_event_shape_and_provenance(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add", id="buy"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response("a1", 2, 3, "https://x/api/cart", "r1", body={"id": "p9"}),
    ]
    signals[2]["data"]["page"] = {"path": "/p/9", "url": "https://x/p/9"}
    signals[2]["context"]["app"] = {"name": "shop"}
    (event,) = run_all(CART, signals, backend)
    assert list(event) == [
        "type", "event", "properties", "anonymousId", "timestamp", "messageId", "context",
        "integrations",
    ]  # fmt: skip
    assert event["properties"] == {"label": "Add", "product": "p9"}
    assert event["timestamp"] == signals[2]["timestamp"]
    assert event["messageId"].startswith("evr-") and len(event["messageId"]) == 36
    assert event["context"]["library"] == {"name": "evrule", "version": "0.1.0"}
    assert event["context"]["page"] == {"path": "/p/9", "url": "https://x/p/9"}
    assert event["context"]["app"] == {"name": "shop"}
    assert event["context"]["evrule"] == {
        "rule": "cart",
        "file": "rules.evrule",
        "line": 2,
        "signals": [f"a1/{i + 1}/{s['timestamp']}" for i, s in enumerate(signals)],
    }
    assert event["integrations"] == {}


def test_message_id_is_deterministic_and_follows_rule_content(backend: str) -> None:
    signals = [click("a1", 0, 1, "Go"), response("a1", 1, 2, "https://x/", "r")]
    first = [dumps(e) for e in run_all(CLICK_THEN_RESP, signals, backend)]
    again = [dumps(e) for e in run_all(CLICK_THEN_RESP, signals, backend)]
    assert first == again
    changed = CLICK_THEN_RESP.replace("then r = network.response(ok)", "then r = network.response")
    other = run_all(changed, signals, backend)
    assert json.loads(first[0])["messageId"] != other[0]["messageId"]


def test_signal_message_id_is_its_identity(backend: str) -> None:
    signals = [click("a1", 0, 1, "Go"), response("a1", 1, 2, "https://x/", "r")]
    signals[0]["messageId"] = "sig-1"
    (event,) = run_all(CLICK_THEN_RESP, signals, backend)
    assert event["context"]["evrule"]["signals"][0] == "sig-1"


def test_page_properties_from_page_data_unless_mapped(backend: str) -> None:
    rules = """
page "Product"
  id "p"
  when nav = navigation(path glob "/products/*")
  map properties.title = "Mapped {nav.title}"
"""
    nav = signal(
        "navigation", "a1", 0, 1, path="/products/1", currentUrl="https://x/products/1",
        title="Shoe", search="?q=1", previousUrl="https://x/",
    )  # fmt: skip
    (event,) = run_all(rules, [nav], backend)
    assert event["name"] == "Product"
    assert event["properties"] == {
        "path": "/products/1",
        "referrer": "https://x/",
        "search": "?q=1",
        "title": "Mapped Shoe",
        "url": "https://x/products/1",
    }


def test_map_error_gives_null_and_a_warning_with_the_rule_line(backend: str) -> None:
    rules = """
track "Priced"
  id "priced"
  when c = interaction.click
  map properties.price = number(c.target.innerText)
      properties.ok = "fine"
"""
    m = matcher_of(rules, backend)
    (event,) = m.feed(click("a1", 0, 1, "abc"))
    assert event["properties"] == {"price": None, "ok": "fine"}
    assert m.stats["warnings"] == 1
    assert m.warnings[0]["line"] == 5 and m.warnings[0]["rule"] == "priced"
    assert "number('abc')" in m.warnings[0]["message"]


def test_invalid_event_is_not_emitted_but_reported(backend: str) -> None:
    rules = """
track "{c.target.missing}"
  id "nameless"
  when c = interaction.click
  map event = c.target.missing
"""
    m = matcher_of(rules, backend)
    assert m.feed(click("a1", 0, 1, "x")) == []
    assert m.stats["warnings"] == 1
    assert "event not emitted" in m.warnings[0]["message"]


# ---- state ------------------------------------------------------------------------------


def test_state_roundtrip_mid_stream_gives_the_same_events(backend: str) -> None:
    signals = [
        click("a1", 0, 1, "Add"),
        click("a2", 0.1, 1, "Add"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        request("a2", 1.1, 2, "https://x/api/cart", "r2"),
        response("a1", 2, 3, "https://x/api/cart", "r1", status=500),
        signal("navigation", "a3", 20, 1, path="/"),
    ]
    rules = CART + FAILED + IDENTITY
    straight = run_all(rules, signals, backend)
    for cut in range(len(signals) + 1):
        first = matcher_of(rules, backend)
        events = first.feed_many(signals[:cut])
        state = json.loads(json.dumps(first.export_state()))
        second = matcher_of(rules, backend)
        second.import_state(state)
        events += second.feed_many(signals[cut:]) + second.flush()
        assert [dumps(e) for e in events] == [dumps(e) for e in straight], cut
    assert straight  # the stream does produce events


def test_state_of_changed_rule_is_dropped(backend: str) -> None:
    m = matcher_of(CLICK_THEN_RESP, backend)
    m.feed(click("a1", 0, 1, "Go"))
    state = m.export_state()
    changed = matcher_of(
        CLICK_THEN_RESP.replace("network.response(ok)", "network.response"), backend
    )
    changed.import_state(state)
    assert changed.feed(response("a1", 1, 2, "https://x/", "r")) == []
    assert changed.stats["expired"] == 1


def test_backends_give_byte_identical_events() -> None:
    plan = plan_of(CART + FAILED + IDENTITY)
    signals = [
        click("a1", 0, 1, "Add"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response("a1", 2, 3, "https://x/api/cart", "r1", body={"id": 1}),
        response("a1", 2, 4, "https://x/login", "r9", body={"user": {"id": "u"}}),
        click("a1", 9, 5, "Log out"),
    ]
    outs = [[dumps(e) for e in run_all(plan, signals, b)] for b in ("tables", "python")]
    assert outs[0] == outs[1] and outs[0]


def test_matchers_of_one_module_keep_their_own_windows() -> None:
    plan = plan_of(CLICK_THEN_RESP)
    short = evrule_load(plan, backend="python", max_span_ms=10_000)
    long = evrule_load(plan, backend="python", max_span_ms=120_000)
    signals = [click("a1", 0, 1, "Go"), response("a1", 60, 2, "https://x/", "r")]
    assert short.feed_many(signals) == []
    assert [brief(e)[2] for e in long.feed_many(signals)] == [[1, 2]]


def test_conditions_as_map_values(backend: str) -> None:
    rules = """
track "Order"
  id "order"
  when r = network.response(ok)
  map properties.big = r.body.total > 100 and r.body.currency == "EUR"
      properties.has_coupon = r.body.coupon exists
"""
    events = run_all(
        rules,
        [
            response("a1", 0, 1, "u", "r1", body={"total": 150, "currency": "EUR"}),
            response("a1", 1, 2, "u", "r2", body={"total": 50, "coupon": "X"}),
        ],
        backend,
    )
    assert [e["properties"] for e in events] == [
        {"big": True, "has_coupon": False},
        {"big": False, "has_coupon": True},
    ]


def test_equality_index_treats_integral_floats_as_integers(backend: str) -> None:
    rules = """
track "Created"
  id "created"
  when r = network.response(status == 201)
"""
    resp = response("a1", 0, 1, "u", "r", status=201)
    resp["data"]["status"] = 201.0  # JSON from some SDKs writes numbers as floats
    assert [brief(e)[2] for e in run_all(rules, [resp], backend)] == [[1]]


def test_explicit_data_prefix_reaches_keys_spelled_like_envelope_fields(backend: str) -> None:
    rules = """
track "Instrumented"
  id "instrumented"
  when i = instrumentation(data.type == "track" and type == "instrumentation")
  map properties.call = i.data.type
      properties.index = i.index
"""
    sig = signal("instrumentation", "a1", 0, 7, type="track", rawEvent={"event": "X"})
    (event,) = run_all(rules, [sig], backend)
    assert event["properties"] == {"call": "track", "index": 7}


def test_feeding_goes_on_after_an_end_of_stream_flush(backend: str) -> None:
    m = matcher_of(FAILED, backend)
    m.feed_many([click("a1", 0, 1, "Add"), request("a1", 1, 2, "https://x/api/cart", "r")])
    assert len(m.flush()) == 1
    state = m.export_state()
    json.dumps(state, allow_nan=False)  # no Infinity: the state is valid JSON
    # A later stream is matched as usual, held-back matches included.
    m.feed_many([click("a1", 100, 3, "Add"), request("a1", 101, 4, "https://x/api/cart", "r2")])
    out = m.feed(signal("navigation", "a2", 107, 1, path="/"))
    assert [brief(e)[2] for e in out] == [[3, 4]]
