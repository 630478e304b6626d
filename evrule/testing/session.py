"""Running test files through the runtime of `evrule run`, and rule coverage."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

from evrule.compiler.diagnostics import CompileError
from evrule.compiler.ir import Plan
from evrule.runtime.core import signal_id
from evrule.runtime.io import Item, Rejected, decode_line, read_lines, sort_items
from evrule.runtime.runner import run as run_stream
from evrule.testing.compare import Comparison, Mismatch, compare, minimal, project, rule_of
from evrule.testing.evtest import (
    MATCHER_OPTIONS,
    NAME_FIELDS,
    RULE_SUFFIX,
    Backend,
    Case,
    Problem,
    TestFile,
    format_expect,
    walk_files,
)

# ---- running --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one case did: its events, how they compare, and problems that kept it from running
    (or that fail it besides the comparison, such as rejected signals)."""

    file: TestFile
    case: Case
    events: tuple[dict[str, Any], ...] = ()  # every event the rules emitted
    counted: tuple[dict[str, Any], ...] = ()  # those the case checks (`only`)
    comparison: Comparison = field(default_factory=lambda: Comparison((), ()))
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
            found = {_norm(p) for p in walk_files(path, RULE_SUFFIX)}
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

        opts = {k: options[k] for k in MATCHER_OPTIONS if k in options}
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
    untested = {
        _norm(p) for s in searched if Path(s).is_dir() for p in walk_files(Path(s), RULE_SUFFIX)
    }
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
