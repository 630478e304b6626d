"""The canonical formatter: its laws on generated trees, comments, and fixture pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrule.compiler import ast
from evrule.compiler.fmt import MAX_WIDTH, format_expr, format_module, format_pred, format_source
from evrule.compiler.parser import parse
from tests import strategies as evs

FIXTURES = Path(__file__).parent / "fixtures" / "fmt"
INPUTS = sorted(FIXTURES.glob("*.input.evrule"))
PARSE_FIXTURES = sorted((FIXTURES.parent / "parse").glob("*.evrule"))

LAWS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fmt(source: str) -> str:
    text, diags = format_source(source)
    assert text is not None, diags
    return text


def comment_texts(source: str) -> list[str]:
    return [c.text.rstrip() for c in parse(source).module.comments]


# ---- laws -----------------------------------------------------------------------------------


@LAWS
@given(evs.modules())
def test_formatted_module_parses_back_to_the_same_tree(module: ast.Module) -> None:
    text = format_module(module)
    result = parse(text)
    assert result.diagnostics == []
    assert result.module == module


@LAWS
@given(evs.modules())
def test_formatting_is_idempotent_and_the_text_clean(module: ast.Module) -> None:
    text = format_module(module)
    assert format_source(text) == (text, [])
    if module.items:
        assert text.endswith("\n") and not text.endswith("\n\n")
    assert all(line == line.rstrip() for line in text.split("\n"))
    assert "\n\n\n" not in text


@st.composite
def commented_sources(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Formatted text with comments put between lines and after code, and the comments in order."""
    text = format_module(draw(evs.modules(max_items=3)))
    words = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=6)
    out: list[str] = []
    comments: list[str] = []

    def new_comment() -> str:
        comments.append(f"# c{len(comments)} {draw(words)}".rstrip())
        return comments[-1]

    for line in text.split("\n")[:-1]:
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(["", "  ", "      "])) + new_comment())
        if draw(st.integers(0, 3)) == 0:
            out.append("")
        out.append(line)
        if line.strip() and draw(st.integers(0, 2)) == 0:
            out[-1] += draw(st.sampled_from([" ", "  ", "\t"])) + new_comment()
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(["", "  "])) + new_comment())
    return "\n".join(out) + "\n", comments


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commented_sources())
def test_comments_are_kept_in_order_and_formatting_is_stable(
    case: tuple[str, list[str]],
) -> None:
    source, comments = case
    once = fmt(source)
    assert comment_texts(once) == comments
    assert parse(once).module == parse(source).module
    assert fmt(once) == once


@LAWS
@given(st.lists(evs.preds(depth=1), min_size=2, max_size=8), st.booleans())
def test_long_steps_break_at_the_top_level_chain(items: list[ast.Pred], use_or: bool) -> None:
    cond = ast.Or(tuple(items)) if use_or else ast.And(tuple(items))
    step = ast.Step("when", "click", "interaction.click", cond, ast.Duration("2s", 2000.0))
    rule = ast.Rule("track", ast.Literal("X"), (), (step,), ())
    text = format_module(ast.Module((rule,)))
    assert parse(text).module.items == (rule,)
    lines = text.split("\n")[1:-1]
    if len(lines) == 1:
        assert len(lines[0]) <= MAX_WIDTH
    else:
        assert len(lines) == len(items)
        column = lines[0].index("(") + 1
        word = "or" if use_or else "and"
        assert all(line.startswith(" " * column + word + " ") for line in lines[1:])
        assert lines[-1].endswith(") within 2s")


# ---- fixtures -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name.removesuffix(".input.evrule"))
def test_fixture(path: Path) -> None:
    expected = path.with_name(path.name.replace(".input.", ".expected.")).read_text("utf-8")
    source = path.read_text("utf-8")
    assert fmt(source) == expected
    assert fmt(expected) == expected
    assert comment_texts(expected) == comment_texts(source)


def test_there_are_fixtures() -> None:
    assert len(INPUTS) >= 5


@pytest.mark.parametrize("path", PARSE_FIXTURES, ids=lambda p: p.stem)
def test_parse_fixtures_keep_their_tree_and_comments(path: Path) -> None:
    source = path.read_text("utf-8")
    once = fmt(source)
    assert parse(once).module == parse(source).module
    assert comment_texts(once) == comment_texts(source)
    assert fmt(once) == once


# ---- comments -------------------------------------------------------------------------------


def test_blank_line_after_a_comment_block_is_kept_only_if_there_was_one() -> None:
    source = (
        '# file header\n\n\n\n# about A\ntrack "A"\n  when navigation\n\n\n'
        '# about B\n\ntrack "B"\n  when navigation\n'
    )
    assert fmt(source) == (
        '# file header\n\n# about A\ntrack "A"\n  when navigation\n\n'
        '# about B\n\ntrack "B"\n  when navigation\n'
    )


def test_own_line_comments_keep_their_order_and_move_before_their_clause() -> None:
    source = (
        'track "A"\n'
        "  # one\n"
        "  # two\n"
        "  when c = interaction.click(a == 1\n"
        "    # three\n"
        "    and b == 2)\n"
    )
    assert fmt(source) == (
        'track "A"\n  # one\n  # two\n  # three\n  when c = interaction.click(a == 1 and b == 2)\n'
    )


def test_trailing_comments_stay_at_the_end_of_their_clause() -> None:
    source = (
        'track "A" # header\n'
        '  id "a"    # id\n'
        "  when c = interaction.click(a == 1 # moved\n"
        "    and b == 2) # kept\n"
        '  map event = "x" # entry\n'
        "  reset # reset\n"
    )
    assert fmt(source) == (
        'track "A"  # header\n'
        '  id "a"  # id\n'
        "  # moved\n"
        "  when c = interaction.click(a == 1 and b == 2)  # kept\n"
        '  map event = "x"  # entry\n'
        "  reset  # reset\n"
    )


def test_comment_on_a_broken_step_goes_after_its_last_line() -> None:
    cond = " and ".join(f"field{i} == {i}" for i in range(12))
    once = fmt(f'track "A"\n  when c = interaction.click({cond}) # why\n')
    lines = once.split("\n")
    assert len(lines) > 4
    assert lines[-2].endswith("field11 == 11)  # why")
    assert fmt(once) == once


def test_comments_only() -> None:
    assert fmt("  # a   \n\n\n# b\n# c") == "# a\n\n# b\n# c\n"


def test_comments_at_the_end_and_between_items() -> None:
    source = "predicate p = x\n  # indented, after a predicate\n\n# last\n"
    assert fmt(source) == "predicate p = x\n# indented, after a predicate\n\n# last\n"


def test_indented_comment_after_a_rule_stays_with_it_unless_an_unindented_one_came_first() -> None:
    source = (
        'track "A"\n  when navigation\n# top level\n  # indented\ntrack "B"\n  when navigation\n'
    )
    once = fmt(source)
    assert once == (
        'track "A"\n  when navigation\n\n# top level\n# indented\ntrack "B"\n  when navigation\n'
    )
    assert comment_texts(once) == ["# top level", "# indented"]


def test_crlf_and_tabs() -> None:
    source = 'track "A"\r\n\twhen c = interaction.click(ok)  # note  \r\n'
    assert fmt(source) == 'track "A"\n  when c = interaction.click(ok)  # note\n'


def test_hash_inside_strings_and_regexes_is_not_a_comment() -> None:
    source = 'predicate p = a == "# no" and b matches /#x/ # yes\n'
    assert fmt(source) == 'predicate p = a == "# no" and b matches /#x/  # yes\n'
    assert comment_texts(fmt(source)) == ["# yes"]


# ---- pieces ---------------------------------------------------------------------------------


def path(text: str) -> ast.Truthy:
    root, *rest = text.split(".")
    return ast.Truthy(ast.Path(root, tuple(rest)))


A, B, C, D = path("a"), path("b"), path("c"), path("d")


@pytest.mark.parametrize(
    ("pred", "text"),
    [
        (ast.And((ast.Or((A, B)), C)), "(a or b) and c"),
        (ast.Or((ast.And((A, B)), C)), "a and b or c"),
        (ast.And((ast.And((A, B)), C)), "(a and b) and c"),
        (ast.Or((A, ast.Or((B, C)))), "a or (b or c)"),
        (ast.Not(ast.Or((A, B))), "not (a or b)"),
        (ast.Not(ast.And((A, B))), "not (a and b)"),
        (ast.And((ast.Not(A), ast.Not(ast.Not(B)))), "not a and not not b"),
        (ast.Not(ast.Compare("==", A.operand, B.operand)), "not a == b"),
        (ast.Compare("in~", A.operand, ast.ListExpr(())), "a in~ []"),
        (ast.Matches(A.operand, "^a\\/b$", "im"), "a matches /^a\\/b$/im"),
        (ast.Exists(ast.Path("body", ("items", 0, "sku"))), "body.items[0].sku exists"),
    ],
)
def test_predicates(pred: ast.Pred, text: str) -> None:
    assert format_pred(pred) == text


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (ast.Literal(1), "1"),
        (ast.Literal(-20), "-20"),
        (ast.Literal(2.0), "2.0"),
        (ast.Literal(1e16), "1e+16"),
        (ast.Literal(1.5e-7), "1.5e-07"),
        (ast.Literal(True), "true"),
        (ast.Literal(None), "null"),
        (ast.Literal('q"b\\s\n\u2028é'), '"q\\"b\\\\s\\n\\u2028é"'),
        (ast.Literal("{x}"), '"{x}"'),
        (ast.Literal("\ud83d lone"), '"\\ud83d lone"'),
        (ast.Path("a", ("b", "c d", 0, -1, "and", "")), 'a.b["c d"][0][-1].and[""]'),
        (
            ast.Call("if", (A, ast.Literal(1), ast.Coalesce((B.operand, ast.Literal("x"))))),
            'if(a, 1, b ?? "x")',
        ),
        (ast.ListExpr((ast.Literal(1), ast.ListExpr(()))), "[1, []]"),
    ],
)
def test_values(expr: ast.Expr, text: str) -> None:
    assert format_expr(expr) == text


def test_strings_in_templates_double_their_braces() -> None:
    assert format_expr(ast.Literal("{x}"), template=True) == '"{{x}}"'
    template = ast.Template(("{", ast.Path("c", ("x",)), "}"))
    assert format_expr(template) == '"{{{c.x}}}"'
    rule = parse(f"track {format_expr(template)}\n  when c = navigation\n").module.rules[0]
    assert rule.name == template


def test_map_targets_quote_what_is_not_a_name() -> None:
    entry = ast.MapEntry(("properties", "odd key", "and", "x"), ast.Literal(1))
    step = ast.Step("when", None, "navigation", None, None)
    module = ast.Module((ast.Rule("track", None, (), (step,), (entry,)),))
    assert (
        format_module(module) == 'track\n  when navigation\n  map properties."odd key".and.x = 1\n'
    )


def test_infinity_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="inf"):
        format_expr(ast.Literal(float("inf")))


def test_empty_file() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""


# ---- broken files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'track "A"\n  when c = interaction.click(a = 1)\n',
        'track "A\n  when navigation\n',
        'track "A"\n',
        'track "A"\n  when navigation\n  map event = "{unclosed"\n',
        'track "A"\n  when navigation(a == "\\q")\n',
    ],
)
def test_broken_file_is_not_formatted(source: str) -> None:
    text, diags = format_source(source, "broken.evrule")
    assert text is None
    assert diags and all(d.is_error for d in diags)
    assert all(d.span.file == "broken.evrule" for d in diags)
