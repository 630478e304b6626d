"""`evrule test`: run the `*.evtest` files under PATHS (the format: docs/testing.md).

Prints `PASS file::case` or `FAIL file::case` with a diff per case, then `N passed, M failed`
alone on a line, then the rule coverage. Exit codes: 0 all passed; 1 a case failed, a test file
or its rules are broken, no test was found, or (with `--fail-uncovered`) a rule is uncovered;
2 usage problems.
"""

from __future__ import annotations

import sys

import click

from evrule import testing
from evrule.compiler.diagnostics import render


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.split("\n"))


def _show_file(
    fr: testing.FileResult,
    before: testing.FileResult | None,
    updated: tuple[str, ...],
    shown_errors: set[tuple[str, ...]],
) -> None:
    if fr.compile_error is not None and fr.rule_files not in shown_errors:
        shown_errors.add(fr.rule_files)
        exc = fr.compile_error
        for d in exc.diagnostics:
            click.echo(render(d, exc.sources.get(d.span.file)))
            click.echo()
    if fr.problems:
        click.echo(f"FAIL {fr.file.name}")
        click.echo(_indent("\n".join(str(p) for p in fr.problems)))
    old = {c.case.name: c for c in before.cases} if before is not None else {}
    for c in fr.cases:
        if c.case.name in updated and c.case.name in old:
            click.echo(f"UPDATED {c.id}")
            click.echo(_indent(old[c.case.name].details()))
            if c.passed:
                continue
        if c.passed:
            click.echo(f"PASS {c.id}")
        else:
            click.echo(f"FAIL {c.id}")
            click.echo(_indent(c.details()))


def _show_coverage(cov: testing.Coverage, fail_uncovered: bool) -> None:
    uncovered = cov.uncovered
    n = len(cov.rules)
    click.echo(f"coverage: {n - len(uncovered)} of {n} rule(s) exercised by a case")
    how = "--fail-uncovered: these fail the run" if fail_uncovered else "warning"
    if uncovered:
        click.echo(f"uncovered rules, no case produces their events ({how}):")
        width = max(len(r.id) for r in uncovered)
        for r in uncovered:
            click.echo(f"  {r.id.ljust(width)}  {r.file}:{r.line}")
    if cov.untested_files:
        click.echo(f"rule files that no test file loads ({how}):")
        for f in cov.untested_files:
            click.echo(f"  {f}")


def _write_junit(path: str, report: testing.Report, fail_uncovered: bool) -> None:
    tree = testing.junit_xml(report, fail_uncovered=fail_uncovered)
    try:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


@click.command("test")
@click.argument("paths", nargs=-1)
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite the expect lines of failing cases to the events they produce (passing cases "
    "and everything else in the files stay as they are).",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the results as JUnit XML, for CI test reports.",
)
@click.option(
    "--backend",
    type=click.Choice(["tables", "python"]),
    default="tables",
    show_default=True,
    help="Run the cases with the tables interpreter or the generated Python module.",
)
@click.option(
    "--fail-uncovered",
    is_flag=True,
    help="Rules that no case exercises fail the run (otherwise they are a warning).",
)
def test_command(
    paths: tuple[str, ...],
    update: bool,
    junit_path: str | None,
    backend: str,
    fail_uncovered: bool,
) -> None:
    """Run rule tests: the *.evtest files under PATHS (default: the current folder)."""
    paths = paths or (".",)
    try:
        found = testing.find_test_files(paths)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    session = testing.Session(backend)  # type: ignore[arg-type]
    results: list[testing.FileResult] = []
    shown_errors: set[tuple[str, ...]] = set()
    updated_cases = updated_files = 0
    for path in found:
        fr = session.run_file(testing.load(path))
        before: testing.FileResult | None = None
        updated: tuple[str, ...] = ()
        if update:
            upd = testing.update(fr)
            if upd is not None:
                testing.write_update(upd)
                updated = upd.cases
                updated_cases += len(upd.cases)
                updated_files += 1
                before, fr = fr, session.run_file(testing.load(path))
        _show_file(fr, before, updated, shown_errors)
        results.append(fr)
    report = testing.Report(tuple(results), testing.coverage(results, session, paths))
    if junit_path is not None:
        _write_junit(junit_path, report, fail_uncovered)
    if not found:
        where = " ".join(paths)
        click.echo(
            f"no tests found under {where}: a CI that tests nothing must not pass quietly "
            f"(test files are named *{testing.TEST_SUFFIX})",
            err=True,
        )
        sys.exit(1)
    if updated_files:
        click.echo(f"updated {updated_cases} case(s) in {updated_files} file(s)")
    click.echo(f"{report.passed} passed, {report.failed} failed")
    _show_coverage(report.coverage, fail_uncovered)
    cov = report.coverage
    uncovered = bool(cov.uncovered or cov.untested_files)
    sys.exit(1 if report.failed or (fail_uncovered and uncovered) else 0)


__all__ = ["test_command"]
