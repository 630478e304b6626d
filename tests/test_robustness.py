"""No input crashes the checker: whatever the text, `check_sources` returns diagnostics.

Three sources of bad input: arbitrary text, valid rule files damaged the way editing damages
them (characters and tokens deleted, inserted, duplicated), and syntax trees the parser can
build (`tests/strategies.py`) handed straight to `check`.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrule.compiler.checker import CheckResult, check, check_sources
from evrule.compiler.diagnostics import render_all
from tests import strategies as evs

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "diagnostics"

VALID = """\
predicate cart_api = url glob "*/api/cart*" and method == "POST"

track "Product Added"
  id "cart.add"
  within 30s
  when click = interaction.click(target.innerText contains~ "add" or target.id in ["a", "b"])
  then req = network.request(cart_api) within 5s
  then resp = network.response(requestId == req.requestId and status >= 200 and status < 300)
  unless undo = interaction.click(undo.target.id == "undo") within 2s
  map properties.price = number(resp.body.price) ?? 0
      properties.label = "Clicked {click.target.innerText}"
      properties.sku = extract(resp.body.sku, "^([A-Z]+)-[0-9]+$", 1)

identify
  when s = interaction.submit(target.id matches /login/i and not (page.path == "/x"))
  map userId = s.target.formData.email
      traits.plan = if(s.target.checked, "pro", "free")
  reset
"""

SEEDS = [VALID, *(p.read_text("utf-8") for p in sorted(FIXTURES.glob("*.evrule")))]

# Pieces that matter to the grammar and the checks, to insert at random places.
PIECES = [
    *"()[]{}\"'.,=~/\\#?!<>\n\t ",
    "==", "??", "and", "or", "not", "when", "then", "unless", "within", "map", "reset", "track",
    "identify", "predicate", "id", "1s", "-1s", "0ms", "in", "matches", "/(a)\\1/", "{x}", "{{",
    "exists", "null", "true", "1e999", "-0", "\u00e9", "\x00",
]  # fmt: skip
TOKEN = re.compile(r"\s+|\w+|\"(?:[^\"\\\n]|\\.)*\"|/(?:[^/\\\n]|\\.)+/\w*|.", re.DOTALL)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(result: CheckResult, files: set[str]) -> None:
    """Every diagnostic belongs to a given file, has a sane span, and renders."""
    for d in result.diagnostics:
        assert d.span.file in files
        assert d.span.line >= 1 and d.span.column >= 1
        assert (d.span.end_line, d.span.end_column) >= (d.span.line, d.span.column)
        assert d.message and d.code[0] in "EW"
    render_all(result.diagnostics, result.sources)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid file with a few edits: characters or tokens deleted, inserted, duplicated."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        tokens = TOKEN.findall(text) or [""]
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "drop", "repeat", "swap"]))
        i = draw(st.integers(0, max(0, len(text) - 1)))
        k = draw(st.integers(0, len(tokens) - 1))
        if op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 3)) :]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(PIECES) | st.text(max_size=3)) + text[i:]
        elif op == "duplicate":
            text = text[:i] + text[i : i + draw(st.integers(1, 20))] + text[i:]
        elif op == "drop":
            text = "".join(tokens[:k] + tokens[k + 1 :])
        elif op == "repeat":
            text = "".join(tokens[: k + 1] + tokens[k:])
        else:
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[k], tokens[j] = tokens[j], tokens[k]
            text = "".join(tokens)
    return text


@FAST
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    assert_well_formed(check_sources({"a.evrule": text}), {"a.evrule"})


@FAST
@given(mutated(), mutated())
def test_mutated_rules_never_raise(first: str, second: str) -> None:
    # Two files at once, so the cross-file checks see damaged input too.
    result = check_sources({"a.evrule": first, "b.evrule": second})
    assert_well_formed(result, {"a.evrule", "b.evrule"})
    # Deterministic: the same input gives the same diagnostics.
    again = check_sources({"a.evrule": first, "b.evrule": second})
    assert again.diagnostics == result.diagnostics


@FAST
@given(evs.modules())
def test_any_syntax_tree_checks_without_raising(module: object) -> None:
    for d in check([module]):  # type: ignore[list-item]
        assert d.code[0] in "EW"


def test_seeds_are_what_they_claim() -> None:
    # The mutations start from files the checker understands: VALID is clean.
    assert check_sources({"a.evrule": VALID}).diagnostics == []
