"""Reading signal streams: formats recognised per line, and every kind of bad line."""

from __future__ import annotations

import io
import json

import pytest

from evrule.runtime.io import Item, Rejected, decode_line, read_lines, sort_items
from tests.helpers import click, signal


def _one(line: str | bytes) -> Item | Rejected:
    (result,) = decode_line(line, 7, "in.jsonl")
    return result


def test_raw_signal_line() -> None:
    s = click("a1", 0, 1, "Go")
    item = _one(json.dumps(s))
    assert isinstance(item, Item) and item.signal == s and item.line == 7


def test_segment_debug_batch_carries_signals() -> None:
    s1, s2 = click("a1", 0, 1, "Go"), signal("navigation", "a1", 1, 2, path="/")
    for s in (s1, s2):
        del s["anonymousId"]  # the SDK keeps identity on the message
    batch = {
        "batch": [
            {"type": "track", "event": "Segment Signal Generated", "properties": s1,
             "anonymousId": "a1", "messageId": "m1"},
            {"type": "page", "name": "Home", "anonymousId": "a1"},  # an ordinary call
            {"type": "track", "event": "Segment Signal Generated", "properties": s2,
             "anonymousId": "a1"},
        ],
        "sentAt": "2026-03-01T12:00:05.000Z",
    }  # fmt: skip
    out = decode_line(json.dumps(batch), 3)
    assert [type(o) for o in out] == [Item, Item]
    assert [o.signal["anonymousId"] for o in out if isinstance(o, Item)] == ["a1", "a1"]
    assert out[0].signal["data"]["target"]["innerText"] == "Go"  # type: ignore[union-attr]


def test_single_signal_message() -> None:
    s = click("a1", 0, 1, "Go")
    msg = {"type": "track", "event": "Segment Signal Generated", "properties": s}
    assert isinstance(_one(json.dumps(msg)), Item)


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ("42", "not a JSON object"),
    ('"text"', "not a JSON object"),
    ("null", "not a JSON object"),
    ('{"anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
     "missing 'type'"),
    ('{"type": "interaction", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
     "missing 'anonymousId'"),
    ('{"type": "teleport", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {}}', "unknown signal type 'teleport'"),
    ('{"type": "network", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {"action": "response", "url": "u", "status": "200"}}', "'data.status'"),
    ('{"type": "navigation", "anonymousId": 5, "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
     ' "data": {}}', "'anonymousId' must be"),
    ('{"type": "navigation", "anonymousId": "a", "timestamp": "yesterday", "index": 1,'
     ' "data": {}}', "'timestamp'"),
    ('{"type": "track", "event": "Order Completed", "anonymousId": "a"}',
     "a Segment 'track' message, not a signal"),
    ('{"type": "track", "event": "Segment Signal Generated", "properties": 3}',
     "has no properties object"),
    ('{"batch": {"a": 1}}', "'batch' is not an array"),
    ('{"batch": [17]}', "batch item 0: batch item is not a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_bad_lines_are_rejected_with_a_reason(line: str, reason: str) -> None:
    result = _one(line)
    assert isinstance(result, Rejected)
    assert reason in result.reason
    assert result.line == 7 and result.source == "in.jsonl"
    assert json.loads(result.to_json())["raw"]


def test_deep_nesting_is_rejected_not_a_crash() -> None:
    deep = '{"type": "userDefined", "anonymousId": "a", "timestamp": "2026-03-01T12:00:00Z",'
    deep += ' "index": 1, "data": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    result = _one(deep)
    assert isinstance(result, Rejected)
    shallow_but_deep = {"type": "userDefined", "anonymousId": "a",
                        "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}  # fmt: skip
    node: dict = shallow_but_deep["data"]  # type: ignore[assignment]
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    result = _one(json.dumps(shallow_but_deep))
    assert isinstance(result, Rejected) and "nesting" in result.reason


def test_invalid_utf8_is_rejected() -> None:
    result = _one(b'{"type": "interaction", "anonymousId": "\xff\xfe"}')
    assert isinstance(result, Rejected)


def test_read_lines_limits_line_size_without_reading_it_whole() -> None:
    good = json.dumps(click("a1", 0, 1, "Go")).encode()
    huge = b'{"type": "userDefined", "data": "' + b"x" * 5_000_000 + b'"}'
    stream = io.BytesIO(good + b"\n" + huge + b"\n\n" + good + b"\n")
    out = list(read_lines(stream, max_line_bytes=10_000))
    assert [type(o) for o in out] == [Item, Rejected, Item]
    rejected = out[1]
    assert isinstance(rejected, Rejected) and rejected.line == 2
    assert f"line too long: {len(huge)} bytes, over the limit of 10000" in rejected.reason
    assert len(rejected.raw) < 5000
    assert out[2].line == 4  # blank lines count as lines but yield nothing


def test_last_line_without_newline() -> None:
    good = json.dumps(click("a1", 0, 1, "Go")).encode()
    assert [type(o) for o in read_lines(io.BytesIO(good))] == [Item]


def test_sort_items_orders_by_timestamp_then_index() -> None:
    a = click("a1", 5, 2, "late")
    b = click("a1", 5, 1, "same time, lower index")
    c = click("a2", 1, 9, "early")
    items = [Item(1, a), Rejected(2, "bad", "x"), Item(3, b), Item(4, c)]
    ordered = sort_items(items)
    assert isinstance(ordered[0], Rejected)
    assert [i.line for i in ordered[1:]] == [4, 3, 1]


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("not valid JSON: unexpected character: line 1 column 2", "not valid JSON"),
        ("missing 'anonymousId'", "missing 'anonymousId'"),
        ("batch item 3: missing 'type'", "missing 'type'"),
        ("unknown signal type 'warp'", "unknown signal type"),
        ("'data.status' must be integer, got string", "wrongly typed field"),
        ("batch item 0: 'index' must be an integer, got boolean", "wrongly typed field"),
        ("a Segment 'page' message, not a signal", "a Segment message, not a signal"),
        ("line too long: 5 bytes, over the limit of 4", "line too long"),
        ("no string 'userId' to match by", "no string 'userId' to match by"),
    ],
)
def test_rejection_categories_for_the_summary(reason: str, category: str) -> None:
    assert Rejected(1, reason, "raw").category == category
