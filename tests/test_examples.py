"""The examples project end to end: recorded sessions through the 31 example rules.

examples/sessions/ holds recorded signal sessions (JSON Lines, signals schema 2.0): a web shop
with five shoppers interleaved and a few damaged lines, a SaaS app's logins, forms, help center,
blog and billing, a mobile app, and the shop again as Segment debug-mode batches. Each session
runs the way `evrule run examples -i SESSION` runs it (`evrule.load` + `runner.run` over
`io.read_lines`), on both backends. What comes out is snapshotted as JSON lines for review
(tests/__snapshots__/test_examples/), and checked here against the Segment Spec with a validator
of this file's own, so that a bug in the runtime's own check cannot hide a bad event.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import evrule
from evrule.cli import cli
from evrule.compiler.ir import Plan
from evrule.explain import explain
from evrule.runtime.core import dumps
from evrule.runtime.io import Rejected, read_lines
from evrule.runtime.runner import Summary
from evrule.runtime.runner import run as run_stream

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = "examples"  # relative to ROOT, so that provenance (`context.evrule.file`) is stable
SESSIONS = sorted(p.name for p in (ROOT / EXAMPLES / "sessions").glob("*.jsonl"))
PER_SESSION = pytest.mark.parametrize(
    "name", SESSIONS, ids=[n.removesuffix(".jsonl") for n in SESSIONS]
)
BACKENDS = ("tables", "python")
MAX_MESSAGE_BYTES = 32 * 1024  # Segment's HTTP tracking API limit per message


def compile_examples() -> Plan:
    with contextlib.chdir(ROOT):
        return evrule.compile([EXAMPLES])


@functools.cache
def plan() -> Plan:
    return compile_examples()


@dataclass(frozen=True)
class Run:
    text: str  # the events as `evrule run` writes them: one compact JSON object a line
    rejected: tuple[Rejected, ...]
    summary: Summary

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


def run_session(name: str, backend: str, rules: Plan) -> Run:
    """`evrule run examples -i examples/sessions/NAME --backend BACKEND`, without the CLI."""
    matcher = evrule.load(rules, backend=backend)  # type: ignore[arg-type]
    lines: list[str] = []
    rejected: list[Rejected] = []
    source = f"{EXAMPLES}/sessions/{name}"
    with open(ROOT / source, "rb") as stream:
        summary = run_stream(
            matcher,
            read_lines(stream, source=source),
            lambda event: lines.append(dumps(event) + "\n"),
            rejected.append,
        )
    return Run("".join(lines), tuple(rejected), summary)


@functools.cache
def session(name: str, backend: str = "tables") -> Run:
    return run_session(name, backend, plan())


# ---- both backends, snapshots -------------------------------------------------------------


class JSONLinesSnapshot(SingleFileSnapshotExtension):
    """One reviewable `.jsonl` file per session under tests/__snapshots__/test_examples/."""

    file_extension = "jsonl"
    _write_mode = WriteMode.TEXT


@pytest.fixture
def jsonl_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(JSONLinesSnapshot)


@PER_SESSION
def test_backends_emit_identical_bytes(name: str) -> None:
    tables, python = session(name, "tables"), session(name, "python")
    assert tables.text, f"{name} emitted no event"
    assert python.text == tables.text
    assert python.rejected == tables.rejected
    assert python.summary.to_json() == tables.summary.to_json()


@PER_SESSION
def test_session_events(name: str, jsonl_snapshot: Any) -> None:
    assert session(name).text == jsonl_snapshot


@PER_SESSION
def test_session_rejected_lines(name: str, snapshot: Any) -> None:
    rejected = [
        # The decoder's own wording after "not valid JSON" differs between orjson and json.
        {
            "line": r.line,
            "reason": re.sub(r"^(not valid JSON): .*", r"\1", r.reason),
            "raw": r.raw[:72],
        }
        for r in session(name).rejected
    ]
    assert rejected == snapshot


def test_damaged_lines_all_reach_the_dead_letters() -> None:
    reasons = [r.reason for r in session("web-shop.jsonl").rejected]
    for expected in (
        "not valid JSON",  # a line cut off mid-write
        "missing 'anonymousId'",
        "unknown signal type 'performance'",
        "'data.status' must be integer, got string",  # a wrongly typed field
        "a Segment 'page' message, not a signal",
    ):
        assert any(reason.startswith(expected) for reason in reasons), expected
    assert len(reasons) == 5
    batch = [r.reason for r in session("debug-batch.jsonl").rejected]
    assert batch == ["batch item 0: 'Segment Signal Generated' message has no properties object"]


@PER_SESSION
def test_the_cli_writes_the_same_events_and_dead_letters(name: str, tmp_path: Path) -> None:
    out, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    args = ["run", EXAMPLES, "-i", f"{EXAMPLES}/sessions/{name}", "-o", str(out)]
    args += ["--dead-letter", str(dead), "--summary", "json"]
    with contextlib.chdir(ROOT):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = session(name)
    assert out.read_text("utf-8") == run.text
    assert dead.read_text("utf-8") == "".join(r.to_json() + "\n" for r in run.rejected)
    assert json.loads(result.stderr) == run.summary.to_json()


# ---- the Segment Spec, checked independently ------------------------------------------------

_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_FIELDS_BY_TYPE = {
    "track": {"event", "properties"},
    "identify": {"traits"},
    "page": {"name", "category", "properties"},
    "screen": {"name", "category", "properties"},
    "group": {"groupId", "traits"},
    "alias": {"previousId"},
}
_COMMON = {"type", "messageId", "timestamp", "anonymousId", "userId", "context", "integrations"}


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _is_date(timestamp: str) -> bool:
    try:
        datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:  # month 13, hour 25...
        return False
    return True


def spec_problems(event: dict[str, Any]) -> list[str]:
    """What makes `event` an invalid Segment Spec message (empty when it is valid)."""
    problems = []
    kind = event.get("type")
    if kind not in _FIELDS_BY_TYPE:
        return [f"unknown type {kind!r}"]
    unknown = set(event) - _COMMON - _FIELDS_BY_TYPE[kind]
    if unknown:
        problems.append(f"fields that a {kind} call does not have: {sorted(unknown)}")
    # Per type.
    if kind == "track" and not _nonempty_str(event.get("event")):
        problems.append("track without an event name")
    if kind == "identify" and not (_nonempty_str(event.get("userId")) or event.get("traits")):
        problems.append("identify without userId or traits")
    if kind == "group" and not _nonempty_str(event.get("groupId")):
        problems.append("group without a groupId")
    if kind == "alias" and not (
        _nonempty_str(event.get("userId")) and _nonempty_str(event.get("previousId"))
    ):
        problems.append("alias without userId and previousId")
    for key in ("name", "category"):
        if key in event and not isinstance(event[key], str):
            problems.append(f"{key} is not a string")
    for key in ("properties", "traits"):
        if key in event and not isinstance(event[key], dict):
            problems.append(f"{key} is not an object")
    # Common fields.
    if not _nonempty_str(event.get("messageId")):
        problems.append("no messageId")
    timestamp = event.get("timestamp")
    if not (isinstance(timestamp, str) and _ISO_8601.match(timestamp) and _is_date(timestamp)):
        problems.append(f"timestamp {timestamp!r} is not ISO-8601")
    if not (_nonempty_str(event.get("anonymousId")) or _nonempty_str(event.get("userId"))):
        problems.append("neither anonymousId nor userId")
    if "userId" in event and not _nonempty_str(event["userId"]):
        problems.append("userId is not a string")
    context = event.get("context")
    if not isinstance(context, dict) or context.get("library", {}).get("name") != "evrule":
        problems.append("context.library.name is not 'evrule'")
    if not isinstance(event.get("integrations"), dict):
        problems.append("integrations is not an object")
    size = len(json.dumps(event, ensure_ascii=False).encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        problems.append(f"{size} bytes, over Segment's 32 KB per message")
    return problems


def test_the_validator_rejects_what_it_should() -> None:
    common = {
        "anonymousId": "a1",
        "timestamp": "2026-03-17T14:03:23.497Z",
        "messageId": "evr-1",
        "context": {"library": {"name": "evrule", "version": "0"}},
        "integrations": {},
    }
    valid = {
        "track": {"type": "track", "event": "Signed Up", "properties": {}},
        "identify": {"type": "identify", "userId": "u1", "traits": {}},
        "page": {"type": "page", "properties": {}},
        "screen": {"type": "screen", "name": "Home", "properties": {}},
        "group": {"type": "group", "groupId": "g1", "traits": {}},
        "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
    }
    for fields in valid.values():
        assert spec_problems({**fields, **common}) == []
    invalid = [
        ({"event": ""}, "track", "track without an event name"),
        ({"userId": None}, "identify", "identify without userId or traits"),
        ({"groupId": None}, "group", "group without a groupId"),
        ({"previousId": None}, "alias", "alias without userId and previousId"),
        ({"properties": []}, "page", "properties is not an object"),
        ({"event": "x"}, "screen", "fields that a screen call does not have: ['event']"),
        ({"timestamp": "2026-03-17 14:03:23"}, "track", "is not ISO-8601"),
        ({"timestamp": "2026-13-17T14:03:23Z"}, "track", "is not ISO-8601"),
        ({"messageId": None}, "page", "no messageId"),
        ({"anonymousId": None}, "page", "neither anonymousId nor userId"),
        ({"userId": 8812}, "track", "userId is not a string"),
        ({"context": {"library": {"name": "analytics.js"}}}, "page", "is not 'evrule'"),
        ({"integrations": None}, "page", "integrations is not an object"),
        ({"properties": {"blob": "x" * MAX_MESSAGE_BYTES}}, "track", "over Segment's 32 KB"),
    ]
    for change, kind, message in invalid:
        event = {k: v for k, v in {**valid[kind], **common, **change}.items() if v is not None}
        assert any(message in p for p in spec_problems(event)), (change, kind)


def test_every_event_is_a_valid_segment_spec_message() -> None:
    seen: dict[str, str] = {}
    for name in SESSIONS:
        for line in session(name).text.splitlines():
            event = json.loads(line)
            assert spec_problems(event) == [], line
            # messageId is unique across the whole run of every session.
            assert event["messageId"] not in seen, (line, seen.get(event["messageId"]))
            seen[event["messageId"]] = line
            assert "password" not in line.lower(), line


def test_passwords_in_signals_never_reach_events() -> None:
    # The signals do carry passwords (login and signup request bodies, a newsletter form that
    # also creates an account): the rules must map around them.
    with_passwords = [
        name
        for name in SESSIONS
        if "password" in (ROOT / EXAMPLES / "sessions" / name).read_text("utf-8")
    ]
    assert with_passwords
    for name in with_passwords:
        assert "password" not in session(name).text.lower()


# ---- coverage, identity, determinism ------------------------------------------------------


def test_every_rule_fires_somewhere() -> None:
    fired: set[str] = set()
    for name in SESSIONS:
        fired |= set(session(name).summary.events_by_rule)
    rules = {rule.id for rule in plan().rules}
    assert len(rules) == 31
    assert rules - fired == set()


def test_partial_matches_expire_and_unless_cancels() -> None:
    summaries = [session(name).summary for name in SESSIONS]
    assert sum(s.expired for s in summaries) > 0
    assert sum(s.cancelled for s in summaries) > 0
    assert sum(s.warnings for s in summaries) == 0


def test_identity_carries_over_until_sign_out() -> None:
    events = session("auth-and-forms.jsonl").events
    identify = next(e for e in events if e["type"] == "identify")
    anon, user = identify["anonymousId"], identify["userId"]
    assert user == "8812"
    mine = [e for e in events if e["anonymousId"] == anon]
    signed_out = next(i for i, e in enumerate(mine) if e.get("event") == "Signed Out")
    before_login = mine[: mine.index(identify)]
    between, after = mine[mine.index(identify) : signed_out + 1], mine[signed_out + 1 :]
    assert before_login and between and after
    assert all("userId" not in e for e in before_login)
    assert all(e.get("userId") == user for e in between)
    assert all("userId" not in e for e in after)  # `reset`
    # Nobody else logs in: only the alias names a user id of its own.
    others = [e for e in events if e["anonymousId"] != anon and e["type"] != "alias"]
    assert others and all("userId" not in e for e in others)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_run_is_byte_identical(backend: str) -> None:
    rules = compile_examples()  # a fresh compile and fresh matchers
    for name in SESSIONS:
        again = run_session(name, backend, rules)
        assert again.text == session(name).text
        assert again.rejected == session(name).rejected


# ---- evrule test examples/ ----------------------------------------------------------------


def _test_command() -> tuple[Any, list[str]]:
    """`evrule test` through the CLI group once it is registered there, else the command."""
    if "test" in cli.commands:
        return cli, ["test"]
    from evrule.commands.test_cmd import test_command

    return test_command, []


def test_evrule_test_passes_on_the_examples() -> None:
    command, prefix = _test_command()
    with contextlib.chdir(ROOT):
        result = CliRunner().invoke(
            command, [*prefix, f"{EXAMPLES}/", "--fail-uncovered"], catch_exceptions=False
        )
    assert result.exit_code == 0, result.output
    summary = re.search(r"^(\d+) passed, (\d+) failed$", result.output, re.M)
    assert summary is not None, result.output
    assert int(summary.group(1)) >= 31 and summary.group(2) == "0"
    assert "coverage: 31 of 31 rule(s)" in result.output
    assert "uncovered" not in result.output
    assert "FAIL" not in result.output


@PER_SESSION
def test_explain_and_run_agree_on_every_session(name: str) -> None:
    # explain drives the same matcher as run: the events it reports are run's events, in order.
    with contextlib.chdir(ROOT), open(ROOT / EXAMPLES / "sessions" / name, "rb") as stream:
        reports = explain([EXAMPLES], stream, all_signals=True)
    explained = [e.event for r in reports for e in r.events]
    assert [dumps(e) + "\n" for e in explained] == session(name).text.splitlines(keepends=True)
