"""The Segment signal schema (2.0, with the 1.x field names still accepted), in one place.

Everything else in evrule asks this module what a signal looks like: the checker resolves rule
paths with `lookup`, the runtime picks a rule set with `kind_of` and screens input with
`validate_signal`, and `docs/signals.schema.json` is generated from `json_schema`. The tables
below are the single source for all of them, so they cannot disagree.

Standard library only: the runtime and the generated matcher modules import or embed parts of it.

Regenerate the published schema with ``python -m evrule.compiler.signals [PATH]``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_SCHEMA_PATH",
    "ENVELOPE",
    "JSON_TYPES",
    "KINDS",
    "REQUIRED_ENVELOPE",
    "SEGMENT_TYPE_IDS",
    "SIGNAL_TYPES",
    "TIMESTAMP_PATTERN",
    "FieldSpec",
    "KindSpec",
    "Lookup",
    "json_schema",
    "json_type",
    "kind_of",
    "lookup",
    "lookup_envelope",
    "matches_type",
    "parse_timestamp",
    "schema_text",
    "validate_signal",
    "write_schema",
]

JSON_TYPES: Final[tuple[str, ...]] = (
    "string",
    "number",
    "integer",
    "boolean",
    "object",
    "array",
    "null",
    "any",
)
"""The type names used in `FieldSpec.types` (and by the rest of the compiler).

"number" covers integers and floats; "integer" is the subset with no fractional part (as in JSON
Schema, so ``3.0`` counts); "any" is any JSON value.
"""

SIGNAL_TYPES: Final[tuple[str, ...]] = (
    "interaction",
    "navigation",
    "network",
    "localData",
    "instrumentation",
    "userDefined",
)
"""The values of a signal's top-level ``type``."""

REQUIRED_ENVELOPE: Final[tuple[str, ...]] = ("type", "anonymousId", "timestamp", "index", "data")
"""Envelope keys every signal must carry (the reference lists them on every signal; ``context``
is left optional so hand-written and replayed signals stay usable)."""

# ISO-8601 date and time as the SDKs write it ("2024-05-01T12:00:00.000Z"). Deliberately narrower
# than datetime.fromisoformat (no space separator, no date-only form) and written with [0-9]
# rather than \d, which in Python also matches non-ASCII digits but in ECMA-262 (the regex dialect
# of JSON Schema) does not. The fraction is capped at nanoseconds so the pattern bounds the length.
TIMESTAMP_PATTERN: Final[str] = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}([.,][0-9]{1,9})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)
_TIMESTAMP_RE: Final = re.compile(TIMESTAMP_PATTERN)

DEFAULT_MAX_DEPTH: Final[int] = 64


# --------------------------------------------------------------------------------------------
# Table types


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a signal: its JSON types, a description and what lies below it.

    ``children`` are the known keys of an object; ``items`` describes array elements; ``open``
    means keys other than ``children`` are arbitrary data (``target.attributes``, ``formData``,
    network ``body``...), so paths below it are accepted without a type.
    """

    types: tuple[str, ...]
    doc: str
    children: Mapping[str, FieldSpec] | None = None
    items: FieldSpec | None = None
    open: bool = False

    def __post_init__(self) -> None:
        # Catch typos in the tables at import time rather than as silent "unknown" types later.
        bad = [t for t in self.types if t not in JSON_TYPES]
        if not self.types or bad:
            raise ValueError(f"bad JSON types {self.types!r}")
        if self.children is not None:
            # Shared tables: hand out read-only views so no caller can edit the schema in place.
            object.__setattr__(self, "children", MappingProxyType(dict(self.children)))


@dataclass(frozen=True, slots=True)
class KindSpec:
    """A kind of signal that rules can match, e.g. ``interaction.click``.

    ``type`` is the signal's top-level ``type``; ``discriminator`` is the ``(key, value)`` under
    ``data`` that selects this sub-kind, or None for a whole type. ``fields`` are the known keys of
    ``data`` (web and mobile together). ``open`` means ``data`` may carry arbitrary other keys
    (``userDefined``).
    """

    name: str
    type: str
    discriminator: tuple[str, str] | None
    fields: Mapping[str, FieldSpec]
    doc: str
    open: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of resolving a path: ``known`` (with its types), ``open`` (below a field that
    holds arbitrary data, types ``("any",)``) or ``unknown`` (with the closest known sibling name
    as ``suggestion`` when there is one)."""

    status: Literal["known", "open", "unknown"]
    types: tuple[str, ...]
    suggestion: str | None = None


# --------------------------------------------------------------------------------------------
# The tables

_S = ("string",)
_S_NULL = ("string", "null")
_NUM_NULL = ("number", "null")  # browsers serialise NaN and Infinity as null
_ANY = ("any",)


def _f(
    types: tuple[str, ...],
    doc: str,
    children: Mapping[str, FieldSpec] | None = None,
    items: FieldSpec | None = None,
    open: bool = False,
) -> FieldSpec:
    return FieldSpec(types, doc, children, items, open)


_PAGE_FIELDS: Final[dict[str, FieldSpec]] = {
    "url": _f(_S, "full URL of the page"),
    "path": _f(_S, "URL path"),
    "search": _f(_S, "query string, with the leading '?'"),
    "hostname": _f(_S, "host name"),
    "hash": _f(_S, "fragment, with the leading '#'"),
    "referrer": _f(_S, "document.referrer"),
    "title": _f(_S, "document.title"),
}
_PAGE: Final = _f(("object",), "the web page the signal was captured on (web only)", _PAGE_FIELDS)

# A label as the web SDK records it; older SDKs wrote plain strings, so those are accepted too.
_LABEL_FIELDS: Final[dict[str, FieldSpec]] = {
    "id": _f(_S, "id of the label element"),
    "textContent": _f(_S, "text of the label, whitespace collapsed"),
    "attributes": _f(("object",), "attributes of the label element", open=True),
}
_LABEL_TYPES = ("object", "string", "null")

_ELEMENT_FIELDS: Final[dict[str, FieldSpec]] = {
    # Web: every element.
    "attributes": _f(("object",), "the element's attributes, name to value", open=True),
    "classList": _f(("array",), "CSS classes", items=_f(_S, "a CSS class")),
    "id": _f(_S, "element id"),
    "labels": _f(
        ("array",),
        "labels of the element (<label for>, aria-labelledby)",
        items=_f(("object", "string"), "a label", _LABEL_FIELDS),
    ),
    "label": _f(_LABEL_TYPES, "the first of labels", _LABEL_FIELDS),
    "name": _f(_S_NULL, "name attribute"),
    "nodeName": _f(_S, "DOM nodeName, upper case"),
    "tagName": _f(_S, "DOM tagName, upper case"),
    "title": _f(_S_NULL, "title attribute (web) or component title (mobile)"),
    "type": _f(_S_NULL, "type attribute, e.g. 'submit', 'checkbox'"),
    # HTMLLIElement, HTMLProgressElement and HTMLMeterElement have numeric values.
    "value": _f(("string", "number", "null"), "current value (redacted outside debug mode)"),
    "textContent": _f(_S_NULL, "text content, whitespace collapsed"),
    "innerText": _f(_S_NULL, "rendered text, whitespace collapsed"),
    "describedBy": _f(_LABEL_TYPES, "the element referenced by aria-describedby", _LABEL_FIELDS),
    # Web: <select>.
    "selectedOptions": _f(
        ("array",),
        "selected options of a <select>",
        items=_f(
            ("object",),
            "an option",
            {
                "label": _f(_S_NULL, "option label"),
                "value": _f(_S_NULL, "option value"),
                "text": _f(_S_NULL, "option text (older SDKs)"),
            },
        ),
    ),
    "selectedIndex": _f(("integer",), "index of the selected option, -1 for none"),
    # Web: <input>.
    "checked": _f(("boolean",), "whether a checkbox or radio input is checked"),
    # Web: <form>.
    "formData": _f(("object",), "the form's string fields, name to value", open=True),
    # Web: <audio>/<video>.
    "currentSrc": _f(_S_NULL, "media: the playing source"),
    "currentTime": _f(_NUM_NULL, "media: playback position in seconds"),
    "duration": _f(_NUM_NULL, "media: length in seconds"),
    "ended": _f(("boolean",), "media: playback ended"),
    "muted": _f(("boolean",), "media: muted"),
    "paused": _f(("boolean",), "media: paused"),
    "playbackRate": _f(_NUM_NULL, "media: playback rate"),
    "readyState": _f(("integer",), "media: HTMLMediaElement.readyState"),
    "src": _f(_S_NULL, "media: src attribute"),
    "volume": _f(_NUM_NULL, "media: volume, 0 to 1"),
    # Mobile.
    "component": _f(_S, "mobile: the UI component, e.g. 'Button'"),
    "data": _f(_ANY, "mobile: data the app attached to the component", open=True),
}


def _element(doc: str, types: tuple[str, ...] = ("object",)) -> FieldSpec:
    return _f(types, doc, _ELEMENT_FIELDS)


_INTERACTION_COMMON: Final[dict[str, FieldSpec]] = {
    "eventType": _f(_S, "'click', 'submit' or 'change'"),
    "target": _element("the element (web) or component (mobile) interacted with"),
}
_CLICK_FIELDS: Final[dict[str, FieldSpec]] = {}
_SUBMIT_FIELDS: Final[dict[str, FieldSpec]] = {
    "submitter": _element("the button that submitted the form, if any", ("object", "null")),
}
_CHANGE_FIELDS: Final[dict[str, FieldSpec]] = {
    "listener": _f(_S, "what noticed the change: 'contenteditable', 'onchange' or 'mutation'"),
    "change": _f(_ANY, "what changed (redacted outside debug mode)", open=True),
}

_NAVIGATION_FIELDS: Final[dict[str, FieldSpec]] = {
    # 2.0 web.
    "currentUrl": _f(_S, "URL after the navigation"),
    "previousUrl": _f(_S_NULL, "URL before the navigation; absent on first load"),
    "path": _f(_S, "URL path"),
    "search": _f(_S, "query string"),
    "hash": _f(_S, "fragment"),
    "title": _f(_S, "document title"),
    "changedProperties": _f(
        ("array",), "which URL parts changed", items=_f(_S, "'path', 'search' or 'hash'")
    ),
    # 2.0 mobile.
    "currentScreen": _f(_S, "mobile: screen shown now"),
    "previousScreen": _f(_S_NULL, "mobile: screen shown before"),
    # 1.x.
    "url": _f(_S, "1.x: URL after the navigation"),
    "prevUrl": _f(_S_NULL, "1.x: URL before the navigation"),
    "action": _f(_S, "1.x: 'pageLoad' or 'urlChange' (web), 'forward', 'modal'... (mobile)"),
    "screen": _f(_S, "1.x mobile: screen shown now"),
}

_NETWORK_COMMON: Final[dict[str, FieldSpec]] = {
    "action": _f(_S, "'request' or 'response'"),
    "url": _f(_S, "request URL"),
    "body": _f(
        _ANY,
        "parsed JSON body, else raw text, else null; mobile wraps JSON as {content: ...}",
        open=True,
    ),
    "contentType": _f(_S_NULL, "Content-Type header"),
    "requestId": _f(_S, "pairs a response with its request"),
    "data": _f(_ANY, "1.x: the body", open=True),
}
_REQUEST_FIELDS: Final[dict[str, FieldSpec]] = {
    "method": _f(_S, "HTTP method"),
}
_RESPONSE_FIELDS: Final[dict[str, FieldSpec]] = {
    "status": _f(("integer",), "HTTP status code"),
    "ok": _f(("boolean",), "status in 200-299"),
}

_LOCAL_DATA_FIELDS: Final[dict[str, FieldSpec]] = {
    "action": _f(
        _S, "'created', 'read', 'updated', 'deleted', 'undefined'; older 'loaded', 'saved'"
    ),
    "identifier": _f(_S, "the storage key"),
    "data": _f(_S_NULL, "the stored value as a string"),
}

_INSTRUMENTATION_FIELDS: Final[dict[str, FieldSpec]] = {
    "type": _f(_S, "'track', 'page', 'screen', 'identify', 'group' or 'alias'"),
    "rawEvent": _f(("object",), "the analytics call the app itself made", open=True),
}

# userDefined data is the app's own: on web the SDK overwrites `page`, but a mobile app may use a
# `page` key of its own, so it is typed "any" here rather than rejected when it is not an object.
_USER_DEFINED_FIELDS: Final[dict[str, FieldSpec]] = {
    "page": _f(_ANY, "the web page (web); the app's own data otherwise", _PAGE_FIELDS),
}


def _kind(
    name: str,
    fields: Mapping[str, FieldSpec],
    doc: str,
    discriminator: tuple[str, str] | None = None,
    open: bool = False,
) -> KindSpec:
    merged = dict(fields)
    merged.setdefault("page", _PAGE)
    return KindSpec(name, name.split(".")[0], discriminator, merged, doc, open)


_KIND_LIST: Final[tuple[KindSpec, ...]] = (
    _kind(
        "interaction",
        {**_INTERACTION_COMMON, **_CLICK_FIELDS, **_SUBMIT_FIELDS, **_CHANGE_FIELDS},
        "a user interaction: click, submit or change (web), or a component interaction (mobile)",
    ),
    _kind(
        "interaction.click",
        {**_INTERACTION_COMMON, **_CLICK_FIELDS},
        "a click on a button, link or other clickable element",
        ("eventType", "click"),
    ),
    _kind(
        "interaction.submit",
        {**_INTERACTION_COMMON, **_SUBMIT_FIELDS},
        "a form submission; target is the form",
        ("eventType", "submit"),
    ),
    _kind(
        "interaction.change",
        {**_INTERACTION_COMMON, **_CHANGE_FIELDS},
        "a change of an input, select or contenteditable element",
        ("eventType", "change"),
    ),
    _kind("navigation", _NAVIGATION_FIELDS, "a page load, URL change (web) or screen change"),
    _kind(
        "network",
        {**_NETWORK_COMMON, **_REQUEST_FIELDS, **_RESPONSE_FIELDS},
        "an HTTP request or response the app made",
    ),
    _kind(
        "network.request",
        {**_NETWORK_COMMON, **_REQUEST_FIELDS},
        "an HTTP request",
        ("action", "request"),
    ),
    _kind(
        "network.response",
        {**_NETWORK_COMMON, **_RESPONSE_FIELDS},
        "an HTTP response (JSON responses only on web)",
        ("action", "response"),
    ),
    _kind("localData", _LOCAL_DATA_FIELDS, "a read or write of local storage"),
    _kind("instrumentation", _INSTRUMENTATION_FIELDS, "an analytics call the app made itself"),
    _kind(
        "userDefined",
        _USER_DEFINED_FIELDS,
        "a signal the app emitted itself, with keys of its own",
        open=True,
    ),
)

KINDS: Final[Mapping[str, KindSpec]] = MappingProxyType({k.name: k for k in _KIND_LIST})
"""Every kind rules can name, by name (``interaction``, ``interaction.click``...)."""


def _sub_kind_table() -> dict[str, tuple[str, dict[str, str]]]:
    """signal type -> (discriminator key, {discriminator value: sub-kind name})."""
    table: dict[str, tuple[str, dict[str, str]]] = {}
    for kind in _KIND_LIST:
        if kind.discriminator is not None:
            key, value = kind.discriminator
            table.setdefault(kind.type, (key, {}))[1][value] = kind.name
    return table


_SUB_KINDS: Final = _sub_kind_table()
_SIGNAL_TYPE_SET: Final = frozenset(SIGNAL_TYPES)

SEGMENT_TYPE_IDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "interaction": "interaction",
        "interaction-click": "interaction.click",
        "interaction-submit": "interaction.submit",
        "interaction-change": "interaction.change",
        "navigation": "navigation",
        "network": "network",
        "network-request": "network.request",
        "network-response": "network.response",
        "localdata": "localData",
        "instrumentation": "instrumentation",
        "userdefined": "userDefined",
    }
)
"""Segment Event Builder ``contextualSignalType`` ids mapped to kind names."""

ENVELOPE: Final[Mapping[str, FieldSpec]] = MappingProxyType(
    {
        "type": _f(_S, "the signal type: " + ", ".join(SIGNAL_TYPES)),
        "anonymousId": _f(_S, "device or browser identity; rules match within one"),
        "timestamp": _f(_S, "when the signal was captured, ISO-8601"),
        "index": _f(("integer",), "per-session sequence number, increasing"),
        "messageId": _f(_S, "id of the message that carried the signal"),
        "userId": _f(_S_NULL, "the identified user, when known"),
        # An analytics context: besides these keys it may carry device, os, locale and so on.
        "context": _f(
            ("object",),
            "analytics context of the app that captured the signal",
            {
                "app": _f(
                    ("object",),
                    "the app",
                    {
                        "name": _f(_S, "app name"),
                        # Some mobile SDKs write version codes as numbers.
                        "version": _f(("string", "number"), "app version"),
                        "build": _f(("string", "number"), "app build"),
                        "namespace": _f(_S, "bundle id or package name"),
                    },
                ),
                "library": _f(
                    ("object",),
                    "the SDK",
                    {"name": _f(_S, "SDK name"), "version": _f(_S, "SDK version")},
                ),
                "signalsRuntime": _f(_ANY, "the signals runtime in use", open=True),
            },
            open=True,
        ),
        # Kind-specific: resolve paths below it with lookup(kind, path).
        "data": _f(("object",), "the signal's payload, by type", open=True),
    }
)
"""The top-level keys of a signal."""


# --------------------------------------------------------------------------------------------
# JSON types


def json_type(value: object) -> str:
    """The JSON type name of a decoded value ("integer" for ints, "number" for floats).

    Values that decoded JSON cannot hold get a descriptive name instead ("non-finite number",
    or the Python type name), which only ever appears in error messages.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "non-finite number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def matches_type(value: object, types: Sequence[str]) -> bool:
    """Whether a decoded value has one of the JSON types (``"any"`` matches everything)."""
    actual = json_type(value)
    for t in types:
        if t == actual or t == "any":
            return True
        if t == "number" and actual == "integer":
            return True
        # JSON Schema semantics, so validate_signal and docs/signals.schema.json agree: 3.0 is an
        # integer.
        if t == "integer" and isinstance(value, float) and value.is_integer():
            return True
    return False


def parse_timestamp(value: object) -> datetime | None:
    """Parse a signal timestamp; None unless it is an ISO-8601 string as the SDKs write it.

    A timestamp without an offset is taken as UTC, so results always compare with each other.
    """
    if not isinstance(value, str) or _TIMESTAMP_RE.fullmatch(value) is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(",", "."))
    except (ValueError, OverflowError):  # e.g. month 13, hour 24
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Kinds and paths


def kind_of(signal: Mapping[str, Any]) -> str | None:
    """The most specific kind name for a decoded signal, or None when its type is unknown.

    ``{"type": "interaction", "data": {"eventType": "click"}}`` is ``"interaction.click"``; an
    interaction with an unknown or missing eventType is just ``"interaction"``. Meant for decoded
    JSON (run `validate_signal` first); it does not guard against hostile Mapping objects.
    """
    if not isinstance(signal, Mapping):
        return None
    signal_type = signal.get("type")
    # The isinstance check keeps unhashable values (lists, dicts) away from the `in` test.
    if not isinstance(signal_type, str) or signal_type not in _SIGNAL_TYPE_SET:
        return None
    sub = _SUB_KINDS.get(signal_type)
    if sub is not None:
        key, by_value = sub
        data = signal.get("data")
        if isinstance(data, Mapping):
            value = data.get(key)
            if isinstance(value, str) and value in by_value:
                return by_value[value]
    return signal_type


def suggest(name: object, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt name, ignoring case; None when nothing is close."""
    candidates = list(candidates)
    if not isinstance(name, str) or not candidates:
        return None
    by_lower = {c.lower(): c for c in candidates}
    lowered = name.lower()
    if lowered in by_lower:
        return by_lower[lowered]
    close = difflib.get_close_matches(lowered, list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _as_index(segment: object) -> int | None:
    if isinstance(segment, bool):
        return None
    if isinstance(segment, int):
        return segment
    # Dotted paths (Segment's own "data.labels.0.textContent") give indexes as digit strings.
    if isinstance(segment, str) and segment.isascii() and segment.isdigit():
        return int(segment)
    return None


def _resolve(root: FieldSpec, path: Sequence[str | int]) -> Lookup:
    if isinstance(path, str):
        raise TypeError("path must be a sequence of segments, not a string")
    spec = root
    for segment in path:
        children = spec.children or {}
        if isinstance(segment, str) and segment in children:
            spec = children[segment]
        elif spec.items is not None and _as_index(segment) is not None:
            spec = spec.items
        elif spec.open:
            return Lookup("open", _ANY, None)
        else:
            return Lookup("unknown", (), suggest(segment, children))
    return Lookup("known", spec.types, None)


_KIND_ROOTS: Final[dict[str, FieldSpec]] = {
    k.name: FieldSpec(("object",), k.doc, k.fields, open=k.open) for k in _KIND_LIST
}
_ENVELOPE_ROOT: Final = FieldSpec(("object",), "a signal", ENVELOPE)


def lookup(kind: str, path: Sequence[str | int]) -> Lookup:
    """Resolve a path below a signal's ``data`` for a kind, e.g.
    ``lookup("interaction.click", ["target", "innerText"])``.

    String segments name object keys, integer segments (or digit strings) index arrays. Raises
    KeyError for an unknown kind name.
    """
    root = _KIND_ROOTS.get(kind)
    if root is None:
        raise KeyError(f"unknown signal kind {kind!r}")
    return _resolve(root, path)


def lookup_envelope(path: Sequence[str | int]) -> Lookup:
    """Resolve a path from the top of a signal (``anonymousId``, ``context.app.version``...).

    Paths below ``data`` are ``open`` here; resolve them per kind with `lookup`.
    """
    return _resolve(_ENVELOPE_ROOT, path)


# --------------------------------------------------------------------------------------------
# Validation

_ARTICLES: Final[dict[str, str]] = {
    "integer": "an integer",
    "object": "an object",
    "array": "an array",
    "any": "any value",
    "null": "null",
}


def _expected(types: Sequence[str], *, article: bool) -> str:
    words = [_ARTICLES.get(t, f"a {t}") if article else t for t in types]
    return " or ".join(words)


def _short(text: str, limit: int = 40) -> str:
    # Messages may quote input; never echo a megabyte back.
    return text if len(text) <= limit else text[:limit] + "..."


def _too_deep(obj: object, max_depth: int) -> bool:
    """Whether objects/arrays nest more than max_depth levels (the signal itself is level 1).

    Iterative so hostile input cannot exhaust the stack. Each container's deepest level seen so
    far is remembered: a shared container is revisited only when reached deeper, which keeps
    Python-built DAGs linear, and a cycle keeps getting deeper until it is rejected.
    """
    deepest: dict[int, int] = {}
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            return True
        if deepest.get(id(value), 0) >= depth:
            continue
        deepest[id(value)] = depth
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _check_value(value: object, spec: FieldSpec, where: str) -> str | None:
    # Recursion here follows the tables, which are a few levels deep, never the input's depth.
    if not matches_type(value, spec.types):
        return f"'{where}' must be {_expected(spec.types, article=False)}, got {json_type(value)}"
    if spec.children and isinstance(value, dict):
        return _check_fields(value, spec.children, where)
    if spec.items is not None and isinstance(value, list):
        for i, item in enumerate(value):
            problem = _check_value(item, spec.items, f"{where}[{i}]")
            if problem is not None:
                return problem
    return None


def _check_fields(obj: dict[Any, Any], fields: Mapping[str, FieldSpec], where: str) -> str | None:
    for name, spec in fields.items():
        if name in obj:
            problem = _check_value(obj[name], spec, f"{where}.{name}")
            if problem is not None:
                return problem
    return None


def _check_envelope_field(obj: dict[Any, Any], name: str) -> str | None:
    value = obj[name]
    spec = ENVELOPE[name]
    if not matches_type(value, spec.types):
        expected = _expected(spec.types, article=True)
        return f"'{name}' must be {expected}, got {json_type(value)}"
    if spec.children and isinstance(value, dict):
        return _check_fields(value, spec.children, name)
    return None


def _validate(obj: object, max_depth: int) -> str | None:
    if not isinstance(obj, dict):
        return "not a JSON object"
    if _too_deep(obj, max_depth):
        return f"nesting deeper than {max_depth} levels"
    for name in ("type", "anonymousId", "timestamp", "index"):
        if name not in obj:
            return f"missing {name!r}"
        problem = _check_envelope_field(obj, name)
        if problem is not None:
            return problem
        if name == "type" and obj["type"] not in _SIGNAL_TYPE_SET:
            return f"unknown signal type {_short(obj['type'])!r}"
        if name == "timestamp" and parse_timestamp(obj["timestamp"]) is None:
            got = _short(obj["timestamp"])
            return f"'timestamp' must be an ISO-8601 date and time, got {got!r}"
    for name in ("messageId", "userId", "context"):
        if name in obj:
            problem = _check_envelope_field(obj, name)
            if problem is not None:
                return problem
    if "data" not in obj:
        return "missing 'data'"
    data = obj["data"]
    if not isinstance(data, dict):
        return "'data' must be an object"
    kind = kind_of(obj) or obj["type"]  # kind_of cannot miss: the type was checked above
    return _check_fields(data, KINDS[kind].fields, "data")


def validate_signal(obj: object, *, max_depth: int = DEFAULT_MAX_DEPTH) -> str | None:
    """None when a decoded JSON value is an acceptable signal, else a short reason.

    Checks the envelope (required keys, types, a known ``type``, an ISO-8601 ``timestamp``, an
    integer ``index``), the nesting depth, and the JSON type of every known field under ``data``
    for the signal's kind. Unknown extra keys are fine. Never raises.
    """
    try:
        return _validate(obj, max_depth)
    except Exception as exc:
        # Only reachable with Python objects that decoded JSON never produces (dict subclasses
        # whose methods raise, keys with a failing __eq__...): reject rather than crash the
        # caller's ingestion loop.
        return f"not a JSON value ({type(exc).__name__})"


# --------------------------------------------------------------------------------------------
# JSON Schema


def _schema_types(types: Sequence[str]) -> list[str] | None:
    if "any" in types:
        return None
    # "integer" is a subset of "number"; listing both is noise.
    return [t for t in types if not (t == "integer" and "number" in types)]


# Field groups that recur (every kind has a page, elements appear as target and submitter...):
# the schema states them once under $defs and refers to them.
_SCHEMA_DEFS: Final[dict[str, Mapping[str, FieldSpec]]] = {
    "element": _ELEMENT_FIELDS,
    "label": _LABEL_FIELDS,
    "page": _PAGE_FIELDS,
}


def _properties(fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    return {name: _field_schema(spec) for name, spec in fields.items()}


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": spec.doc}
    types = _schema_types(spec.types)
    if types is not None:
        schema["type"] = types[0] if len(types) == 1 else types
    if spec.children:
        children = dict(spec.children)
        ref = next((n for n, group in _SCHEMA_DEFS.items() if group == children), None)
        if ref is not None:
            # The shared definition holds only "properties", so this field's own "type" decides
            # whether null or a string is allowed in its place.
            schema["$ref"] = f"#/$defs/{ref}"
        else:
            schema["properties"] = _properties(children)
    if spec.items is not None:
        schema["items"] = _field_schema(spec.items)
    return schema


def _data_schema(kind: KindSpec) -> dict[str, Any]:
    return {"type": "object", "description": kind.doc, "properties": _properties(kind.fields)}


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for one signal, built from the same tables as
    `validate_signal`. It cannot express the nesting limit or calendar checks (e.g. 30 February);
    everything else matches."""
    properties = {name: _field_schema(spec) for name, spec in ENVELOPE.items()}
    properties["type"]["enum"] = list(SIGNAL_TYPES)
    properties["timestamp"]["pattern"] = TIMESTAMP_PATTERN
    branches: list[dict[str, Any]] = []
    for signal_type in SIGNAL_TYPES:
        data = _data_schema(KINDS[signal_type])
        sub = _SUB_KINDS.get(signal_type)
        if sub is not None:
            # if/then/else chain on the discriminator, falling back to the whole type's fields,
            # exactly as kind_of picks the kind whose fields validate_signal checks.
            key, by_value = sub
            for value, name in reversed(list(by_value.items())):
                data = {
                    "if": {"properties": {key: {"const": value}}, "required": [key]},
                    "then": _data_schema(KINDS[name]),
                    "else": data,
                }
        branches.append(
            {
                "if": {"properties": {"type": {"const": signal_type}}, "required": ["type"]},
                "then": {"properties": {"data": data}},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Segment signal",
        "description": (
            "One Segment signal (schema 2.0; 1.x field names accepted), as evrule validates it. "
            "Generated from evrule.compiler.signals; do not edit by hand."
        ),
        "type": "object",
        "required": list(REQUIRED_ENVELOPE),
        "properties": properties,
        "allOf": branches,
        "$defs": {name: {"properties": _properties(group)} for name, group in _SCHEMA_DEFS.items()},
    }


def schema_text() -> str:
    """`json_schema` serialised exactly as ``docs/signals.schema.json`` stores it."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


# The repository's docs/ directory (this file is evrule/compiler/signals.py).
DEFAULT_SCHEMA_PATH: Final[Path] = Path(__file__).resolve().parents[2] / "docs/signals.schema.json"


def write_schema(path: str | Path = DEFAULT_SCHEMA_PATH) -> Path:
    """Write `schema_text` to a file (by default ``docs/signals.schema.json``); returns the path."""
    target = Path(path)
    target.write_text(schema_text(), encoding="utf-8")
    return target


if __name__ == "__main__":
    print(write_schema(*sys.argv[1:2]))
