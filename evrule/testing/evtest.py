"""The `.evtest` format: its model, the parser (every problem with its line) and discovery."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

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

MATCHER_OPTIONS = ("key", "max_partials", "max_span_ms", "lateness_ms")
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


def walk_files(folder: Path, suffix: str) -> Iterator[Path]:
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
            found.update(walk_files(path, TEST_SUFFIX))
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
