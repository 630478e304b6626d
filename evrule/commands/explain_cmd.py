"""`evrule explain`: what each signal did to each rule, near misses with the failing condition.

Runs the rules over the input exactly as `evrule run` does (give it the same matcher options to
get the same events) and prints one report per signal that touched a rule. Exit codes: 0 done,
1 the rules have errors, 2 usage problems (a missing file, an unknown `--rule`).
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click

from evrule.commands.options import input_option, matcher_options
from evrule.compiler.diagnostics import CompileError, render_all


@click.command("explain")
@click.argument("rules", nargs=-1, required=True)
@input_option
@click.option(
    "--rule",
    "rule_ids",
    multiple=True,
    help="Report only this rule (repeatable), with near misses of its first and unless steps.",
)
@click.option("--anonymous-id", default=None, help="Report only what concerns this anonymousId.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json: one object per signal, for tools.",
)
@click.option("--all", "all_signals", is_flag=True, help="Also list signals that touched nothing.")
@matcher_options
def explain_command(
    rules: tuple[str, ...],
    input_path: str,
    rule_ids: tuple[str, ...],
    anonymous_id: str | None,
    fmt: str,
    all_signals: bool,
    key: str,
    sort_input: bool,
    max_partials: int,
    max_span: float,
    lateness: float,
) -> None:
    """Explain, signal by signal, what RULES (files, folders or a compiled plan) did."""
    from evrule.compiler.ir import Plan
    from evrule.explain import explain, render_json, render_text

    for p in rules:
        if not Path(p).exists():
            raise click.UsageError(f"no such file or directory: {p}")
    source: Any = list(rules)
    if len(rules) == 1 and Path(rules[0]).suffix == ".json":
        try:
            source = Plan.from_json(json.loads(Path(rules[0]).read_text("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"cannot load {rules[0]}: {exc}") from None
    with ExitStack() as stack:
        if input_path == "-":
            stream: IO[bytes] = sys.stdin.buffer
        else:
            if not Path(input_path).is_file():
                raise click.UsageError(f"no such file: {input_path}")
            stream = stack.enter_context(open(input_path, "rb"))
        try:
            reports = explain(
                source,
                stream,
                rule=rule_ids or None,
                anonymous_id=anonymous_id,
                all_signals=all_signals,
                key=key,
                sort=sort_input,
                max_partials=max_partials,
                max_span_ms=max_span,
                lateness_ms=lateness,
            )
        except CompileError as exc:
            click.echo(render_all(exc.diagnostics, exc.sources), err=True)
            sys.exit(1)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(render_json(reports) if fmt == "json" else render_text(reports), nl=False)
