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

from evrule.testing.compare import (
    Comparison,
    FieldDiff,
    Mismatch,
    compare,
    field_diffs,
    matches,
    minimal,
    rule_of,
)
from evrule.testing.evtest import (
    DIRECTIVES,
    EVENT_TYPES,
    TEST_SUFFIX,
    Case,
    EvtestSyntaxError,
    Expect,
    Only,
    Problem,
    SignalSource,
    TestFile,
    discover,
    find_test_files,
    format_expect,
    load,
    parse,
    parse_expect,
)
from evrule.testing.report import (
    Update,
    junit_xml,
    update,
    write_update,
)
from evrule.testing.session import (
    CaseResult,
    Coverage,
    FileResult,
    Report,
    RuleRef,
    Session,
    coverage,
    run,
)

__all__ = [
    "DIRECTIVES",
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
    "rule_of",
    "run",
    "update",
    "write_update",
]
