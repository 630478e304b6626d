"""Realistic signal streams and rule sets for the benchmarks.

    python bench/generate.py signals --size 100000 --seed 1 -o /tmp/signals.jsonl
    python bench/generate.py rules --count 100 --seed 1 -o /tmp/rules.evrule

A stream is what a web shop's Signals SDK sends for many users at once: sessions start and end
while others are running, so their signals interleave. Each session browses pages (navigation),
clicks buttons that call the shop's API (a request and its response, paired by `requestId`),
fires background API calls, fills and submits forms, and produces noise (local storage, the
app's own analytics calls, user-defined signals). Everything is drawn from one `random.Random`
seeded by `seed`, so a (size, seed, concurrency) triple always gives the same bytes.

Rule sets are variations of a handful of realistic shapes over the same site vocabulary (button
texts, page paths, API endpoints, windows), 1 to 3 steps, some correlated by `requestId`. Each
rule is generated together with the same sequence in EQL (`RuleGen.eql`), so the benchmark can
run both engines on the same stream.

`pairs_workload` builds the agreement workload: every click is followed by exactly one matching
response and no two matches of a rule overlap on a key, so evrule, EQL and the look-back
interpreter must report exactly the same matches.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - the bench extra installs orjson through `test`

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


Signal = dict[str, Any]

EPOCH_MS = 1_772_366_400_000  # 2026-03-01T12:00:00Z
HOST = "shop.example.com"
ORIGIN = f"https://{HOST}"
LIBRARY = {"name": "@segment/analytics-signals", "version": "1.9.0"}

# ---- the site: pages, buttons and the API calls they make ---------------------------------

_PRODUCT_WORDS = [
    "trail-runner", "city-sneaker", "rain-jacket", "wool-socks", "day-pack", "water-bottle",
    "yoga-mat", "bike-helmet", "sun-hat", "fleece-hoodie", "hiking-boot", "travel-mug",
    "camp-stove", "head-lamp", "sleeping-bag", "tent-2p", "trekking-pole", "dry-bag",
    "ski-goggles", "swim-shorts", "running-tee", "beanie", "gloves", "scarf",
]  # fmt: skip
# A catalogue of 120 products: the stream visits a few often and most rarely (Zipf), and rules
# name any of them, as a large shop's rules would.
_PRODUCTS = [f"{w}-{c}" for c in ("red", "blue", "black", "green", "grey") for w in _PRODUCT_WORDS]
_SECTIONS = ["profile", "billing", "notifications", "security", "team", "integrations"]
_DOCS = ["getting-started", "api", "webhooks", "faq", "shipping", "returns", "sizes"]
_CATEGORIES = ["men", "women", "kids", "outdoor", "running", "sale", "new"]

PAGES: list[str] = (
    ["/", "/pricing", "/cart", "/checkout", "/checkout/payment", "/checkout/done", "/search"]
    + [f"/products/{p}" for p in _PRODUCTS]
    + [f"/c/{c}" for c in _CATEGORIES]
    + [f"/settings/{s}" for s in _SECTIONS]
    + [f"/docs/{d}" for d in _DOCS]
    + ["/account", "/account/orders", "/login", "/signup", "/blog", "/about", "/contact"]
)


@dataclass(frozen=True, slots=True)
class Button:
    """A clickable element and the API call it makes (if any)."""

    text: str
    element_id: str
    endpoint: str | None  # path under /api, without query
    method: str
    status: int  # the usual answer


def _buttons() -> list[Button]:
    out = [
        Button("Add to cart", "add-to-cart", "/api/cart/items", "POST", 200),
        Button("Buy now", "buy-now", "/api/orders", "POST", 201),
        Button("Place order", "place-order", "/api/orders", "POST", 201),
        Button("Apply coupon", "apply-coupon", "/api/cart/coupon", "POST", 200),
        Button("Remove", "remove-item", "/api/cart/items/remove", "POST", 200),
        Button("Subscribe", "subscribe", "/api/newsletter", "POST", 201),
        Button("Sign in", "sign-in", "/api/login", "POST", 200),
        Button("Sign out", "sign-out", "/api/logout", "POST", 204),
        Button("Start free trial", "start-trial", "/api/trials", "POST", 201),
        Button("Upgrade plan", "upgrade", "/api/billing/upgrade", "POST", 200),
        Button("Invite teammate", "invite", "/api/team/invites", "POST", 201),
        Button("Export CSV", "export-csv", "/api/reports/export", "GET", 200),
        Button("Write a review", "write-review", "/api/reviews", "POST", 201),
        Button("Track order", "track-order", "/api/orders/track", "GET", 200),
        Button("Contact support", "contact", "/api/support/tickets", "POST", 201),
        Button("Load more", "load-more", "/api/products", "GET", 200),
        Button("Next", "next", None, "GET", 0),
        Button("Back", "back", None, "GET", 0),
        Button("Close", "close", None, "GET", 0),
        Button("Menu", "menu", None, "GET", 0),
    ]
    for p in _PRODUCTS:
        out.append(Button(f"Add {p} to wishlist", f"wish-{p}", f"/api/wishlist/{p}", "POST", 200))
        out.append(Button(f"Notify me about {p}", f"notify-{p}", f"/api/alerts/{p}", "POST", 201))
        out.append(Button(f"Compare {p}", f"compare-{p}", None, "GET", 0))
    for s in _SECTIONS:
        out.append(Button(f"Save {s}", f"save-{s}", f"/api/settings/{s}", "PUT", 200))
        out.append(Button(f"Reset {s}", f"reset-{s}", f"/api/settings/{s}/reset", "POST", 200))
    for c in _CATEGORIES:
        out.append(Button(f"Shop {c}", f"shop-{c}", None, "GET", 0))
        out.append(Button(f"Filter {c}", f"filter-{c}", f"/api/products/{c}", "GET", 200))
    return out


BUTTONS: list[Button] = _buttons()
API_BUTTONS: list[Button] = [b for b in BUTTONS if b.endpoint]
BACKGROUND = ["/api/recommendations", "/api/notifications", "/api/me", "/api/flags", "/api/cart"]
FORMS = [
    ("signup-form", "/api/signup", 201),
    ("checkout-form", "/api/checkout", 200),
    ("search-form", "/api/search", 200),
    ("contact-form", "/api/support/tickets", 201),
]


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


def iso(ms: float) -> str:
    """An ISO-8601 UTC timestamp with milliseconds, as the SDK writes them."""
    t = datetime.fromtimestamp(ms / 1000.0, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


# ---- sessions -----------------------------------------------------------------------------


class _Session:
    """One browser tab: yields (time ms, signal) in time order."""

    def __init__(self, rng: random.Random, anon: str, start: float, actions: int):
        self.rng = rng
        self.anon = anon
        self.t = start
        self.actions = actions
        self.index = 0
        self.path = "/"
        self.prev_url: str | None = None
        self.req = 0

    def page(self) -> dict[str, Any]:
        return {
            "url": ORIGIN + self.path,
            "path": self.path,
            "search": "",
            "hostname": HOST,
            "hash": "",
            "referrer": self.prev_url or "",
            "title": self.path.strip("/").replace("/", " - ").title() or "Home",
        }

    def signal(self, kind: str, at: float, data: dict[str, Any]) -> tuple[float, Signal]:
        self.index += 1
        data["page"] = self.page()
        return at, {
            "type": kind,
            "anonymousId": self.anon,
            "timestamp": iso(at),
            "index": self.index,
            "context": {"library": LIBRARY, "signalsRuntime": "1.0.0"},
            "data": data,
        }

    def request_id(self) -> str:
        self.req += 1
        return f"{self.anon[:8]}-{self.req:05d}"

    def call(
        self, at: float, endpoint: str, method: str, status: int
    ) -> list[tuple[float, Signal]]:
        rng = self.rng
        rid = self.request_id()
        url = ORIGIN + endpoint
        body = {"id": rng.randrange(1, 10_000)} if method != "GET" else None
        req = self.signal(
            "network",
            at,
            {
                "action": "request",
                "url": url,
                "method": method,
                "body": body,
                "contentType": "application/json",
                "requestId": rid,
            },
        )
        roll = rng.random()
        if roll < 0.05:
            status = 400 + rng.choice([0, 1, 3, 4, 9, 22])
        elif roll < 0.07:
            status = 500 + rng.choice([0, 2, 3])
        answer_at = at + rng.uniform(30, 1500)
        resp = self.signal(
            "network",
            answer_at,
            {
                "action": "response",
                "url": url,
                "status": status,
                "ok": 200 <= status < 300,
                "body": {"id": rng.randrange(1, 10_000), "total": round(rng.uniform(5, 500), 2)},
                "contentType": "application/json",
                "requestId": rid,
            },
        )
        return [req, resp]

    def click(self, at: float, button: Button) -> tuple[float, Signal]:
        return self.signal(
            "interaction",
            at,
            {
                "eventType": "click",
                "target": {
                    "id": button.element_id,
                    "tagName": "BUTTON",
                    "nodeName": "BUTTON",
                    "type": "button",
                    "innerText": button.text,
                    "textContent": button.text,
                    "classList": ["btn", "btn-primary"],
                    "attributes": {"data-action": button.element_id, "class": "btn btn-primary"},
                },
            },
        )

    def navigate(self, at: float, path: str) -> tuple[float, Signal]:
        self.prev_url = ORIGIN + self.path
        self.path = path
        return self.signal(
            "navigation",
            at,
            {
                "currentUrl": ORIGIN + path,
                "previousUrl": self.prev_url,
                "path": path,
                "search": "",
                "hash": "",
                "title": path.strip("/").replace("/", " - ").title() or "Home",
                "changedProperties": ["path"],
            },
        )

    def action(self, gen: StreamGen) -> list[tuple[float, Signal]]:
        """The signals of the next thing the user does, starting at self.t."""
        rng = self.rng
        t = self.t
        roll = rng.random()
        out: list[tuple[float, Signal]] = []
        if roll < 0.22:
            out.append(self.navigate(t, gen.pick_page()))
        elif roll < 0.50:
            button = gen.pick_api_button()
            out.append(self.click(t, button))
            assert button.endpoint is not None
            out += self.call(t + rng.uniform(5, 80), button.endpoint, button.method, button.status)
        elif roll < 0.64:
            out.append(self.click(t, gen.pick_button()))
        elif roll < 0.78:
            out += self.call(t, rng.choice(BACKGROUND), "GET", 200)
        elif roll < 0.84:
            form, endpoint, status = rng.choice(FORMS)
            for _ in range(rng.randrange(1, 4)):
                out.append(
                    self.signal(
                        "interaction",
                        t,
                        {
                            "eventType": "change",
                            "listener": "onchange",
                            "change": {"value": "XXX"},
                            "target": {"id": f"{form}-field", "tagName": "INPUT", "value": "XXX"},
                        },
                    )
                )
                t += rng.uniform(300, 3000)
            out.append(
                self.signal(
                    "interaction",
                    t,
                    {
                        "eventType": "submit",
                        "target": {"id": form, "tagName": "FORM", "formData": {"q": "XXX"}},
                    },
                )
            )
            out += self.call(t + rng.uniform(5, 50), endpoint, "POST", status)
        elif roll < 0.92:
            out.append(
                self.signal(
                    "localData",
                    t,
                    {
                        "action": rng.choice(["read", "updated", "created"]),
                        "identifier": rng.choice(["cart", "bookmarks", "consent", "theme"]),
                        "data": '{"v":1}',
                    },
                )
            )
        elif roll < 0.97:
            out.append(
                self.signal(
                    "instrumentation",
                    t,
                    {
                        "type": "track",
                        "rawEvent": {"type": "track", "event": "Widget Shown", "properties": {}},
                    },
                )
            )
        else:
            out.append(
                self.signal("userDefined", t, {"flow": "onboarding", "step": rng.randrange(1, 6)})
            )
        self.t = t + rng.expovariate(1 / 4000.0)  # think time, mean 4 s
        self.actions -= 1
        return out


class StreamGen:
    """Draws pages and buttons with Zipf popularity, so some rules fire often, most rarely."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self._pages = list(PAGES)
        self._buttons = list(BUTTONS)
        self._api = list(API_BUTTONS)
        # Popularity order differs per seed but is fixed for one.
        for lst in (self._pages, self._buttons, self._api):
            self.rng.shuffle(lst)
        self._wp = _zipf_weights(len(self._pages))
        self._wb = _zipf_weights(len(self._buttons))
        self._wa = _zipf_weights(len(self._api))

    def pick_page(self) -> str:
        return self.rng.choices(self._pages, self._wp)[0]

    def pick_button(self) -> Button:
        return self.rng.choices(self._buttons, self._wb)[0]

    def pick_api_button(self) -> Button:
        return self.rng.choices(self._api, self._wa)[0]


def _anon(rng: random.Random) -> str:
    return "%08x-%04x-4%03x-%04x-%012x" % (  # noqa: UP031 - a UUID v4 look-alike
        rng.getrandbits(32),
        rng.getrandbits(16),
        rng.getrandbits(12),
        rng.getrandbits(16),
        rng.getrandbits(48),
    )


def signals(size: int, seed: int = 1, concurrency: int = 300) -> Iterator[Signal]:
    """`size` signals of about `concurrency` interleaved sessions, in timestamp order."""
    gen = StreamGen(seed)
    rng = gen.rng
    heap: list[tuple[float, int, Signal]] = []
    sessions: list[_Session] = []
    seq = 0
    now = float(EPOCH_MS)

    def start(at: float) -> _Session:
        return _Session(rng, _anon(rng), at + rng.uniform(0, 5000), rng.randrange(10, 120))

    for _ in range(concurrency):
        sessions.append(start(now))
    # Each session is pumped one action ahead of the output time, so that signals can be
    # merged in time order (an action's response may come after other sessions' signals).
    order = [(s.t, i) for i, s in enumerate(sessions)]
    heapq.heapify(order)
    emitted = 0
    while emitted < size:
        _, i = heapq.heappop(order)
        s = sessions[i]
        for at, sig in s.action(gen):
            seq += 1
            heapq.heappush(heap, (at, seq, sig))
        if s.actions <= 0:
            s = sessions[i] = start(s.t)
        heapq.heappush(order, (s.t, i))
        horizon = order[0][0]
        while heap and heap[0][0] <= horizon and emitted < size:
            yield heapq.heappop(heap)[2]
            emitted += 1


def write_signals(path: Path, size: int, seed: int = 1, concurrency: int = 300) -> Path:
    """Write a stream as JSON Lines (created once per (size, seed, concurrency))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        buf: list[bytes] = []
        for sig in signals(size, seed, concurrency):
            buf.append(_dumps(sig))
            if len(buf) >= 10_000:
                f.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")
    tmp.replace(path)
    return path


# ---- rules --------------------------------------------------------------------------------

_WINDOWS = [2, 5, 10, 15, 30, 60, 120, 300]  # seconds: EQL's maxspan counts whole seconds


@dataclass(frozen=True, slots=True)
class RuleGen:
    """One generated rule: its `.evrule` text and the same sequence as an EQL query."""

    rule_id: str
    shape: str
    evrule: str
    eql: str
    steps: int


def _q(s: str) -> str:
    return json.dumps(s)


def _eql_click(text: str) -> str:
    return f'interaction where data.eventType == "click" and data.target.innerText == {_q(text)}'


def _rule(
    i: int, shape: str, event: str, within: int | None, steps: list[str], maps: list[str], eql: str
) -> RuleGen:
    rid = f"bench.r{i:04d}"
    lines = [f"track {_q(f'{event} r{i:04d}')}", f"  id {_q(rid)}"]
    if within is not None:
        lines.append(f"  within {within}s")
    lines += [f"  {s}" for s in steps]
    if maps:
        lines.append("  map")
        lines += [f"    {m}" for m in maps]
    return RuleGen(rid, shape, "\n".join(lines) + "\n", eql, len(steps))


def make_rule(i: int, rng: random.Random) -> RuleGen:
    """Rule number `i`: one of seven realistic shapes over the site's vocabulary."""
    shape = rng.choices(
        ["click", "page", "req_resp", "click_resp", "nav_click_req", "submit_resp", "click_ci"],
        [22, 14, 22, 16, 12, 6, 8],
    )[0]
    w = rng.choice(_WINDOWS)
    if shape == "click":
        b = rng.choice(BUTTONS)
        return _rule(
            i, shape, f"Clicked {b.text}", None,
            [f"when click = interaction.click(target.innerText == {_q(b.text)})"],
            ["properties.label = click.target.innerText", "properties.path = click.page.path"],
            _eql_click(b.text),
        )  # fmt: skip
    if shape == "page":
        p = rng.choice(PAGES)
        return _rule(
            i, shape, f"Viewed {p}", None,
            [f"when nav = navigation(path == {_q(p)})"],
            ["properties.url = nav.currentUrl", "properties.referrer = nav.previousUrl"],
            f"navigation where data.path == {_q(p)}",
        )  # fmt: skip
    if shape == "req_resp":
        b = rng.choice(API_BUTTONS)
        assert b.endpoint is not None
        return _rule(
            i, shape, f"API {b.endpoint} succeeded", w,
            [
                f"when req = network.request(url glob {_q('*' + b.endpoint)} "
                f"and method == {_q(b.method)})",
                "then resp = network.response(requestId == req.requestId and ok)",
            ],
            ["properties.status = resp.status", "properties.id = resp.body.id"],
            f"sequence by anonymousId, data.requestId with maxspan={w}s"
            f" [network where data.action == \"request\" and wildcard(data.url, "
            f"{_q('*' + b.endpoint)}) and data.method == {_q(b.method)}]"
            " [network where data.action == \"response\" and data.ok == true]",
        )  # fmt: skip
    if shape == "click_resp":
        b = rng.choice(API_BUTTONS)
        assert b.endpoint is not None
        return _rule(
            i, shape, f"{b.text} answered", w,
            [
                f"when click = interaction.click(target.innerText == {_q(b.text)})",
                f"then resp = network.response(url glob {_q('*' + b.endpoint)} "
                f"and status == {b.status})",
            ],
            ["properties.label = click.target.innerText", "properties.total = resp.body.total"],
            f"sequence by anonymousId with maxspan={w}s [{_eql_click(b.text)}]"
            f" [network where data.action == \"response\" and wildcard(data.url, "
            f"{_q('*' + b.endpoint)}) and data.status == {b.status}]",
        )  # fmt: skip
    if shape == "nav_click_req":
        p = rng.choice(PAGES)
        b = rng.choice(API_BUTTONS)
        assert b.endpoint is not None
        return _rule(
            i, shape, f"{b.text} from {p}", max(w, 30),
            [
                f"when nav = navigation(path == {_q(p)})",
                f"then click = interaction.click(target.innerText == {_q(b.text)})",
                f"then req = network.request(url glob {_q('*' + b.endpoint)})",
            ],
            ["properties.from = nav.path", "properties.method = req.method"],
            f"sequence by anonymousId with maxspan={max(w, 30)}s"
            f" [navigation where data.path == {_q(p)}] [{_eql_click(b.text)}]"
            f" [network where data.action == \"request\" and wildcard(data.url, "
            f"{_q('*' + b.endpoint)})]",
        )  # fmt: skip
    if shape == "submit_resp":
        form, endpoint, _ = rng.choice(FORMS)
        return _rule(
            i, shape, f"Form {form} accepted", w,
            [
                f"when form = interaction.submit(target.id == {_q(form)})",
                f"then resp = network.response(url glob {_q('*' + endpoint)} and ok)",
            ],
            ["properties.form = form.target.id", "properties.status = resp.status"],
            f"sequence by anonymousId with maxspan={w}s"
            f" [interaction where data.eventType == \"submit\" and data.target.id == {_q(form)}]"
            f" [network where data.action == \"response\" and wildcard(data.url, "
            f"{_q('*' + endpoint)}) and data.ok == true]",
        )  # fmt: skip
    # click_ci: case-insensitive text, which no equality index can serve.
    b = rng.choice(BUTTONS)
    return _rule(
        i, shape, f"Clicked {b.text.lower()} in any case", None,
        [f"when click = interaction.click(target.innerText ==~ {_q(b.text.lower())})"],
        ["properties.label = click.target.innerText"],
        f"interaction where data.eventType == \"click\" and data.target.innerText == "
        f"{_q(b.text.lower())}",  # EQL's == ignores case
    )  # fmt: skip


def rules(count: int, seed: int = 1) -> list[RuleGen]:
    """`count` generated rules; the first n of a larger set are the same as a set of n."""
    rng = random.Random(seed * 7919 + 17)
    return [make_rule(i, rng) for i in range(count)]


def rules_text(gens: list[RuleGen]) -> str:
    header = "# Generated by bench/generate.py: variations of realistic rules.\n\n"
    return header + "\n".join(g.evrule for g in gens)


# ---- the agreement workload ---------------------------------------------------------------


def pairs_workload(
    users: int = 200, pairs: int = 10, seed: int = 3
) -> tuple[list[RuleGen], list[Signal]]:
    """Rules and a stream on which evrule, EQL and a look-back interpreter must agree.

    Two-step rules only (click then response, request then response by requestId). For each
    user, each pair is a click (or request) followed, within the window, by exactly one
    matching response; the next pair of the same rule starts after that response, and
    nothing else on the key fits any step of any rule. Users interleave.
    """
    rng = random.Random(seed)
    by_endpoint = {b.endpoint: b for b in API_BUTTONS}  # one button per endpoint
    chosen = rng.sample(sorted(by_endpoint.values(), key=lambda b: b.text), 6)
    gens: list[RuleGen] = []
    for k, b in enumerate(chosen):
        assert b.endpoint is not None
        ep = "*" + b.endpoint
        if k % 2 == 0:
            gens.append(
                _rule(
                    k, "click_resp", f"{b.text} answered", 10,
                    [
                        f"when click = interaction.click(target.innerText == {_q(b.text)})",
                        f"then resp = network.response(url glob {_q(ep)} and ok)",
                    ],
                    ["properties.label = click.target.innerText"],
                    f"sequence by anonymousId with maxspan=10s [{_eql_click(b.text)}]"
                    f" [network where data.action == \"response\" and wildcard(data.url, "
                    f"{_q(ep)}) and data.ok == true]",
                )
            )  # fmt: skip
        else:
            gens.append(
                _rule(
                    k, "req_resp", f"API {b.endpoint} succeeded", 10,
                    [
                        f"when req = network.request(url glob {_q(ep)})",
                        "then resp = network.response(requestId == req.requestId and ok)",
                    ],
                    ["properties.id = resp.body.id"],
                    "sequence by anonymousId, data.requestId with maxspan=10s"
                    f" [network where data.action == \"request\" and wildcard(data.url, "
                    f"{_q(ep)})] [network where data.action == \"response\" and data.ok == true]",
                )
            )  # fmt: skip
    # Unique endpoints per rule, so a response of one rule never fits another rule's step.
    streams: list[list[tuple[float, Signal]]] = []
    for _ in range(users):
        s = _Session(rng, _anon(rng), EPOCH_MS + rng.uniform(0, 60_000), 0)
        out: list[tuple[float, Signal]] = []
        t = s.t
        for _ in range(pairs):
            k = rng.randrange(len(chosen))
            b = chosen[k]
            assert b.endpoint is not None
            if k % 2 == 0:
                out.append(s.click(t, b))
                out.append(s.call(t + 200, b.endpoint, b.method, 200)[1])  # the response only
            else:
                out += s.call(t, b.endpoint, b.method, 200)
            t = max(at for at, _ in out) + rng.uniform(11_000, 20_000)  # past every window
            # noise that fits no step
            out.append(s.navigate(t - 5000, rng.choice(PAGES)))
        for _, sig in out:
            if sig["type"] == "network" and sig["data"]["action"] == "response":
                sig["data"]["status"], sig["data"]["ok"] = 200, True  # unambiguous: all succeed
        streams.append(out)
    merged = sorted(((at, n, sig) for n, st in enumerate(streams) for at, sig in st))
    return gens, [sig for _, _, sig in merged]


# ---- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("signals", help="a JSON Lines stream of signals")
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=300, help="sessions running at once")
    p.add_argument("-o", "--output", required=True)
    r = sub.add_parser("rules", help="an .evrule file of generated rules")
    r.add_argument("--count", type=int, default=100)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--eql", action="store_true", help="write the EQL queries instead")
    r.add_argument("-o", "--output", default="-")
    args = parser.parse_args(argv)
    if args.what == "signals":
        write_signals(Path(args.output), args.size, args.seed, args.concurrency)
        return 0
    gens = rules(args.count, args.seed)
    text = "\n".join(g.eql for g in gens) + "\n" if args.eql else rules_text(gens)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
