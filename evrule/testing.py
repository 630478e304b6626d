"""Rule tests as code: `*.evtest` files, run by `evrule test`.

A test file sits next to the rules it tests and holds **cases**: signals in, the Segment Spec
events the rules must emit out. This module parses test files (every problem with its line),
finds them, runs each case through the same runtime as `evrule run` (`evrule.compile` once per set
of rule files, `evrule.load`, `runner.run` over items from `io.decode_line` / `io.read_lines`),
compares expected and actual events, rewrites failing expectations (`--update`), reports which
rules no case exercises and writes JUnit XML. It never prints: `evrule/commands/test_cmd.py` does.

    >>> files = discover(["rules/"])                        # doctest: +SKIP
    >>> report = run(files, backend="tables")               # doctest: +SKIP
    >>> report.passed, report.failed                        # doctest: +SKIP
    (12, 0)

The format is described in docs/testing.md.
"""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from evrule.compiler.diagnostics import CompileError
from evrule.compiler.ir import Plan
from evrule.runtime.core import signal_id
from evrule.runtime.io import Item, Rejected, decode_line, read_lines, sort_items
from evrule.runtime.runner import run as run_stream

Backend = Literal["tables", "python"]

TEST_SUFFIX = ".evtest"
RULE_SUFFIX = ".evrule"
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# The event field that the name string of an `expect` line stands for.
NAME_FIELDS = {"track": "event", "page": "name", "screen": "name"}
# What `--update` writes besides type and name: what a rule maps, not what evrule fills in.
WRITTEN_FIELDS = ("userId", "groupId", "previousId", "category", "properties", "traits")
# Folders that never hold tests and can be huge (virtualenvs, node_modules): not searched.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv"})

_MATCHER_OPTIONS = ("key", "max_partials", "max_span_ms", "lateness_ms")
OPTIONS: dict[str, str] = {
    "key": 'a non-empty envelope path such as "userId" or "context.sessionId"',
    "max_partials": "an integer of at least 1",
    "max_span_ms": "a number of milliseconds above 0",
    "lateness_ms": "a number of milliseconds, 0 or more",
    "sort": "true or false",
    "allow_rejected": "true or false",
}
DIRECTIVES = ("rules", "only", "options", "case", "signals", "signal", "expect")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


# ---- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """A mistake in a test file, or why a case could not run: `path:line: message`."""

    path: str
    line: int  # 0 when no single line is to blame
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Expect:
    """An `expect` line: the fields an event must have (a deep subset), type and name included."""

    line: int
    fields: dict[str, Any]

    @property
    def text(self) -> str:
        return format_expect(self.fields)


@dataclass(frozen=True, slots=True)
class SignalSource:
    """A `signals PATH` line (`path` set) or an inline `signal {...}` line (`text` set)."""

    line: int
    path: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Only:
    """An `only` line: the rule ids (glob patterns allowed) whose events a case counts."""

    line: int
    patterns: tuple[str, ...]

    def admits(self, rule_id: Any) -> bool:
        return isinstance(rule_id, str) and any(fnmatchcase(rule_id, p) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Case:
    """One `case "name"` block."""

    name: str
    line: int
    last_line: int  # its last directive line: `--update` appends expect lines after it
    sources: tuple[SignalSource, ...]
    expects: tuple[Expect, ...]
    nothing_line: int | None  # the line of `expect nothing`
    only: Only | None
    options: dict[str, Any]

    @property
    def has_expectations(self) -> bool:
        return bool(self.expects) or self.nothing_line is not None


@dataclass(frozen=True, slots=True)
class TestFile:
    """A parsed `.evtest` file; `problems` lists its mistakes (then no case runs)."""

    __test__ = False  # not a pytest class, despite the name

    path: Path
    text: str
    rules: tuple[tuple[int, str], ...]  # (line, path as written)
    only: Only | None
    options: dict[str, Any]
    cases: tuple[Case, ...]
    problems: tuple[Problem, ...]

    @property
    def name(self) -> str:
        return self.path.as_posix()

    def case_id(self, case: Case) -> str:
        return f"{self.name}::{case.name}"


# ---- parsing ------------------------------------------------------------------------------


def strip_comment(line: str) -> str:
    """`line` without its `#` comment; a `#` inside a JSON string is text, not a comment."""
    in_string = escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return line[:i]
    return line


class EvtestSyntaxError(ValueError):
    """A mistake on one line of a test file; `column` is 0-based within the directive's
    arguments. `parse` turns it into a `Problem`."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.column = column


def _case_name(text: str) -> str | None:
    try:
        values = _json_values(text)
    except EvtestSyntaxError:
        return None
    ok = len(values) == 1 and isinstance(values[0], str) and values[0].strip()
    return values[0] if ok else None


def _json_values(text: str, what: str = "") -> list[Any]:
    """The JSON values written one after another in `text`; `what` prefixes error messages."""
    prefix = f"{what}: " if what else ""
    out: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return out
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise EvtestSyntaxError(f"{prefix}not valid JSON: {exc.msg}", exc.pos) from None
        except ValueError as exc:
            raise EvtestSyntaxError(f"{prefix}not valid JSON: {exc}", pos) from None
        if end < len(text) and not text[end].isspace() and text[end - 1] not in ']}"':
            raise EvtestSyntaxError(
                f"{prefix}not valid JSON: values must be separated by spaces", end
            )
        out.append(value)
        pos = end


def _words(text: str) -> list[str]:
    """Space-separated words; a word in double quotes is a JSON string (for spaces or `#`)."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text[pos] == '"':
            try:
                value, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise EvtestSyntaxError(f"bad quoted word: {exc.msg}", exc.pos) from None
            out.append(value)
        else:
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            out.append(text[pos:end])
            pos = end
    return out


def parse_expect(text: str) -> dict[str, Any] | None:
    """The fields of an `expect` line's text (after `expect`); None for `expect nothing`.

    >>> parse_expect('track "Signed Up" {"properties": {"plan": "pro"}}')
    {'type': 'track', 'event': 'Signed Up', 'properties': {'plan': 'pro'}}
    """
    head, _, tail = text.strip().partition(" ")
    if head == "nothing" and not tail.strip():
        return None
    if head not in EVENT_TYPES:
        raise EvtestSyntaxError(
            f"expect: unknown event type {head!r}; write `expect nothing` or one of "
            + ", ".join(EVENT_TYPES),
            0,
        )
    offset = len(head) + 1
    try:
        values = _json_values(tail)
    except EvtestSyntaxError as exc:
        raise EvtestSyntaxError(f"expect: {exc.message}", (exc.column or 0) + offset) from None
    fields: dict[str, Any] = {"type": head}
    name: str | None = None
    obj: dict[str, Any] | None = None
    for value in values:
        if isinstance(value, str) and name is None and obj is None:
            name = value
        elif isinstance(value, dict) and obj is None:
            obj = value
        else:
            raise EvtestSyntaxError(
                "expect: after the event type comes an optional name (a string) and then an "
                "optional JSON object of fields",
                offset,
            )
    if name is not None:
        key = NAME_FIELDS.get(head)
        if key is None:
            raise EvtestSyntaxError(
                f"expect: {head} events have no name; give fields in a JSON object"
            )
        fields[key] = name
    for key, value in (obj or {}).items():
        if key in fields:
            raise EvtestSyntaxError(f"expect: {key!r} is given twice")
        fields[key] = value
    return fields


def check_options(obj: Any) -> dict[str, Any]:
    """The options of an `options` line; raises `EvtestSyntaxError` for a bad one."""
    if not isinstance(obj, dict):
        raise EvtestSyntaxError('options: expected a JSON object such as {"key": "userId"}')
    for key, value in obj.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "key":
            ok = isinstance(value, str) and all(value.split("."))
        elif key == "max_partials":
            ok = type(value) is int and value >= 1
        elif key == "max_span_ms":
            ok = number and value > 0
        elif key == "lateness_ms":
            ok = number and value >= 0
        elif key in OPTIONS:
            ok = isinstance(value, bool)
        else:
            raise EvtestSyntaxError(f"options: unknown option {key!r}; known: {', '.join(OPTIONS)}")
        if not ok:
            raise EvtestSyntaxError(f"options: {key!r} must be {OPTIONS[key]}")
    return obj


@dataclass
class _CaseDraft:
    name: str
    line: int
    last_line: int
    sources: list[SignalSource] = field(default_factory=list)
    expects: list[Expect] = field(default_factory=list)
    nothing_line: int | None = None
    only: Only | None = None
    options: dict[str, Any] | None = None
    signal_lines: int = 0

    def done(self) -> Case:
        return Case(
            self.name,
            self.line,
            self.last_line,
            tuple(self.sources),
            tuple(self.expects),
            self.nothing_line,
            self.only,
            self.options or {},
        )


def parse(text: str, path: str | Path = "<string>") -> TestFile:
    """Parse the text of a test file. Never raises: mistakes are collected in `problems`,
    each with its line.

    >>> tf = parse('case "x"\\n  signal {"type": "navigation"}\\n  expect nothing\\n')
    >>> [c.name for c in tf.cases], tf.problems
    (['x'], ())
    """
    path = Path(path)
    name = path.as_posix()
    problems: list[Problem] = []
    rules: list[tuple[int, str]] = []
    only: Only | None = None
    options: dict[str, Any] | None = None
    cases: list[_CaseDraft] = []
    names: dict[str, int] = {}
    lines = text.removeprefix("\ufeff").split("\n")
    for number, raw in enumerate(lines, start=1):
        content = strip_comment(raw.rstrip("\r"))
        m = re.match(r"\s*(\S+)\s*", content)
        if m is None:
            continue
        word, rest, rest_at = m.group(1), content[m.end() :].rstrip(), m.end()
        case = cases[-1] if cases else None
        if case is not None and word != "case":
            case.last_line = number
        try:
            if word not in DIRECTIVES:
                known = ", ".join(DIRECTIVES)
                raise EvtestSyntaxError(f"unknown directive {word!r}; expected one of {known}")
            if case is None and word in ("signals", "signal", "expect"):
                raise EvtestSyntaxError(
                    f'`{word}` belongs to a case: write a `case "name"` line first'
                )
            if word == "rules":
                if case is not None:
                    raise EvtestSyntaxError("`rules` belongs before the first case")
                found = _words(rest)
                if not found:
                    raise EvtestSyntaxError("rules: name at least one rule file or folder")
                rules += [(number, w) for w in found]
            elif word == "only":
                patterns = tuple(_words(rest))
                if not patterns:
                    raise EvtestSyntaxError("only: name at least one rule id")
                if (case.only if case else only) is not None:
                    raise EvtestSyntaxError("only: given twice; put all rule ids on one line")
                if case is None:
                    only = Only(number, patterns)
                else:
                    case.only = Only(number, patterns)
            elif word == "options":
                values = _json_values(rest, "options")
                if len(values) != 1:
                    raise EvtestSyntaxError("options: expected one JSON object")
                checked = check_options(values[0])
                if (case.options if case else options) is not None:
                    raise EvtestSyntaxError("options: given twice; put all options in one object")
                if case is None:
                    options = checked
                else:
                    case.options = checked
            elif word == "case":
                title = _case_name(rest)
                # Open the case even when its line is wrong, so that its own lines are not
                # reported as strays too.
                cases.append(_CaseDraft(title or rest, number, number))
                if title is None:
                    raise EvtestSyntaxError(
                        'case: expected a name in double quotes: case "what it shows"'
                    )
                if title in names:
                    first = names[title]
                    raise EvtestSyntaxError(
                        f"case: the name {title!r} is already used on line {first}"
                    )
                names[title] = number
            else:
                assert case is not None
                if word == "signals":
                    files = _words(rest)
                    if not files:
                        raise EvtestSyntaxError("signals: name a JSON Lines file")
                    case.sources += [SignalSource(number, path=f) for f in files]
                elif word == "signal":
                    case.signal_lines += 1
                    values = _json_values(rest, "signal")
                    if len(values) != 1 or not isinstance(values[0], dict):
                        raise EvtestSyntaxError("signal: expected one JSON object on the line")
                    case.sources.append(SignalSource(number, text=rest))
                else:  # expect
                    fields = parse_expect(rest)
                    if fields is None:
                        if case.nothing_line is not None or case.expects:
                            raise EvtestSyntaxError(
                                "`expect nothing` cannot be combined with other expects"
                            )
                        case.nothing_line = number
                    elif case.nothing_line is not None:
                        raise EvtestSyntaxError(
                            "`expect nothing` cannot be combined with other expects"
                        )
                    else:
                        case.expects.append(Expect(number, fields))
        except EvtestSyntaxError as exc:
            where = f" (column {rest_at + exc.column + 1})" if exc.column is not None else ""
            problems.append(Problem(name, number, exc.message + where))
    for draft in cases:
        if not draft.sources and not draft.signal_lines:
            problems.append(
                Problem(name, draft.line, f"case {draft.name!r} has no `signals` or `signal` line")
            )
    if not cases and not problems:
        problems.append(Problem(name, 0, 'no case in this file: add a `case "name"` block'))
    problems.sort(key=lambda p: p.line)
    return TestFile(
        path,
        text,
        tuple(rules),
        only,
        options or {},
        tuple(c.done() for c in cases),
        tuple(problems),
    )


def load(path: str | Path) -> TestFile:
    """Read and parse one test file; an unreadable file gives a `TestFile` with a problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _broken(path, 0, f"cannot read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _broken(path, data[: exc.start].count(b"\n") + 1, "not UTF-8 text")
    return parse(text, path)


def _broken(path: Path, line: int, message: str) -> TestFile:
    return TestFile(path, "", (), None, {}, (), (Problem(path.as_posix(), line, message),))


def _walk(folder: Path, suffix: str) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        yield from (Path(root) / f for f in files if f.endswith(suffix))


def find_test_files(paths: Sequence[str | Path]) -> list[Path]:
    """`*.evtest` files: given files as they are, folders searched recursively (skipping
    hidden folders and `node_modules`/`__pycache__`/`venv`), sorted and without duplicates.

    Raises `FileNotFoundError` for a path that does not exist and `ValueError` for a rule file.
    """
    found: set[Path] = set()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found.update(_walk(path, TEST_SUFFIX))
        elif path.is_file():
            if path.suffix == RULE_SUFFIX:
                raise ValueError(f"{p} is a rule file: give its test file, or the folder of both")
            found.add(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    return sorted(found, key=lambda q: q.as_posix())


def discover(paths: Sequence[str | Path]) -> list[TestFile]:
    """Parse every test file under `paths` (see `find_test_files`), in sorted order."""
    return [load(p) for p in find_test_files(paths)]


# ---- comparing events -----------------------------------------------------------------------

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """A field where an event differs from an expectation."""

    path: tuple[str | int, ...]
    expected: Any
    actual: Any  # _MISSING when the event has no such field
    note: str = ""

    def render(self) -> str:
        where = format_path(self.path)
        if self.actual is _MISSING:
            return f"{where}: expected {compact(self.expected)}, but the event has no such field"
        if self.note:
            return f"{where}: {self.note}, actual {compact(self.actual)}"
        return f"{where}: expected {compact(self.expected)}, actual {compact(self.actual)}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def field_diffs(expected: Any, actual: Any, path: tuple[str | int, ...] = ()) -> list[FieldDiff]:
    """Where `actual` fails to match `expected`; empty when it matches.

    Objects match when every expected key is present and matches (other keys are ignored);
    arrays match item by item and must have the same length; scalars match when they have the
    same JSON type and are equal (`1` matches `1.0`, never `"1"` or `true`).

    >>> field_diffs({"properties": {"price": 20}}, {"properties": {"price": 20.0, "x": 1}})
    []
    >>> [d.render() for d in field_diffs({"a": [1, "2"]}, {"a": [1, 2]})]
    ['a[1]: expected "2", actual 2']
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [FieldDiff(path, expected, actual, "expected an object")]
        out: list[FieldDiff] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(FieldDiff((*path, key), value, _MISSING))
            else:
                out += field_diffs(value, actual[key], (*path, key))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [FieldDiff(path, expected, actual, "expected an array")]
        if len(expected) != len(actual):
            note = f"expected {len(expected)} item(s), not {len(actual)}"
            return [FieldDiff(path, expected, actual, note)]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += field_diffs(e, a, (*path, i))
        return out
    if _json_kind(expected) != _json_kind(actual) or expected != actual:
        return [FieldDiff(path, expected, actual)]
    return []


def matches(expected: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether `event` has every field of `expected` (see `field_diffs`)."""
    return not field_diffs(expected, event)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One way a case's events differ from its expectations.

    `kind` is "differs" (an expectation and the event in its place disagree on some fields),
    "missing" (no event for an expectation), "extra" (an event no expectation accounts for) or
    "order" (an expectation matches an event, but not in the order of the expect lines).
    `actual` indexes the case's counted events.
    """

    kind: Literal["differs", "missing", "extra", "order"]
    expect: Expect | None
    actual: int | None
    fields: tuple[FieldDiff, ...] = ()


@dataclass(frozen=True, slots=True)
class Comparison:
    pairs: tuple[tuple[int, int], ...]  # (expectation, event) that match, in order
    mismatches: tuple[Mismatch, ...]


def _resembles(expected: dict[str, Any], event: dict[str, Any]) -> bool:
    if expected.get("type") != event.get("type"):
        return False
    key = NAME_FIELDS.get(str(event.get("type")))
    return key is None or key not in expected or expected[key] == event.get(key)


def compare(expects: Sequence[Expect], events: Sequence[dict[str, Any]]) -> Comparison:
    """Align expectations with events, in order: the longest run of matching pairs (an LCS);
    in each gap between them an expectation and an event of the same type and name are
    reported as one that "differs", and the rest as "missing" or "extra" (or "order" when an
    expectation matches an event elsewhere)."""
    n, m = len(expects), len(events)
    ok = [[matches(e.fields, a) for a in events] for e in expects]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if ok[i][j] else max(best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if ok[i][j] and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    mismatches: list[Mismatch] = []
    extra: set[int] = set()
    missing: list[int] = []
    bounds = [(-1, -1), *pairs, (n, m)]
    for (i0, j0), (i1, j1) in pairwise(bounds):
        free = list(range(j0 + 1, j1))
        for ei in range(i0 + 1, i1):
            near = next((aj for aj in free if _resembles(expects[ei].fields, events[aj])), None)
            if near is None:
                missing.append(ei)
                continue
            free.remove(near)
            diffs = tuple(field_diffs(expects[ei].fields, events[near]))
            mismatches.append(Mismatch("differs", expects[ei], near, diffs))
        extra.update(free)
    for ei in missing:
        elsewhere = next((aj for aj in sorted(extra) if ok[ei][aj]), None)
        if elsewhere is not None:
            extra.discard(elsewhere)
            mismatches.append(Mismatch("order", expects[ei], elsewhere))
        else:
            mismatches.append(Mismatch("missing", expects[ei], None))
    mismatches.sort(key=lambda x: x.expect.line if x.expect else 0)
    mismatches += [Mismatch("extra", None, aj) for aj in sorted(extra)]
    return Comparison(tuple(pairs), tuple(mismatches))


# ---- writing events as expectations ---------------------------------------------------------


def compact(value: Any, limit: int = 240) -> str:
    """Compact JSON text of a value, shortened with `…` past `limit` characters."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_path(path: Sequence[str | int]) -> str:
    """`properties.items[0]["Plan Name"]`: a field path the way the docs write it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "(the event)"


def format_expect(fields: dict[str, Any], keyword: str = "expect") -> str:
    """The `expect` line for `fields`: `expect track "Name" {"properties":{...}}`."""
    rest = dict(fields)
    kind = rest.pop("type", None)
    parts = [keyword, str(kind)] if keyword else [str(kind)]
    name_key = NAME_FIELDS.get(str(kind))
    if name_key is not None and isinstance(rest.get(name_key), str):
        parts.append(json.dumps(rest.pop(name_key), ensure_ascii=False))
    if rest:
        parts.append(json.dumps(rest, separators=(",", ":"), ensure_ascii=False))
    return " ".join(parts)


def minimal(event: dict[str, Any]) -> dict[str, Any]:
    """What `--update` writes for an event: its type, name and what the rule mapped
    (`properties`, `traits`, `userId`, ...), not `messageId`, `timestamp` or `context`."""
    kind = event.get("type")
    out: dict[str, Any] = {"type": kind}
    name_key = NAME_FIELDS.get(str(kind))
    if name_key is not None and event.get(name_key) is not None:
        out[name_key] = event[name_key]
    for key in WRITTEN_FIELDS:
        if key in event and event[key] not in (None, {}, []):
            out[key] = event[key]
    return out


def project(actual: Any, expected: Any) -> Any:
    """`actual` cut down to the fields `expected` names, to show next to it."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [project(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def rule_of(event: dict[str, Any]) -> Any:
    """The id of the rule that emitted `event` (from its `context.evrule` provenance)."""
    ctx = event.get("context")
    prov = ctx.get("evrule") if isinstance(ctx, dict) else None
    return prov.get("rule") if isinstance(prov, dict) else None


# ---- running --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one case did: its events, how they compare, and problems that kept it from running
    (or that fail it besides the comparison, such as rejected signals)."""

    file: TestFile
    case: Case
    events: tuple[dict[str, Any], ...] = ()  # every event the rules emitted
    counted: tuple[dict[str, Any], ...] = ()  # those the case checks (`only`)
    comparison: Comparison = Comparison((), ())
    problems: tuple[Problem, ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()
    ran: bool = False  # the signals went through the matcher
    seconds: float = 0.0
    signal_places: dict[str, str] = field(default_factory=dict)  # signal id -> "line 7"...

    @property
    def id(self) -> str:
        return self.file.case_id(self.case)

    @property
    def mismatches(self) -> tuple[Mismatch, ...]:
        return self.comparison.mismatches

    @property
    def passed(self) -> bool:
        return self.ran and self.case.has_expectations and not self.mismatches and not self.problems

    @property
    def updatable(self) -> bool:
        """`--update` can fix it: it ran, and its expectations are wrong or absent."""
        return self.ran and (bool(self.mismatches) or not self.case.has_expectations)

    def describe(self, index: int) -> str:
        """`rule shop.product_added at shop.evrule:41; signals line 8, cart.jsonl:2`."""
        event = self.counted[index]
        ctx = event.get("context") if isinstance(event.get("context"), dict) else {}
        prov = ctx.get("evrule") if isinstance(ctx.get("evrule"), dict) else {}
        ids = prov.get("signals") if isinstance(prov.get("signals"), list) else []
        places = ", ".join(self.signal_places.get(str(s), str(s)) for s in ids)
        return f"rule {prov.get('rule')} at {prov.get('file')}:{prov.get('line')}; signals {places}"

    def details(self) -> str:
        """The readable diff: what was expected, what came, and why the case fails."""
        out: list[str] = [str(p) for p in self.problems]
        if not self.ran:
            return "\n".join(out)
        if not self.case.has_expectations:
            out.append(
                f"{self.file.name}:{self.case.line}: no `expect` line: list the events the case "
                "must produce (or `expect nothing`), or record them with --update"
            )
        if self.mismatches:
            only = self.case.only or self.file.only
            head = f"expected {len(self.case.expects)} event(s), got {len(self.counted)}"
            if only is not None:
                head += f" (counting only {' '.join(only.patterns)}; {len(self.events)} in all)"
            out.append(head)
        where = self.file.name
        for mm in self.mismatches:
            exp = mm.expect
            if mm.kind == "differs":
                assert exp is not None and mm.actual is not None
                event = self.counted[mm.actual]
                shown = {"type": event.get("type")}
                name_key = NAME_FIELDS.get(str(event.get("type")))
                if name_key is not None and name_key in event:
                    shown[name_key] = event[name_key]
                shown.update(project(event, exp.fields))
                out.append(
                    f"{where}:{exp.line}: differs from actual event #{mm.actual + 1} "
                    f"({self.describe(mm.actual)}):"
                )
                out += [f"    {d.render()}" for d in mm.fields]
                out.append(f"    expected: {format_expect(exp.fields, '')}")
                out.append(f"    actual:   {format_expect(shown, '')}")
            elif mm.kind == "missing":
                assert exp is not None
                out.append(f"{where}:{exp.line}: missing event: {exp.text}")
            elif mm.kind == "order":
                assert exp is not None and mm.actual is not None
                out.append(
                    f"{where}:{exp.line}: out of order: actual event #{mm.actual + 1} matches "
                    f"`{exp.text}` but comes elsewhere among the events "
                    f"({self.describe(mm.actual)})"
                )
            else:
                assert mm.actual is not None
                out.append(f"extra event #{mm.actual + 1} ({self.describe(mm.actual)}):")
                out.append(f"    {format_expect(minimal(self.counted[mm.actual]))}")
        if not self.passed:
            for w in self.warnings[:10]:
                out.append(
                    f"map warning: {w.get('file')}:{w.get('line')}: {w.get('rule')}: "
                    f"{w.get('message')}"
                )
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class FileResult:
    """A test file's cases, or the problems that kept all of them from running."""

    file: TestFile
    cases: tuple[CaseResult, ...] = ()
    problems: tuple[Problem, ...] = ()
    rule_files: tuple[str, ...] = ()
    compile_error: CompileError | None = None

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def failed(self) -> int:
        # A file that could not run at all counts once, so it can never look like a pass.
        return sum(not c.passed for c in self.cases) + (1 if self.problems else 0)


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule of a tested rule set, for the coverage report."""

    id: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.id} ({self.file}:{self.line})"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which rules some case exercised (an event of the rule was counted in a case)."""

    rules: tuple[RuleRef, ...]
    covered: frozenset[tuple[str, str]]  # (rule id, rule file)
    untested_files: tuple[str, ...] = ()  # rule files under the searched folders no test loads

    @property
    def uncovered(self) -> tuple[RuleRef, ...]:
        return tuple(r for r in self.rules if (r.id, r.file) not in self.covered)


@dataclass(frozen=True, slots=True)
class Report:
    files: tuple[FileResult, ...]
    coverage: Coverage

    @property
    def cases(self) -> list[CaseResult]:
        return [c for f in self.files for c in f.cases]

    @property
    def passed(self) -> int:
        return sum(f.passed for f in self.files)

    @property
    def failed(self) -> int:
        return sum(f.failed for f in self.files)


def _norm(path: Path) -> str:
    return Path(os.path.normpath(path)).as_posix()


def rule_files_of(tf: TestFile) -> tuple[list[str], list[Problem]]:
    """The rule files a test file tests: its `rules` lines (relative to the test file; a folder
    stands for every `*.evrule` below it), else every `*.evrule` beside the test file."""
    base = tf.path.parent
    problems: list[Problem] = []
    out: set[str] = set()
    for line, written in tf.rules:
        path = base / written
        if path.is_dir():
            found = {_norm(p) for p in _walk(path, RULE_SUFFIX)}
            if not found:
                problems.append(Problem(tf.name, line, f"rules: no *.evrule file in {written}"))
            out |= found
        elif path.is_file():
            out.add(_norm(path))
        else:
            problems.append(Problem(tf.name, line, f"rules: no such file or folder: {written}"))
    if not tf.rules:
        out = {_norm(p) for p in base.glob(f"*{RULE_SUFFIX}") if p.is_file()}
        if not out:
            problems.append(
                Problem(tf.name, 0, "no *.evrule file beside this test file: add a `rules` line")
            )
    return sorted(out), problems


class Session:
    """Runs test files with one backend, compiling each distinct set of rule files once.

    >>> session = Session("python")                         # doctest: +SKIP
    >>> results = [session.run_file(tf) for tf in discover(["rules/"])]  # doctest: +SKIP
    """

    def __init__(self, backend: Backend = "tables"):
        if backend not in ("tables", "python"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend
        self.plans: dict[tuple[str, ...], Plan | CompileError] = {}
        self._modules: dict[tuple[str, ...], ModuleType] = {}

    def plan(self, rule_files: tuple[str, ...]) -> Plan:
        """The compiled plan of a set of rule files; raises `CompileError` (also when cached)."""
        if rule_files not in self.plans:
            from evrule.api import compile as compile_rules

            try:
                self.plans[rule_files] = compile_rules(list(rule_files))
            except CompileError as exc:
                self.plans[rule_files] = exc
        found = self.plans[rule_files]
        if isinstance(found, CompileError):
            raise found
        return found

    def matcher(self, rule_files: tuple[str, ...], plan: Plan, options: dict[str, Any]) -> Any:
        """A fresh matcher, as `evrule.load(plan, backend=..., **options)` makes it."""
        from evrule import __version__
        from evrule.api import load, python_module

        opts = {k: options[k] for k in _MATCHER_OPTIONS if k in options}
        if self.backend == "python":
            # `load` generates and imports the module on every call (tens of ms); the module
            # is the same for every case, so make it once and call what `load` would call.
            module = self._modules.get(rule_files)
            if module is None:
                module = self._modules[rule_files] = python_module(plan)
            return module.create_matcher(version=__version__, **opts)
        return load(plan, backend="tables", **opts)

    def run_file(self, tf: TestFile) -> FileResult:
        """Run every case of a test file."""
        if tf.problems:
            return FileResult(tf, problems=tf.problems)
        files, problems = rule_files_of(tf)
        if problems:
            return FileResult(tf, problems=tuple(problems))
        key = tuple(files)
        try:
            plan = self.plan(key)
        except CompileError as exc:
            line = tf.rules[0][0] if tf.rules else 0
            why = Problem(tf.name, line, "the rules do not compile (see the errors above)")
            cases = tuple(CaseResult(tf, c, problems=(why,)) for c in tf.cases)
            return FileResult(tf, cases, rule_files=key, compile_error=exc)
        return FileResult(
            tf, tuple(self.run_case(tf, c, key, plan) for c in tf.cases), rule_files=key
        )

    def run_case(
        self, tf: TestFile, case: Case, rule_files: tuple[str, ...], plan: Plan
    ) -> CaseResult:
        """Run one case: its signals through a fresh matcher, exactly as `evrule run` would."""
        start = time.perf_counter()
        problems: list[Problem] = []
        only = case.only or tf.only
        if only is not None:
            ids = [r.id for r in plan.rules]
            for pattern in only.patterns:
                if not any(fnmatchcase(i, pattern) for i in ids):
                    why = f"only: no rule of the tested files has the id {pattern!r}"
                    problems.append(Problem(tf.name, only.line, why))
        options = {**tf.options, **case.options}
        items, places, signal_places = self._items(tf, case, problems)
        if problems:
            return CaseResult(tf, case, problems=tuple(problems))
        if options.get("sort"):
            items = sort_items(items)
        events: list[dict[str, Any]] = []
        rejected: list[Rejected] = []
        try:
            matcher = self.matcher(rule_files, plan, options)
            run_stream(matcher, items, events.append, rejected.append)
        except Exception as exc:  # a bug in the runtime: fail this case, keep testing the rest
            why = f"internal error while matching: {type(exc).__name__}: {exc}"
            return CaseResult(tf, case, problems=(Problem(tf.name, case.line, why),))
        if not options.get("allow_rejected"):
            for r in rejected:
                path, line = places.get(r.line, (tf.name, case.line))
                problems.append(Problem(path, line, f"signal rejected: {r.reason}"))
        counted = tuple(e for e in events if only is None or only.admits(rule_of(e)))
        return CaseResult(
            tf,
            case,
            tuple(events),
            counted,
            compare(case.expects, counted),
            tuple(problems),
            tuple(matcher.warnings),
            ran=True,
            seconds=time.perf_counter() - start,
            signal_places=signal_places,
        )

    def _items(
        self, tf: TestFile, case: Case, problems: list[Problem]
    ) -> tuple[list[Item | Rejected], dict[int, tuple[str, int]], dict[str, str]]:
        """The case's signals in order, numbered 1, 2, ... (as `Item.line`) so that events and
        rejections can be traced back to the test file line or JSON Lines file line."""
        base = tf.path.parent
        items: list[Item | Rejected] = []
        places: dict[int, tuple[str, int]] = {}
        signal_places: dict[str, str] = {}

        def add(decoded: Iterable[Item | Rejected], path: str, short: str) -> None:
            for item in decoded:
                n = len(items) + 1
                line = item.line
                places[n] = (path, line)
                if isinstance(item, Item):
                    items.append(Item(n, item.signal))
                    signal_places.setdefault(signal_id(item.signal), f"{short}{line}")
                else:
                    items.append(Rejected(n, item.reason, item.raw, item.source))

        for src in case.sources:
            if src.text is not None:
                add(decode_line(src.text, src.line, tf.name), tf.name, "line ")
                continue
            assert src.path is not None
            path = _norm(base / src.path)
            try:
                with open(path, "rb") as stream:
                    decoded = list(read_lines(stream, source=path))
            except OSError as exc:
                why = f"signals: cannot read {src.path}: {exc.strerror or exc}"
                problems.append(Problem(tf.name, src.line, why))
                continue
            add(decoded, path, f"{src.path}:")
        return items, places, signal_places


def coverage(
    results: Sequence[FileResult], session: Session, searched: Sequence[str | Path] = ()
) -> Coverage:
    """Which rules of the tested rule sets some case exercised, and which rule files under the
    `searched` folders no test file loads at all."""
    rules: dict[tuple[str, str], RuleRef] = {}
    used: set[str] = set()
    for fr in results:
        used.update(fr.rule_files)
        plan = session.plans.get(fr.rule_files)
        if isinstance(plan, Plan):
            for r in plan.rules:
                rules.setdefault((r.id, r.file), RuleRef(r.id, r.file, r.line))
    covered: set[tuple[str, str]] = set()
    for fr in results:
        for c in fr.cases:
            for e in c.counted:
                prov = e.get("context", {}).get("evrule", {})
                covered.add((str(prov.get("rule")), str(prov.get("file"))))
    untested = {_norm(p) for s in searched if Path(s).is_dir() for p in _walk(Path(s), RULE_SUFFIX)}
    return Coverage(
        tuple(sorted(rules.values(), key=lambda r: (r.file, r.line))),
        frozenset(covered),
        tuple(sorted(untested - used)),
    )


def run(
    files: Sequence[TestFile], *, backend: Backend = "tables", searched: Sequence[str | Path] = ()
) -> Report:
    """Run test files and report results and coverage."""
    session = Session(backend)
    results = tuple(session.run_file(tf) for tf in files)
    return Report(results, coverage(results, session, searched))


# ---- --update -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Update:
    """A test file's new text, with the expect lines of `cases` rewritten."""

    path: Path
    text: str
    cases: tuple[str, ...]


def update(result: FileResult) -> Update | None:
    """Rewrite the expectations of the file's failing cases to the events they produced.

    Only the `expect` lines of cases that ran and failed on their events (or had none) change;
    every other byte stays. An expect line that matched its event is kept as written (a
    hand-written subset stays a subset); the others are replaced by one line per event
    (`minimal` fields), or `expect nothing`. New lines take the place of the first old expect
    line, or follow the case's last line, with its indentation. None when nothing changes.
    """
    tf = result.file
    # A last line without a line ending gets one for the edit (and loses it after), so that
    # lines appended after it are separated from it the way the file separates lines.
    text = tf.text
    virtual_eol = ""
    if text and not text.endswith("\n"):
        virtual_eol = "\r\n" if "\r\n" in text else "\n"
        text += virtual_eol
    lines = text.split("\n")
    inserts: dict[int, list[str]] = {}
    deleted: set[int] = set()
    changed: list[str] = []
    for cr in result.cases:
        if not cr.updatable:
            continue
        case = cr.case
        old = sorted(e.line for e in case.expects)
        if case.nothing_line is not None:
            old = [case.nothing_line]
        # Indent like the old expect lines, else like the case's other lines.
        indent = "  "
        if old or case.last_line > case.line:
            model = lines[(old[0] if old else case.last_line) - 1]
            indent = model[: len(model) - len(model.lstrip())]
        eol = "\r" if lines[case.line - 1].endswith("\r") else ""
        kept = {j: case.expects[i].line for i, j in cr.comparison.pairs}
        new = [
            lines[kept[j] - 1] if j in kept else f"{indent}{format_expect(minimal(e))}{eol}"
            for j, e in enumerate(cr.counted)
        ] or [f"{indent}expect nothing{eol}"]
        at = old[0] - 1 if old else case.last_line
        inserts[at] = new
        deleted.update(n - 1 for n in old)
        changed.append(case.name)
    if not changed:
        return None
    out: list[str] = []
    for index, line in enumerate(lines):
        out += inserts.get(index, [])
        if index not in deleted:
            out.append(line)
    out += inserts.get(len(lines), [])
    new_text = "\n".join(out).removesuffix(virtual_eol) if virtual_eol else "\n".join(out)
    return None if new_text == tf.text else Update(tf.path, new_text, tuple(changed))


def write_update(upd: Update) -> None:
    """Write an update's text back, bytes exactly as computed (no newline translation)."""
    upd.path.write_bytes(upd.text.encode("utf-8"))


# ---- JUnit XML ------------------------------------------------------------------------------


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def junit_xml(report: Report, *, fail_uncovered: bool = False) -> ET.ElementTree:
    """JUnit XML: a `testsuite` per test file, a `testcase` per case (classname = the test file,
    name = the case), the diff as the text of its `failure` (wrong events) or `error` (the case
    could not run). A malformed test file is one testcase named `(test file)` with an error;
    with `fail_uncovered`, each uncovered rule is a failing testcase of a `coverage` suite."""
    root = ET.Element("testsuites", name="evrule test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0

    def suite(name: str) -> ET.Element:
        return ET.SubElement(root, "testsuite", name=_xml(name))

    def close(el: ET.Element, tests: int, failures: int, errors: int, secs: float) -> None:
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
        el.set("time", f"{secs:.3f}")
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors

    for fr in report.files:
        el = suite(fr.file.name)
        failures = errors = 0
        secs = sum(c.seconds for c in fr.cases)
        if fr.problems:
            tc = ET.SubElement(el, "testcase", classname=_xml(fr.file.name), name="(test file)")
            err = ET.SubElement(tc, "error", message="the test file cannot run")
            err.text = _xml("\n".join(str(p) for p in fr.problems))
            errors += 1
        for c in fr.cases:
            tc = ET.SubElement(
                el, "testcase", classname=_xml(fr.file.name), name=_xml(c.case.name),
                time=f"{c.seconds:.3f}",
            )  # fmt: skip
            if c.passed:
                continue
            if c.ran and not c.problems:
                failures += 1
                n = len(c.mismatches) or 1
                bad = ET.SubElement(tc, "failure", message=f"{n} difference(s) in the events")
            else:
                errors += 1
                first = str(c.problems[0]) if c.problems else "the case did not run"
                bad = ET.SubElement(tc, "error", message=_xml(first))
            bad.text = _xml(c.details())
        close(el, len(fr.cases) + (1 if fr.problems else 0), failures, errors, secs)
        seconds += secs
    if fail_uncovered:
        missing = [str(r) for r in report.coverage.uncovered] + [
            f"{f} (no test file loads it)" for f in report.coverage.untested_files
        ]
        if missing:
            el = suite("coverage")
            for what in missing:
                tc = ET.SubElement(el, "testcase", classname="coverage", name=_xml(what))
                ET.SubElement(tc, "failure", message="no case produces an event of this rule")
            close(el, len(missing), len(missing), 0, 0.0)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


__all__ = [
    "EVENT_TYPES",
    "TEST_SUFFIX",
    "Case",
    "CaseResult",
    "Comparison",
    "Coverage",
    "EvtestSyntaxError",
    "Expect",
    "FieldDiff",
    "FileResult",
    "Mismatch",
    "Only",
    "Problem",
    "Report",
    "RuleRef",
    "Session",
    "SignalSource",
    "TestFile",
    "Update",
    "compare",
    "coverage",
    "discover",
    "field_diffs",
    "find_test_files",
    "format_expect",
    "junit_xml",
    "load",
    "matches",
    "minimal",
    "parse",
    "parse_expect",
    "run",
    "update",
    "write_update",
]
