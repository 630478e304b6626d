"""`evrule list`: the rules of a project, for review, inventories and tracking plans."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from evrule.compiler import ast
from evrule.compiler.diagnostics import render_all


@click.command("list")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one rule a line; json: an array of objects for tools.",
)
def list_command(paths: tuple[str, ...], fmt: str) -> None:
    """List the rules in PATHS (files or folders): id, event, where, owner, tags, state.

    The `hash` changes exactly when what a rule does changes (not when it moves), so two
    listings show which rules a change touched; it is part of every messageId.
    """
    from evrule.compiler.checker import check_paths
    from evrule.compiler.lower import lower, rule_ids

    for p in paths:
        if not Path(p).exists():
            raise click.UsageError(f"no such file or directory: {p}")
    result = check_paths([Path(p) for p in paths])
    if result.errors:
        click.echo(render_all(result.errors, result.sources))
        sys.exit(1)
    ids = rule_ids(result.modules)
    hashes = {r.id: r.hash for r in lower(result.modules).rules}
    rows = [
        _row(rule, ids[(module.file, i)], module.file, hashes)
        for module in result.modules
        for i, rule in enumerate(module.rules)
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        name = f' "{row["name"]}"' if row["name"] is not None else ""
        state = "" if row["enabled"] else "  (disabled)"
        tags = f"  [{', '.join(row['tags'])}]" if row["tags"] else ""
        owner = f"  owner {row['owner']}" if row["owner"] else ""
        click.echo(
            f"{row['id']}  {row['type']}{name}  {row['file']}:{row['line']}{owner}{tags}{state}"
        )
    click.echo(f"{len(rows)} rule(s)", err=True)


def _row(rule: ast.Rule, rule_id: str, file: str, hashes: dict[str, str]) -> dict[str, Any]:
    name: str | None = None
    if isinstance(rule.name, ast.Literal):
        name = str(rule.name.value)
    elif isinstance(rule.name, ast.Template):
        name = "".join(p if isinstance(p, str) else "{...}" for p in rule.name.parts)
    tags = rule.meta_value("tags")
    return {
        "id": rule_id,
        "type": rule.event_type,
        "name": name,
        "file": file,
        "line": rule.span.line,
        "description": rule.meta_value("description"),
        "owner": rule.meta_value("owner"),
        "tags": list(tags) if isinstance(tags, tuple) else [],
        "enabled": rule.enabled,
        "steps": len(rule.steps),
        "hash": hashes.get(rule_id),  # None for a disabled rule: it is not compiled
    }
