"""The `evrule` command: the only place that prints or exits.

Exit codes: 0 success, 1 problems found (rule errors, files that need formatting, failed
tests), 2 usage problems (a missing file, a bad option). Bad input never shows a traceback;
set EVRULE_DEBUG=1 to see one for an internal error.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click

from evrule import __version__
from evrule.commands.explain_cmd import explain_command
from evrule.commands.graph_cmd import graph_command
from evrule.commands.list_cmd import list_command
from evrule.commands.options import input_option, matcher_options
from evrule.commands.test_cmd import test_command
from evrule.compiler.diagnostics import CompileError, Diagnostic, github_annotation, render


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evrule")
def cli() -> None:
    """evrule: rules over Segment signals, compiled to matchers that emit Segment Spec events."""


# ---- check ------------------------------------------------------------------------------


def _print_diagnostics(
    diags: Sequence[Diagnostic], sources: dict[str, str], fmt: str, n_files: int
) -> None:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "files": n_files,
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": [d.to_dict() for d in diags],
                },
                indent=2,
            )
        )
        return
    if fmt == "github":
        for d in diags:
            click.echo(github_annotation(d))
    else:
        for d in diags:
            click.echo(render(d, sources.get(d.span.file)))
            click.echo()
    plural = "" if n_files == 1 else "s"
    click.echo(
        f"{errors} error(s), {warnings} warning(s) in {n_files} file{plural}", err=fmt != "text"
    )


def _rule_paths(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise click.UsageError(f"no such file or directory: {p}")
        out.append(path)
    return out


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
    help="text for people, json for tools, github for workflow annotations.",
)  # fmt: skip
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
def check(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check rule files (folders are searched for *.evrule)."""
    from evrule.compiler.checker import check_paths

    result = check_paths(_rule_paths(paths))
    _print_diagnostics(result.diagnostics, result.sources, fmt, len(result.sources))
    failed = any(d.is_error for d in result.diagnostics) or (strict and result.diagnostics)
    sys.exit(1 if failed else 0)


# ---- fmt --------------------------------------------------------------------------------


def _evrule_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.evrule") if p.is_file())
        else:
            yield path


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--check", "check_only", is_flag=True, help="Write nothing; exit 1 if a file would change."
)
@click.option("--diff", is_flag=True, help="Print a unified diff instead of writing.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Rewrite rule files in the canonical style (`-` reads stdin, writes stdout)."""
    from evrule.compiler.fmt import format_source

    if paths == ("-",):
        source = sys.stdin.read()
        formatted, diags = format_source(source, "<stdin>")
        if formatted is None:
            _print_diagnostics(diags, {"<stdin>": source}, "text", 1)
            sys.exit(1)
        if check_only or diff:
            if diff:
                sys.stdout.write(_diff(source, formatted, "<stdin>"))
            sys.exit(1 if formatted != source else 0)
        sys.stdout.write(formatted)
        return
    changed = broken = 0
    for path in _evrule_files(_rule_paths(paths)):
        try:
            source = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{path}: cannot read: {exc}", err=True)
            broken += 1
            continue
        formatted, diags = format_source(source, str(path))
        if formatted is None:
            _print_diagnostics(diags, {str(path): source}, "text", 1)
            broken += 1
            continue
        if formatted == source:
            continue
        changed += 1
        if diff:
            sys.stdout.write(_diff(source, formatted, str(path)))
        if check_only:
            click.echo(f"would reformat {path}", err=True)
        elif not diff:
            path.write_text(formatted, "utf-8")
            click.echo(f"reformatted {path}", err=True)
    if broken or ((check_only or diff) and changed):
        sys.exit(1)


def _diff(before: str, after: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(True),
            after.splitlines(True),
            f"{name} (original)",
            f"{name} (formatted)",
        )
    )


# ---- compile ----------------------------------------------------------------------------


def _compile_or_exit(paths: Sequence[str], strict: bool) -> Any:
    from evrule.api import compile as compile_rules

    try:
        return compile_rules(_rule_paths(paths), strict=strict)
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics, exc.sources, "text", len(exc.sources))
        sys.exit(1)


@cli.command("compile")
@click.argument("rules", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the compiled matcher into.",
)
@click.option(
    "--target",
    type=click.Choice(["tables", "python"]),
    default="tables",
    help="tables: a JSON plan for the interpreter; python: a stand-alone module.",
)
@click.option(
    "--name",
    default="evrule_rules",
    show_default=True,
    help="File name (without extension) of the output.",
)
@click.option("--strict", is_flag=True, help="Warnings stop the compilation too.")
def compile_cmd(rules: tuple[str, ...], out_dir: str, target: str, name: str, strict: bool) -> None:
    """Compile rules to a JSON plan (tables) or a Python module (python)."""
    from evrule.compiler.backends.python import generate

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise click.UsageError(f"--name must be a Python identifier, not {name!r}")
    plan = _compile_or_exit(rules, strict)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if target == "tables":
        path = out / f"{name}.json"
        path.write_text(plan.dumps(), "utf-8")
    else:
        path = out / f"{name}.py"
        path.write_text(generate(plan, name), "utf-8")
    click.echo(f"compiled {len(plan.rules)} rule(s) to {path}", err=True)


# ---- run --------------------------------------------------------------------------------


def _open_out(stack: ExitStack, name: str | None) -> IO[str] | None:
    if name is None:
        return None
    if name == "-":
        return sys.stdout
    return stack.enter_context(open(name, "w", encoding="utf-8", newline="\n"))


@cli.command()
@click.argument("source", nargs=-1, required=True)
@input_option
@click.option(
    "-o",
    "--output",
    "output_path",
    default="-",
    show_default=True,
    help="Where events go, as JSON Lines; - is stdout.",
)
@click.option(
    "--dead-letter",
    "dead_letter",
    default=None,
    help="Where rejected lines go, each with its reason (default: not written, still counted).",
)
@click.option(
    "--backend", type=click.Choice(["tables", "python"]), default="tables", show_default=True
)
@matcher_options
@click.option("--strict", is_flag=True, help="Stop at the first rejected line or map warning.")
@click.option("--max-line-bytes", type=click.IntRange(min=64), default=1 << 20, show_default=True)
@click.option(
    "--state-in",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Resume from a state file written by --state-out.",
)
@click.option(
    "--state-out",
    default=None,
    help="Write the matcher's state here at the end (partial matches are kept instead of flushed).",
)
@click.option(
    "--summary", "summary_fmt", type=click.Choice(["text", "json", "none"]), default="text"
)
def run(
    source: tuple[str, ...],
    input_path: str,
    output_path: str,
    dead_letter: str | None,
    backend: str,
    key: str,
    sort_input: bool,
    strict: bool,
    max_line_bytes: int,
    max_partials: int,
    max_span: float,
    lateness: float,
    state_in: str | None,
    state_out: str | None,
    summary_fmt: str,
) -> None:
    """Run rules (or a compiled plan/module) over signals and write Segment Spec events."""
    from evrule.api import load
    from evrule.runtime.core import dumps
    from evrule.runtime.io import read_lines, sort_items
    from evrule.runtime.runner import SEGMENT_MAX_MESSAGE_BYTES, StrictStop
    from evrule.runtime.runner import run as run_stream

    compiled = len(source) == 1 and Path(source[0]).suffix in (".json", ".py")
    target: Any = source[0] if compiled else _compile_or_exit(source, False)
    if compiled and not Path(source[0]).is_file():
        raise click.UsageError(f"no such file: {source[0]}")
    try:
        matcher = load(
            target,
            backend=backend,
            key=key,
            max_partials=max_partials,  # type: ignore[arg-type]
            max_span_ms=max_span,
            lateness_ms=lateness,
        )
    except (ValueError, OSError) as exc:
        raise click.UsageError(f"cannot load {source[0]}: {exc}") from None
    if state_in:
        try:
            matcher.import_state(json.loads(Path(state_in).read_text("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"cannot resume from {state_in}: {exc}") from None
    with ExitStack() as stack:
        if input_path == "-":
            stream: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            if not Path(input_path).is_file():
                raise click.UsageError(f"no such file: {input_path}")
            stream = stack.enter_context(open(input_path, "rb"))
            total = os.path.getsize(input_path)
        out = _open_out(stack, output_path)
        dead = _open_out(stack, dead_letter)
        assert out is not None
        items: Any = read_lines(stream, max_line_bytes=max_line_bytes, source=input_path)
        if sort_input:
            items = sort_items(items)
        progress = None
        if sys.stderr.isatty() and total and output_path != "-":
            bar = stack.enter_context(
                click.progressbar(length=total, label="signals", file=sys.stderr)
            )

            def progress(_line: int) -> None:
                bar.update(stream.tell() - bar.pos)

        oversized: Counter[str] = Counter()

        def emit(event: dict[str, Any]) -> None:
            text = dumps(event)
            # A character takes at most 4 bytes: only long texts need encoding to be measured.
            if len(text) * 4 > SEGMENT_MAX_MESSAGE_BYTES and (
                len(text.encode()) > SEGMENT_MAX_MESSAGE_BYTES
            ):
                oversized[event["context"]["evrule"]["rule"]] += 1
            out.write(text)
            out.write("\n")

        def reject(item: Any) -> None:
            if dead is not None:
                dead.write(item.to_json())
                dead.write("\n")

        try:
            summary = run_stream(
                matcher,
                items,
                emit,
                reject,
                strict=strict,
                flush=state_out is None,
                progress=progress,
            )
        except StrictStop as exc:
            click.echo(f"evrule run: stopped (--strict): {exc}", err=True)
            sys.exit(1)
        summary.oversized = oversized
    if state_out:
        Path(state_out).write_text(json.dumps(matcher.export_state(), ensure_ascii=False), "utf-8")
    if summary_fmt == "json":
        click.echo(json.dumps(summary.to_json(), indent=2), err=True)
    elif summary_fmt == "text":
        click.echo(summary.render(), err=True)


cli.add_command(explain_command, "explain")
cli.add_command(graph_command, "graph")
cli.add_command(test_command, "test")
cli.add_command(list_command, "list")


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="evrule", standalone_mode=True)
    except Exception as exc:  # pragma: no cover - only for bugs; bad input is handled above
        if os.environ.get("EVRULE_DEBUG"):
            raise
        click.echo(f"evrule: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("(set EVRULE_DEBUG=1 for a traceback, and please report it)", err=True)
        sys.exit(3)


if __name__ == "__main__":  # pragma: no cover
    main()
