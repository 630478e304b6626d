"""`--update` (rewriting failing expectations) and JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from evrule.testing.compare import minimal
from evrule.testing.evtest import format_expect
from evrule.testing.session import FileResult, Report

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


_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
