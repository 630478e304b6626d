"""Tests for evrule.compiler.signals: kinds, path lookups, validation and the JSON Schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evrule.compiler import signals
from evrule.compiler.signals import (
    ENVELOPE,
    JSON_TYPES,
    KINDS,
    SEGMENT_TYPE_IDS,
    SIGNAL_TYPES,
    FieldSpec,
    Lookup,
    json_schema,
    kind_of,
    lookup,
    lookup_envelope,
    parse_timestamp,
    validate_signal,
)

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "signals.schema.json"

# ---------------------------------------------------------------------------------------------
# Realistic signals (schema 2.0 shape), web and mobile

WEB_CONTEXT = {
    "library": {"name": "@segment/analytics-next", "version": "1.72.0"},
    "signalsRuntime": {"version": "2.0.0"},
}
MOBILE_CONTEXT = {
    "app": {"name": "Shop", "version": "3.2.1", "build": "412", "namespace": "com.example.shop"},
    "library": {"name": "analytics-kotlin", "version": "1.16.0"},
    "signalsRuntime": "2.0.0",
    "device": {"model": "Pixel 8"},
}
PAGE = {
    "url": "https://shop.example/products/42?ref=home#reviews",
    "path": "/products/42",
    "search": "?ref=home",
    "hostname": "shop.example",
    "hash": "#reviews",
    "referrer": "https://shop.example/",
    "title": "Blue Mug - Shop",
}
LABEL = {"id": "qty-label", "textContent": "Quantity", "attributes": {"for": "qty"}}
BUTTON = {
    "attributes": {"class": "btn btn-primary", "data-sku": "MUG-42", "type": "button"},
    "classList": ["btn", "btn-primary"],
    "id": "add-to-cart",
    "labels": [],
    "name": "",
    "nodeName": "BUTTON",
    "tagName": "BUTTON",
    "title": "",
    "type": "button",
    "value": "",
    "textContent": "Add to cart",
    "innerText": "Add to cart",
}


def envelope(signal_type: str, data: dict[str, Any], *, mobile: bool = False) -> dict[str, Any]:
    return {
        "type": signal_type,
        "anonymousId": "a3f2c1d0-7b1e-4c55-9a4e-0d6b2f1e9c77",
        "timestamp": "2024-05-01T12:00:00.123Z",
        "index": 7,
        "context": copy.deepcopy(MOBILE_CONTEXT if mobile else WEB_CONTEXT),
        "data": data,
    }


def web(signal_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return envelope(signal_type, {**data, "page": dict(PAGE)})


def mobile(signal_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return envelope(signal_type, data, mobile=True)


WEB_CLICK = web("interaction", {"eventType": "click", "target": BUTTON})
WEB_SUBMIT = web(
    "interaction",
    {
        "eventType": "submit",
        "target": {
            "attributes": {"id": "checkout", "action": "/checkout", "method": "post"},
            "classList": [],
            "id": "checkout",
            "labels": [],
            "nodeName": "FORM",
            "tagName": "FORM",
            "title": "",
            "formData": {"email": "ada@example.com", "plan": "pro"},
        },
        "submitter": {**BUTTON, "id": "pay", "type": "submit", "textContent": "Pay"},
    },
)
WEB_CHANGE_SELECT = web(
    "interaction",
    {
        "eventType": "change",
        "listener": "onchange",
        "change": {"value": "2"},
        "target": {
            "attributes": {"id": "qty", "name": "qty"},
            "classList": ["qty"],
            "id": "qty",
            "labels": [LABEL],
            "label": LABEL,
            "describedBy": {"id": "qty-help", "textContent": "Max 10", "attributes": {}},
            "name": "qty",
            "nodeName": "SELECT",
            "tagName": "SELECT",
            "title": "",
            "type": "select-one",
            "value": "2",
            "selectedOptions": [{"label": "2", "value": "2"}],
            "selectedIndex": 1,
        },
    },
)
WEB_CHANGE_CHECKBOX = web(
    "interaction",
    {
        "eventType": "change",
        "listener": "mutation",
        "change": None,
        "target": {**BUTTON, "nodeName": "INPUT", "tagName": "INPUT", "checked": True},
    },
)
MOBILE_CLICK = mobile(
    "interaction",
    {
        "eventType": "click",
        "target": {"component": "Button", "title": "Add to cart", "data": {"sku": "MUG-42"}},
    },
)
WEB_NAVIGATION_FIRST = web(
    "navigation",
    {
        "currentUrl": PAGE["url"],
        "path": "/products/42",
        "search": "?ref=home",
        "hash": "#reviews",
        "title": "Blue Mug - Shop",
    },
)
WEB_NAVIGATION_CHANGE = web(
    "navigation",
    {
        "currentUrl": "https://shop.example/cart",
        "previousUrl": PAGE["url"],
        "path": "/cart",
        "search": "",
        "hash": "",
        "title": "Cart - Shop",
        "changedProperties": ["path", "search", "hash"],
    },
)
MOBILE_NAVIGATION = mobile("navigation", {"currentScreen": "Cart", "previousScreen": "Product"})
WEB_NAVIGATION_1X = web(
    "navigation",
    {"action": "urlChange", "url": "https://shop.example/cart", "prevUrl": PAGE["url"]},
)
WEB_REQUEST = web(
    "network",
    {
        "action": "request",
        "url": "https://api.shop.example/cart",
        "method": "POST",
        "body": {"sku": "MUG-42", "qty": 2},
        "contentType": "application/json",
        "requestId": "req-1",
    },
)
WEB_RESPONSE = web(
    "network",
    {
        "action": "response",
        "url": "https://api.shop.example/cart",
        "status": 200,
        "ok": True,
        "body": {"data": {"price": 12.5, "items": [{"sku": "MUG-42"}]}},
        "contentType": "application/json",
        "requestId": "req-1",
    },
)
MOBILE_RESPONSE = mobile(
    "network",
    {
        "action": "response",
        "url": "https://api.shop.example/cart",
        "status": 201,
        "ok": True,
        "body": {"content": {"cartId": "c-9"}},
        "contentType": None,
        "requestId": "7",
    },
)
NETWORK_1X = web(
    "network",
    {"action": "response", "url": "https://api.shop.example/x", "data": "plain text"},
)
LOCAL_DATA = mobile("localData", {"action": "updated", "identifier": "cart", "data": '{"n":2}'})
LOCAL_DATA_DELETED = mobile("localData", {"action": "deleted", "identifier": "cart", "data": None})
INSTRUMENTATION = web(
    "instrumentation",
    {
        "type": "track",
        "rawEvent": {"type": "track", "event": "Product Viewed", "properties": {"sku": "MUG-42"}},
    },
)
USER_DEFINED = web("userDefined", {"experiment": "checkout-v2", "variant": 3, "nested": {"a": []}})
MOBILE_USER_DEFINED = mobile("userDefined", {"page": "checkout", "step": 2})

REALISTIC = {
    "web click": WEB_CLICK,
    "web submit": WEB_SUBMIT,
    "web change select": WEB_CHANGE_SELECT,
    "web change checkbox": WEB_CHANGE_CHECKBOX,
    "mobile click": MOBILE_CLICK,
    "web navigation first load": WEB_NAVIGATION_FIRST,
    "web navigation change": WEB_NAVIGATION_CHANGE,
    "mobile navigation": MOBILE_NAVIGATION,
    "web navigation 1.x": WEB_NAVIGATION_1X,
    "web request": WEB_REQUEST,
    "web response": WEB_RESPONSE,
    "mobile response": MOBILE_RESPONSE,
    "network 1.x": NETWORK_1X,
    "local data": LOCAL_DATA,
    "local data deleted": LOCAL_DATA_DELETED,
    "instrumentation": INSTRUMENTATION,
    "user defined": USER_DEFINED,
    "mobile user defined": MOBILE_USER_DEFINED,
}


# ---------------------------------------------------------------------------------------------
# Tables


def test_tables_are_consistent() -> None:
    assert set(KINDS) == {
        "interaction",
        "interaction.click",
        "interaction.submit",
        "interaction.change",
        "navigation",
        "network",
        "network.request",
        "network.response",
        "localData",
        "instrumentation",
        "userDefined",
    }
    assert SIGNAL_TYPES == (
        "interaction",
        "navigation",
        "network",
        "localData",
        "instrumentation",
        "userDefined",
    )
    assert set(JSON_TYPES) == {
        "string",
        "number",
        "integer",
        "boolean",
        "object",
        "array",
        "null",
        "any",
    }
    for name, kind in KINDS.items():
        assert kind.name == name
        assert kind.type in SIGNAL_TYPES
        assert "page" in kind.fields
    assert KINDS["interaction.click"].discriminator == ("eventType", "click")
    assert KINDS["interaction.submit"].discriminator == ("eventType", "submit")
    assert KINDS["interaction.change"].discriminator == ("eventType", "change")
    assert KINDS["network.request"].discriminator == ("action", "request")
    assert KINDS["network.response"].discriminator == ("action", "response")
    assert KINDS["navigation"].discriminator is None
    assert set(SEGMENT_TYPE_IDS.values()) <= set(KINDS)


@pytest.mark.parametrize(
    ("base", "subs"),
    [("interaction", ["click", "submit", "change"]), ("network", ["request", "response"])],
)
def test_base_kind_is_union_of_sub_kinds(base: str, subs: list[str]) -> None:
    union: dict[str, FieldSpec] = {}
    for sub in subs:
        union.update(KINDS[f"{base}.{sub}"].fields)
    assert dict(KINDS[base].fields) == union


def test_sub_kinds_add_their_own_fields() -> None:
    assert "method" in KINDS["network.request"].fields
    assert "status" not in KINDS["network.request"].fields
    assert KINDS["network.response"].fields["status"].types == ("integer",)
    assert KINDS["network.response"].fields["ok"].types == ("boolean",)
    assert "submitter" in KINDS["interaction.submit"].fields
    assert "submitter" not in KINDS["interaction.click"].fields
    assert {"listener", "change"} <= set(KINDS["interaction.change"].fields)


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        KINDS["x"] = KINDS["navigation"]  # type: ignore[index]
    with pytest.raises(TypeError):
        KINDS["navigation"].fields["x"] = FieldSpec(("string",), "x")  # type: ignore[index]
    with pytest.raises(AttributeError):
        KINDS["navigation"].doc = "x"  # type: ignore[misc]


def test_field_spec_rejects_unknown_type_names() -> None:
    with pytest.raises(ValueError):
        FieldSpec(("str",), "typo")


# ---------------------------------------------------------------------------------------------
# kind_of


@pytest.mark.parametrize(
    ("signal", "kind"),
    [
        (WEB_CLICK, "interaction.click"),
        (MOBILE_CLICK, "interaction.click"),
        (WEB_SUBMIT, "interaction.submit"),
        (WEB_CHANGE_SELECT, "interaction.change"),
        ({"type": "interaction", "data": {"eventType": "dblclick"}}, "interaction"),
        ({"type": "interaction", "data": {}}, "interaction"),
        ({"type": "interaction"}, "interaction"),
        ({"type": "interaction", "data": {"eventType": ["click"]}}, "interaction"),
        ({"type": "interaction", "data": "click"}, "interaction"),
        (WEB_NAVIGATION_CHANGE, "navigation"),
        (MOBILE_NAVIGATION, "navigation"),
        (WEB_REQUEST, "network.request"),
        (WEB_RESPONSE, "network.response"),
        (MOBILE_RESPONSE, "network.response"),
        ({"type": "network", "data": {"action": "abort"}}, "network"),
        (LOCAL_DATA, "localData"),
        (INSTRUMENTATION, "instrumentation"),
        (USER_DEFINED, "userDefined"),
        ({"type": "foo"}, None),
        ({"type": "interaction.click"}, None),
        ({"type": ["interaction"]}, None),
        ({}, None),
        (None, None),
        ([1, 2], None),
    ],
)
def test_kind_of(signal: Any, kind: str | None) -> None:
    assert kind_of(signal) == kind


# ---------------------------------------------------------------------------------------------
# lookup


@pytest.mark.parametrize(
    ("kind", "path", "types"),
    [
        ("interaction.click", ["target", "innerText"], ("string", "null")),
        ("interaction.click", ["target", "classList"], ("array",)),
        ("interaction.click", ["target", "classList", 0], ("string",)),
        ("interaction.click", ["target", "labels", 0, "textContent"], ("string",)),
        ("interaction.click", ["target", "labels", "0", "textContent"], ("string",)),
        ("interaction.click", ["target", "label", "textContent"], ("string",)),
        ("interaction", ["target", "component"], ("string",)),
        ("interaction", ["target", "title"], ("string", "null")),
        ("interaction", ["target", "selectedIndex"], ("integer",)),
        ("interaction", ["target", "checked"], ("boolean",)),
        ("interaction", ["target", "selectedOptions", 0, "value"], ("string", "null")),
        ("interaction", ["eventType"], ("string",)),
        ("interaction.submit", ["submitter", "id"], ("string",)),
        ("interaction.change", ["listener"], ("string",)),
        ("interaction.change", ["change"], ("any",)),
        ("interaction.click", ["page", "hostname"], ("string",)),
        ("navigation", ["currentUrl"], ("string",)),
        ("navigation", ["previousUrl"], ("string", "null")),
        ("navigation", ["changedProperties", 1], ("string",)),
        ("navigation", ["currentScreen"], ("string",)),
        ("navigation", ["prevUrl"], ("string", "null")),
        ("navigation", ["url"], ("string",)),
        ("navigation", ["action"], ("string",)),
        ("network.request", ["method"], ("string",)),
        ("network.response", ["status"], ("integer",)),
        ("network.response", ["ok"], ("boolean",)),
        ("network", ["status"], ("integer",)),
        ("network", ["method"], ("string",)),
        ("network", ["body"], ("any",)),
        ("network", ["data"], ("any",)),
        ("network", ["requestId"], ("string",)),
        ("localData", ["identifier"], ("string",)),
        ("instrumentation", ["rawEvent"], ("object",)),
        ("userDefined", ["page", "url"], ("string",)),
        ("navigation", [], ("object",)),
    ],
)
def test_lookup_known(kind: str, path: list[str | int], types: tuple[str, ...]) -> None:
    assert lookup(kind, path) == Lookup("known", types, None)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("interaction.click", ["target", "attributes", "data-sku"]),
        ("interaction.click", ["target", "attributes", "aria-label", "deeper"]),
        ("interaction.submit", ["target", "formData", "email"]),
        ("interaction.change", ["change", "value"]),
        ("interaction", ["target", "data", "sku"]),
        ("interaction", ["target", "label", "attributes", "for"]),
        ("network.response", ["body", "data", "price"]),
        ("network.response", ["body", "items", 0, "sku"]),
        ("network.response", ["body", "content", "cartId"]),
        ("network", ["data", "x"]),
        ("instrumentation", ["rawEvent", "properties", "sku"]),
        ("userDefined", ["experiment"]),
        ("userDefined", ["nested", "a", 0]),
    ],
)
def test_lookup_open(kind: str, path: list[str | int]) -> None:
    assert lookup(kind, path) == Lookup("open", ("any",), None)


@pytest.mark.parametrize(
    ("kind", "path", "suggestion"),
    [
        ("interaction.click", ["target", "innertext"], "innerText"),
        ("interaction.click", ["target", "innerTxt"], "innerText"),
        ("interaction.click", ["target", "INNERTEXT"], "innerText"),
        ("interaction.click", ["target", "classlist"], "classList"),
        ("interaction.click", ["targt"], "target"),
        ("interaction.click", ["target", "label", "textcontent"], "textContent"),
        ("network.response", ["stauts"], "status"),
        ("navigation", ["currentURL"], "currentUrl"),
        ("navigation", ["page", "hostName"], "hostname"),
        ("interaction.click", ["target", "zzzzqqq"], None),
        ("interaction.click", ["target", "classList", "first"], None),
        ("interaction.click", ["target", "id", "x"], None),
        ("interaction.click", ["target", 0], None),
        ("navigation", [3], None),
        ("network.request", ["status"], None),
        ("interaction.click", ["submitter"], None),
    ],
)
def test_lookup_unknown(kind: str, path: list[str | int], suggestion: str | None) -> None:
    assert lookup(kind, path) == Lookup("unknown", (), suggestion)


def test_lookup_bad_arguments() -> None:
    with pytest.raises(KeyError):
        lookup("interaction-click", ["target"])
    with pytest.raises(TypeError):
        lookup("interaction", "target.id")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["anonymousId"], Lookup("known", ("string",))),
        (["timestamp"], Lookup("known", ("string",))),
        (["index"], Lookup("known", ("integer",))),
        (["type"], Lookup("known", ("string",))),
        (["userId"], Lookup("known", ("string", "null"))),
        (["messageId"], Lookup("known", ("string",))),
        (["context", "app", "version"], Lookup("known", ("string", "number"))),
        (["context", "app", "namespace"], Lookup("known", ("string",))),
        (["context", "library", "name"], Lookup("known", ("string",))),
        (["context", "signalsRuntime"], Lookup("known", ("any",))),
        (["context", "signalsRuntime", "version"], Lookup("open", ("any",))),
        (["context", "device", "model"], Lookup("open", ("any",))),
        (["data"], Lookup("known", ("object",))),
        (["data", "target"], Lookup("open", ("any",))),
        (["anonymousID"], Lookup("unknown", (), "anonymousId")),
        (["context", "app", "nmae"], Lookup("unknown", (), "name")),
        (["context", "library", "build"], Lookup("unknown", (), None)),
    ],
)
def test_lookup_envelope(path: list[str | int], expected: Lookup) -> None:
    assert lookup_envelope(path) == expected


def test_envelope_keys() -> None:
    assert set(ENVELOPE) == {
        "type",
        "anonymousId",
        "timestamp",
        "index",
        "context",
        "messageId",
        "userId",
        "data",
    }


# ---------------------------------------------------------------------------------------------
# validate_signal: acceptance


@pytest.mark.parametrize("name", list(REALISTIC))
def test_realistic_signals_are_accepted(name: str) -> None:
    assert validate_signal(REALISTIC[name]) is None


def test_every_kind_is_covered_by_realistic_signals() -> None:
    assert {kind_of(s) for s in REALISTIC.values()} >= set(KINDS) - {"interaction", "network"}


def test_debug_batch_properties_are_accepted() -> None:
    # In debug mode each signal travels as the properties of a "Segment Signal Generated" track.
    batch = {
        "batch": [
            {"type": "track", "event": "Segment Signal Generated", "properties": signal}
            for signal in (WEB_CLICK, WEB_RESPONSE, WEB_NAVIGATION_CHANGE)
        ]
    }
    decoded = json.loads(json.dumps(batch))
    for message in decoded["batch"]:
        assert validate_signal(message["properties"]) is None


def _with(signal: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of signal with the dotted path set to value (or deleted for _DELETE)."""
    result = copy.deepcopy(signal)
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return result


_DELETE = object()


@pytest.mark.parametrize(
    ("signal", "path", "value"),
    [
        (WEB_CLICK, "context", _DELETE),
        (WEB_CLICK, "userId", None),
        (WEB_CLICK, "userId", "u-1"),
        (WEB_CLICK, "messageId", "ajs-next-1"),
        (WEB_CLICK, "index", 0),
        (WEB_CLICK, "index", 7.0),
        (WEB_CLICK, "timestamp", "2024-05-01T12:00:00Z"),
        (WEB_CLICK, "timestamp", "2024-05-01T12:00:00.123456789+02:00"),
        (WEB_CLICK, "timestamp", "2024-05-01T12:00:00+0530"),
        (WEB_CLICK, "timestamp", "2024-05-01T12:00"),
        (WEB_CLICK, "data.page", _DELETE),
        (WEB_CLICK, "data.unknownExtra", {"deep": [1, 2, 3]}),
        (WEB_CLICK, "data.target.value", 3),
        (WEB_CLICK, "data.target.label", "Quantity"),
        (WEB_CLICK, "data.target.labels", ["Quantity"]),
        (WEB_CLICK, "data.target.innerText", None),
        (WEB_CLICK, "extraTopLevel", 1),
        (WEB_SUBMIT, "data.submitter", None),
        (WEB_NAVIGATION_CHANGE, "data.previousUrl", None),
        (WEB_RESPONSE, "data.body", None),
        (WEB_RESPONSE, "data.body", "not json"),
        (WEB_RESPONSE, "data.body", [1, "two", None]),
        (WEB_RESPONSE, "data.status", 404.0),
        # A request does not know `status`, so its type is not checked there.
        (WEB_REQUEST, "data.status", "200"),
        (WEB_CHANGE_SELECT, "data.change", [1, {"a": None}]),
        (MOBILE_CLICK, "context.app.build", 412),
        (MOBILE_CLICK, "data.target.data", None),
        (USER_DEFINED, "data.page", "checkout"),
    ],
)
def test_accepted_variants(signal: dict[str, Any], path: str, value: Any) -> None:
    assert validate_signal(_with(signal, path, value)) is None


# ---------------------------------------------------------------------------------------------
# validate_signal: rejection reasons


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (None, "not a JSON object"),
        ([WEB_CLICK], "not a JSON object"),
        ("signal", "not a JSON object"),
        (42, "not a JSON object"),
        (_with(WEB_CLICK, "type", _DELETE), "missing 'type'"),
        (_with(WEB_CLICK, "type", 3), "'type' must be a string, got integer"),
        (_with(WEB_CLICK, "type", "foo"), "unknown signal type 'foo'"),
        (_with(WEB_CLICK, "type", "interaction.click"), "unknown signal type 'interaction.click'"),
        (_with(WEB_CLICK, "anonymousId", _DELETE), "missing 'anonymousId'"),
        (_with(WEB_CLICK, "anonymousId", 12.5), "'anonymousId' must be a string, got number"),
        (_with(WEB_CLICK, "anonymousId", None), "'anonymousId' must be a string, got null"),
        (_with(WEB_CLICK, "timestamp", _DELETE), "missing 'timestamp'"),
        (_with(WEB_CLICK, "timestamp", 1714564800), "'timestamp' must be a string, got integer"),
        (
            _with(WEB_CLICK, "timestamp", "yesterday"),
            "'timestamp' must be an ISO-8601 date and time, got 'yesterday'",
        ),
        (
            _with(WEB_CLICK, "timestamp", "2024-13-01T00:00:00Z"),
            "'timestamp' must be an ISO-8601 date and time, got '2024-13-01T00:00:00Z'",
        ),
        (
            _with(WEB_CLICK, "timestamp", "2024-05-01"),
            "'timestamp' must be an ISO-8601 date and time, got '2024-05-01'",
        ),
        (
            _with(WEB_CLICK, "timestamp", "2024-05-01T12:00:00Z\n"),
            "'timestamp' must be an ISO-8601 date and time, got '2024-05-01T12:00:00Z\\n'",
        ),
        (_with(WEB_CLICK, "index", _DELETE), "missing 'index'"),
        (_with(WEB_CLICK, "index", True), "'index' must be an integer, got boolean"),
        (_with(WEB_CLICK, "index", "7"), "'index' must be an integer, got string"),
        (_with(WEB_CLICK, "index", 7.5), "'index' must be an integer, got number"),
        (_with(WEB_CLICK, "messageId", 5), "'messageId' must be a string, got integer"),
        (_with(WEB_CLICK, "userId", 5), "'userId' must be a string or null, got integer"),
        (_with(WEB_CLICK, "context", "web"), "'context' must be an object, got string"),
        (
            _with(WEB_CLICK, "context.library.version", 1),
            "'context.library.version' must be string, got integer",
        ),
        (_with(MOBILE_CLICK, "context.app", []), "'context.app' must be object, got array"),
        (_with(WEB_CLICK, "data", _DELETE), "missing 'data'"),
        (_with(WEB_CLICK, "data", None), "'data' must be an object"),
        (_with(WEB_CLICK, "data", [1]), "'data' must be an object"),
        (_with(WEB_RESPONSE, "data.status", "200"), "'data.status' must be integer, got string"),
        (_with(WEB_RESPONSE, "data.status", 200.5), "'data.status' must be integer, got number"),
        (_with(WEB_RESPONSE, "data.ok", "true"), "'data.ok' must be boolean, got string"),
        (_with(WEB_REQUEST, "data.method", None), "'data.method' must be string, got null"),
        (_with(WEB_REQUEST, "data.url", {"href": "x"}), "'data.url' must be string, got object"),
        (
            _with(WEB_NAVIGATION_CHANGE, "data.previousUrl", 1),
            "'data.previousUrl' must be string or null, got integer",
        ),
        (
            _with(WEB_NAVIGATION_CHANGE, "data.changedProperties", "path"),
            "'data.changedProperties' must be array, got string",
        ),
        (
            _with(WEB_NAVIGATION_CHANGE, "data.changedProperties", ["path", 1]),
            "'data.changedProperties[1]' must be string, got integer",
        ),
        (_with(WEB_CLICK, "data.target", "button"), "'data.target' must be object, got string"),
        (
            _with(WEB_CLICK, "data.target.classList", ["btn", None]),
            "'data.target.classList[1]' must be string, got null",
        ),
        (
            _with(WEB_CHANGE_SELECT, "data.target.labels", [{"textContent": 5}]),
            "'data.target.labels[0].textContent' must be string, got integer",
        ),
        (
            _with(WEB_CHANGE_SELECT, "data.target.selectedIndex", True),
            "'data.target.selectedIndex' must be integer, got boolean",
        ),
        (
            _with(WEB_CHANGE_CHECKBOX, "data.target.checked", "on"),
            "'data.target.checked' must be boolean, got string",
        ),
        (
            _with(WEB_CLICK, "data.target.attributes", ["class"]),
            "'data.target.attributes' must be object, got array",
        ),
        (
            _with(WEB_SUBMIT, "data.submitter.nodeName", 1),
            "'data.submitter.nodeName' must be string, got integer",
        ),
        (
            _with(WEB_CHANGE_SELECT, "data.listener", ["onchange"]),
            "'data.listener' must be string, got array",
        ),
        (_with(WEB_CLICK, "data.page.url", None), "'data.page.url' must be string, got null"),
        (_with(WEB_CLICK, "data.page", "home"), "'data.page' must be object, got string"),
        (
            _with(LOCAL_DATA, "data.data", {"n": 2}),
            "'data.data' must be string or null, got object",
        ),
        (
            _with(INSTRUMENTATION, "data.rawEvent", "track"),
            "'data.rawEvent' must be object, got string",
        ),
    ],
)
def test_rejection_reasons(obj: Any, reason: str) -> None:
    assert validate_signal(obj) == reason


def test_non_finite_numbers_are_rejected_where_numbers_are_expected() -> None:
    reason = validate_signal(_with(WEB_RESPONSE, "data.status", float("nan")))
    assert reason == "'data.status' must be integer, got non-finite number"
    assert validate_signal(_with(WEB_CLICK, "index", float("inf"))) is not None


def test_unknown_type_message_is_truncated() -> None:
    reason = validate_signal(_with(WEB_CLICK, "type", "x" * 1_000_000))
    assert reason is not None
    assert reason.startswith("unknown signal type 'xxx")
    assert len(reason) < 100


# ---------------------------------------------------------------------------------------------
# validate_signal: depth and hostile input


def _nested_list(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth - 1):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def _nested_dict(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        child: dict[str, Any] = {}
        node["a"] = child
        node = child
    return root


def test_depth_limit_boundary() -> None:
    # The signal is level 1 and data level 2, so data may hold 62 more levels.
    assert validate_signal(_with(USER_DEFINED, "data.x", _nested_list(62))) is None
    deep = _with(USER_DEFINED, "data.x", _nested_list(63))
    assert validate_signal(deep) == "nesting deeper than 64 levels"
    assert validate_signal(deep, max_depth=65) is None
    assert validate_signal(WEB_CLICK, max_depth=3) == "nesting deeper than 3 levels"


@pytest.mark.parametrize("make", [_nested_list, _nested_dict])
@pytest.mark.parametrize(
    "where",
    ["data.x", "data.body", "data.target", "context", "data", "anonymousId", "type", "timestamp"],
)
def test_ten_thousand_levels_deep(make: Callable[[int], Any], where: str) -> None:
    base = WEB_RESPONSE if where == "data.body" else WEB_CLICK
    assert validate_signal(_with(base, where, make(10_000))) is not None


def test_deep_json_documents_decode_and_are_rejected() -> None:
    # The standard library's decoder itself gives up near 1,000 levels; stay below that.
    text = '{"type":"userDefined","data":{"x":' + "[" * 900 + "]" * 900 + "}}"
    assert validate_signal(json.loads(text)) == "nesting deeper than 64 levels"


def test_huge_values() -> None:
    big = "x" * 5_000_000
    assert validate_signal(_with(WEB_CLICK, "data.target.innerText", big)) is None
    assert validate_signal(_with(WEB_CLICK, "anonymousId", big)) is None
    reason = validate_signal(_with(WEB_CLICK, "timestamp", "2024-05-01T12:00:00Z" + big))
    assert reason is not None and len(reason) < 120
    wide = _with(WEB_CLICK, "data.target.classList", ["c"] * 200_000)
    assert validate_signal(wide) is None
    wide_bad = _with(WEB_CLICK, "data.target.classList", ["c"] * 200_000 + [1])
    assert (
        validate_signal(wide_bad) == "'data.target.classList[200000]' must be string, got integer"
    )
    assert validate_signal(_with(WEB_CLICK, "index", 10**400)) is None


class _Exploding(dict):  # type: ignore[type-arg]
    def __contains__(self, key: object) -> bool:
        raise RuntimeError("boom")

    def __getitem__(self, key: object) -> Any:
        raise RuntimeError("boom")

    def get(self, key: object, default: Any = None) -> Any:
        raise RuntimeError("boom")


class _BadKey:
    def __hash__(self) -> int:
        return hash("type")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")


def _cyclic() -> dict[str, Any]:
    signal = copy.deepcopy(USER_DEFINED)
    signal["data"]["self"] = signal
    return signal


def _shared_wide() -> dict[str, Any]:
    # A DAG with 2**200 paths: must not be walked path by path.
    node: list[Any] = []
    for _ in range(200):
        node = [node, node]
    return _with(USER_DEFINED, "data.x", node)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        True,
        0,
        float("nan"),
        "",
        b"{}",
        [],
        (),
        {1, 2},
        object(),
        _nested_list(10_000),
        _nested_dict(10_000),
        {"type": "interaction"},
        {"type": None, "data": None},
        {1: 2, None: 3},
        {_BadKey(): 1},
        _Exploding(WEB_CLICK),
        _with(WEB_CLICK, "data", _Exploding(a=1)),
        _with(WEB_CLICK, "data.target", {("tuple",): object()}),
        _with(WEB_CLICK, "data.target.classList", ("btn",)),
        _with(WEB_CLICK, "data.target.id", object()),
        _with(WEB_CLICK, "type", ["interaction"]),
        _with(WEB_CLICK, "type", {"a": 1}),
        _with(WEB_CLICK, "timestamp", "\ud800"),
        _with(WEB_CLICK, "timestamp", "２０２４-05-01T12:00:00Z"),
        _cyclic(),
        _shared_wide(),
    ],
)
def test_hostile_input_never_raises(obj: Any) -> None:
    result = validate_signal(obj)
    assert result is None or isinstance(result, str)
    if result is None:  # kind_of's contract: it is asked only about validated signals
        assert kind_of(obj) in KINDS


def test_hostile_input_reasons() -> None:
    assert validate_signal(_cyclic()) == "nesting deeper than 64 levels"
    assert validate_signal(_shared_wide()) == "nesting deeper than 64 levels"
    assert validate_signal(_with(WEB_CLICK, "data.target.id", object())) == (
        "'data.target.id' must be string, got object"
    )
    assert validate_signal(_with(WEB_CLICK, "data.target.classList", ("btn",))) == (
        "'data.target.classList' must be array, got tuple"
    )
    assert validate_signal({_BadKey(): 1}) == "not a JSON value (RuntimeError)"
    unicode_digits = _with(WEB_CLICK, "timestamp", "٢٠٢٤-05-01T12:00:00Z")
    assert validate_signal(unicode_digits) is not None


# ---------------------------------------------------------------------------------------------
# Timestamps


def test_parse_timestamp() -> None:
    parsed = parse_timestamp("2024-05-01T12:00:00.123Z")
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed.isoformat() == "2024-05-01T12:00:00.123000+00:00"
    naive = parse_timestamp("2024-05-01T12:00:00")
    assert naive is not None and naive == parsed.replace(microsecond=0)
    assert parse_timestamp("2024-05-01T14:00:00,5+02:00") == parsed.replace(microsecond=500_000)
    for bad in ["", "2024-05-01", "2024-05-01 12:00:00", "2024-02-30T00:00:00Z", None, 1, []]:
        assert parse_timestamp(bad) is None


# ---------------------------------------------------------------------------------------------
# JSON Schema


def test_schema_file_matches_generator() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == signals.schema_text(), (
        "docs/signals.schema.json is stale: run `python -m evrule.compiler.signals`"
    )
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_write_schema(tmp_path: Path) -> None:
    target = signals.write_schema(tmp_path / "schema.json")
    assert target.read_text(encoding="utf-8") == signals.schema_text()


def test_schema_shape() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"type", "anonymousId", "timestamp", "index", "data"}
    assert schema["properties"]["type"]["enum"] == list(SIGNAL_TYPES)
    assert schema["properties"]["index"]["type"] == "integer"
    assert schema["properties"]["timestamp"]["pattern"] == signals.TIMESTAMP_PATTERN
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in schema["allOf"]}
    assert set(branches) == set(SIGNAL_TYPES)
    response = branches["network"]["properties"]["data"]
    # network: if action == request then ... else if action == response then ... else network
    assert response["if"]["properties"]["action"]["const"] == "request"
    assert response["else"]["then"]["properties"]["status"]["type"] == "integer"
    json.dumps(schema)  # plain JSON data only


def _resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return {**node, **schema["$defs"][name]}
    return node


_PY_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _schema_accepts(root: dict[str, Any], node: dict[str, Any], value: Any) -> bool:
    """A tiny evaluator for the keywords json_schema() uses (no jsonschema dependency)."""
    import re

    node = _resolve_ref(root, node)
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_PY_TYPES[t](value) for t in types):
            return False
    if "const" in node and value != node["const"]:
        return False
    if "enum" in node and value not in node["enum"]:
        return False
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        return False
    if isinstance(value, dict):
        if any(key not in value for key in node.get("required", [])):
            return False
        for key, sub in node.get("properties", {}).items():
            if key in value and not _schema_accepts(root, sub, value[key]):
                return False
    items = node.get("items")
    if (
        isinstance(value, list)
        and items is not None
        and not all(_schema_accepts(root, items, item) for item in value)
    ):
        return False
    for sub in node.get("allOf", []):
        if not _schema_accepts(root, sub, value):
            return False
    if "if" in node:
        branch = node.get("then") if _schema_accepts(root, node["if"], value) else node.get("else")
        if branch is not None and not _schema_accepts(root, branch, value):
            return False
    return True


def _variants() -> list[dict[str, Any]]:
    """Realistic signals and one-field mutations of them, accepted and rejected."""
    values: list[Any] = [None, True, 0, 200, 2.5, "", "x", [], ["x"], [1], {}, {"id": 1}]
    out: list[dict[str, Any]] = []
    for signal in REALISTIC.values():
        out.append(signal)
        for key in signal:
            out.append(_with(signal, key, _DELETE))
            out.extend(_with(signal, key, v) for v in values)
        for key in signal["data"]:
            out.extend(_with(signal, f"data.{key}", v) for v in values)
            inner = signal["data"][key]
            if isinstance(inner, dict):
                for sub in inner:
                    out.extend(_with(signal, f"data.{key}.{sub}", v) for v in values)
    return out


def test_schema_agrees_with_validate_signal() -> None:
    schema = json_schema()
    variants = _variants()
    assert len(variants) > 1000
    outcomes = set()
    for signal in variants:
        reason = validate_signal(signal)
        outcomes.add(reason is None)
        assert _schema_accepts(schema, schema, signal) == (reason is None), (signal, reason)
    assert outcomes == {True, False}
