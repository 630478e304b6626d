"""`evrule graph`: rule automata as Mermaid and DOT, escaped, and the drawings in the docs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evrule.commands.graph_cmd import graph_command
from evrule.graph import render_graph, rule_graphs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "explain.md"

RULES = """\
predicate cart_api = url glob "*/api/cart*" and method == "POST"

track "Checkout Abandoned"
  id "shop.checkout_abandoned"
  within 30m
  when cart = navigation(path == "/cart")
  unless interaction.click(target.innerText ==~ "empty cart")
  then click = interaction.click(target.id == "checkout" and page.path == cart.path) within 5m
  then req = network.request(cart_api and body.cartId == cart.body.id) within 2s
  unless order = network.response(requestId == req.requestId and ok) within 10m
  map properties.cart = cart.path
"""
SOURCES = {"shop.evrule": RULES}


def test_mermaid(snapshot: Any) -> None:
    assert render_graph(SOURCES) == snapshot


def test_dot(snapshot: Any) -> None:
    assert render_graph(SOURCES, fmt="dot") == snapshot


def test_states_and_edges() -> None:
    (g,) = rule_graphs(_modules(SOURCES))
    assert [n.label for n in g.nodes] == [
        "start", "after cart", "after click", "held back",
        'emit track "Checkout Abandoned"', "cancelled",
    ]  # fmt: skip
    edges = [(e.source, e.target, e.dashed, e.label[0]) for e in g.edges]
    assert edges == [
        ("r1_s0", "r1_s1", False, "1: cart = navigation"),
        ("r1_s1", "r1_cancel", True, "2: unless interaction.click"),  # middle: from the gap
        ("r1_s1", "r1_s2", False, "3: click = interaction.click"),
        ("r1_s2", "r1_held", False, "4: req = network.request"),
        ("r1_held", "r1_cancel", True, "5: unless order = network.response"),  # trailing
        ("r1_held", "r1_done", False, "after 10m"),
    ]
    assert g.title == 'shop.checkout_abandoned: track "Checkout Abandoned", within 30m'
    # correlations are spelled out in full, windows close the label
    assert g.edges[3].label == (
        "4: req = network.request", "cart_api", "and body.cartId == cart.body.id", "within 2s",
    )  # fmt: skip


def test_long_parts_are_cut_but_correlations_are_not() -> None:
    long = "x" * 60
    rules = {
        "l.evrule": f'track "L"\n  id "l"\n  when a = navigation(path == "{long}")\n'
        f'  then b = navigation(title == a.title and path != "{long}" and search == "{long}"'
        f" and hash == a.hash and path == a.path and title exists)\n"
    }
    (g,) = rule_graphs(_modules(rules))
    first, second = g.edges[0].label, g.edges[1].label
    assert first[1] == 'path == "' + "x" * 36 + "..."
    assert second[1:] == (
        "title == a.title",
        'and path != "' + "x" * 36 + "...",
        'and search == "' + "x" * 34 + "...",
        "and 3 more",
    )


def test_escaping_quotes_and_brackets() -> None:
    rules = {
        "e.evrule": r"""track "Say \"hi\" [now] #1 <b> & |x|"
  id "e"
  when c = interaction.click(target.innerText == "\"b\" [c] (e) `f` \\")
"""
    }
    mermaid = render_graph(rules)
    for line in mermaid.splitlines()[1:]:
        if line.strip() not in ("direction LR", "end"):
            # the only double quotes are the ones around each label
            assert line.count('"') == 2, line
    assert (
        r'["e: track #quot;Say \#quot;hi\#quot; [now] #35;1 #lt;b#gt; #amp; #124;x#124;#quot;"]'
        in mermaid
    )
    assert r"<br/>target.innerText == #quot;\#quot;b\#quot; [c] (e) #96;f#96; \\#quot;" in mermaid
    dot = render_graph(rules, fmt="dot")
    assert r'label="e: track \"Say \\\"hi\\\" [now] #1 <b> & |x|\"";' in dot
    assert r'\ntarget.innerText == \"\\\"b\\\" [c] (e) `f` \\\\\""];' in dot
    for line in dot.splitlines():
        # every double quote is either a delimiter or escaped
        assert len(re.findall(r'(?<!\\)(?:\\\\)*"', line)) % 2 == 0, line


def test_rule_filter_and_disabled_rules() -> None:
    rules = {
        "a.evrule": 'track "A"\n  id "a"\n  when navigation\n\n'
        'track "B"\n  id "b"\n  enabled false\n  when navigation\n'
    }
    assert [g.title for g in rule_graphs(_modules(rules))] == [
        'a: track "A"',
        'b: track "B", disabled',
    ]
    assert [g.rule for g in rule_graphs(_modules(rules), rule="b")] == ["b"]
    with pytest.raises(ValueError, match="no rule 'c'"):
        render_graph(rules, rule="c")


def test_command(tmp_path: Path) -> None:
    path = tmp_path / "shop.evrule"
    path.write_text(RULES, "utf-8")
    runner = CliRunner()
    result = runner.invoke(graph_command, [str(path), "--format", "dot"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_graph([path], fmt="dot")
    assert runner.invoke(graph_command, [str(path), "--rule", "nope"]).exit_code == 2
    bad = tmp_path / "bad.evrule"
    bad.write_text('track "X"\n  when c = interaction.clik\n', "utf-8")
    broken = runner.invoke(graph_command, [str(bad)])
    assert broken.exit_code == 1 and "E201" in broken.output


_GRAPH_EXAMPLE = re.compile(r"<!-- graph-example: (.*?) -->\n```mermaid\n(.*?)```", re.DOTALL)


def test_the_drawings_in_the_docs_are_what_graph_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    examples = _GRAPH_EXAMPLE.findall(DOC.read_text("utf-8"))
    assert len(examples) >= 2
    for args, drawing in examples:
        result = CliRunner().invoke(graph_command, shlex.split(args))
        assert result.exit_code == 0, result.output
        assert result.stdout == drawing, f"docs/explain.md is out of date for `{args}`"


def _modules(sources: dict[str, str]) -> list[Any]:
    from evrule.api import check

    result = check(sources)
    assert result.ok, result.render()
    return result.modules
