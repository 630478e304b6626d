"""`evrule graph`: draw each rule's automaton as Mermaid (`flowchart LR`) or Graphviz DOT.

Exit codes: 0 done, 1 the rules have errors, 2 usage problems (a missing file, an unknown
`--rule`). The drawing is described in `evrule.graph` and docs/explain.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evrule.compiler.diagnostics import CompileError, render_all


@click.command("graph")
@click.argument("rules", nargs=-1, required=True)
@click.option("--rule", "rule_ids", multiple=True, help="Draw only this rule (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="mermaid: a flowchart for Markdown; dot: Graphviz (`dot -Tsvg`).",
)
def graph_command(rules: tuple[str, ...], rule_ids: tuple[str, ...], fmt: str) -> None:
    """Draw the automaton of each rule in RULES (files or folders)."""
    from evrule.graph import render_graph

    for p in rules:
        if not Path(p).exists():
            raise click.UsageError(f"no such file or directory: {p}")
    try:
        text = render_graph(list(rules), rule=rule_ids or None, fmt=fmt)  # type: ignore[arg-type]
    except CompileError as exc:
        click.echo(render_all(exc.diagnostics, exc.sources), err=True)
        sys.exit(1)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(text, nl=False)
