"""The parser: one fixture per construct (AST snapshots), spans, keywords as names, errors."""

from __future__ import annotations

import pprint
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrule.compiler import ast
from evrule.compiler.diagnostics import Diagnostic, Span
from evrule.compiler.functions import FUNCTIONS
from evrule.compiler.parser import parse

FIXTURES = Path(__file__).parent / "fixtures" / "parse"
CONSTRUCTS = sorted(FIXTURES.glob("*.evrule"))


def dump(module: ast.Module) -> str:
    """The tree as a reviewer reads it in a snapshot diff (spans are left out of node reprs)."""
    comments = "\n".join(f"{c.span.line}:{c.span.column} {c.text}" for c in module.comments)
    comments = comments or "(none)"
    return pprint.pformat(module.items, width=100) + "\n\ncomments:\n" + comments


def parse_ok(source: str) -> ast.Module:
    result = parse(source, "test.evrule")
    assert result.diagnostics == []
    return result.module


def cond_of(source: str) -> ast.Pred | None:
    return parse_ok(source).rules[0].steps[0].cond


# ---- one fixture per construct --------------------------------------------------------------


@pytest.mark.parametrize("path", CONSTRUCTS, ids=lambda p: p.stem)
def test_construct(path: Path, snapshot: object) -> None:
    result = parse(path.read_text("utf-8"), path.name)
    assert result.diagnostics == []
    assert result.module.items
    assert dump(result.module) == snapshot


def test_every_construct_has_a_fixture() -> None:
    expected = {
        "event_types", "header_clauses", "steps", "operators", "matches", "exists", "in_lists",
        "paths", "predicates", "functions", "coalesce", "templates", "reset", "comments",
        "map_targets", "literals", "precedence",
    }  # fmt: skip
    assert expected <= {p.stem for p in CONSTRUCTS}


def test_fixtures_cover_every_operator_event_type_and_function() -> None:
    seen_ops: set[str] = set()
    seen_calls: set[str] = set()
    event_types: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, ast.Compare):
            seen_ops.add(node.op)
        if isinstance(node, ast.Call):
            seen_calls.add(node.name)
        if isinstance(node, tuple):
            for child in node:
                walk(child)
        elif hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                walk(getattr(node, name))

    for path in CONSTRUCTS:
        module = parse(path.read_text("utf-8")).module
        event_types |= {r.event_type for r in module.rules}
        walk(module.items)
    assert seen_ops == set(ast.COMPARE_OPS)
    assert event_types == set(ast.EVENT_TYPES)
    assert set(FUNCTIONS) <= seen_calls


# ---- spans ----------------------------------------------------------------------------------

SPANNED = (
    'track "Add"\n'
    '  when click = interaction.click(target.innerText == "Add to Cart")\n'
    '  then req = network.request(url glob "*/api/cart*") within 2s\n'
    '  map event = "Clicked {click.target.innerText}!"\n'
)


def test_spans_of_rule_step_alias_and_kind() -> None:
    rule = parse(SPANNED, "a.evrule").module.rules[0]
    assert rule.header_span == Span("a.evrule", 1, 1, 1, 12)
    assert rule.span == Span("a.evrule", 1, 1, 4, 50)
    when, then = rule.steps
    assert when.span == Span("a.evrule", 2, 3, 2, 68)
    assert when.alias_span == Span("a.evrule", 2, 8, 2, 13)
    assert when.kind_span == Span("a.evrule", 2, 16, 2, 33)
    assert then.alias_span == Span("a.evrule", 3, 8, 3, 11)
    assert then.within is not None
    assert then.within.span == Span("a.evrule", 3, 61, 3, 63)


def test_span_of_an_operator() -> None:
    cond = parse(SPANNED, "a.evrule").module.rules[0].steps[0].cond
    assert isinstance(cond, ast.Compare)
    assert cond.op_span == Span("a.evrule", 2, 51, 2, 53)
    assert cond.left.span == Span("a.evrule", 2, 34, 2, 50)
    assert cond.right.span == Span("a.evrule", 2, 54, 2, 67)


def test_span_of_a_template_hole_points_inside_the_string() -> None:
    entry = parse(SPANNED, "a.evrule").module.rules[0].maps[0]
    assert entry.target_span == Span("a.evrule", 4, 7, 4, 12)
    assert isinstance(entry.value, ast.Template)
    assert entry.value.span == Span("a.evrule", 4, 15, 4, 50)
    text, hole, bang = entry.value.parts
    assert (text, bang) == ("Clicked ", "!")
    assert isinstance(hole, ast.Path)
    assert hole.span == Span("a.evrule", 4, 25, 4, 47)
    line = SPANNED.split("\n")[3]
    assert line[hole.span.column - 1 : hole.span.end_column - 1] == "click.target.innerText"


def test_span_of_a_predicate_name_and_a_call() -> None:
    module = parse_ok("predicate slow = number(duration) > 2000\n")
    (pdef,) = module.items
    assert isinstance(pdef, ast.PredicateDef)
    assert pdef.name_span == Span("test.evrule", 1, 11, 1, 15)
    assert isinstance(pdef.body, ast.Compare) and isinstance(pdef.body.left, ast.Call)
    assert pdef.body.left.name_span == Span("test.evrule", 1, 18, 1, 24)


def test_comment_spans() -> None:
    module = parse_ok("# one\ntrack  # two\n  when navigation\n")
    assert [(c.text, c.span.line, c.span.column) for c in module.comments] == [
        ("# one", 1, 1),
        ("# two", 2, 8),
    ]


# ---- keywords as names ----------------------------------------------------------------------


def test_keywords_are_usable_as_field_names() -> None:
    cond = cond_of(
        'track "K"\n'
        "  when c = navigation(target.id == 1 and body.page == 2 and id == 3 and page.path == 4"
        " and map.reset exists and when.and.or)\n"
    )
    assert isinstance(cond, ast.And)
    lefts = [i.left for i in cond.items if isinstance(i, ast.Compare)]
    assert lefts == [
        ast.Path("target", ("id",)),
        ast.Path("body", ("page",)),
        ast.Path("id"),
        ast.Path("page", ("path",)),
    ]
    assert cond.items[4] == ast.Exists(ast.Path("map", ("reset",)))
    assert cond.items[5] == ast.Truthy(ast.Path("when", ("and", "or")))


def test_keywords_are_usable_as_aliases_and_map_keys() -> None:
    rule = parse_ok(
        "track\n  when map = navigation\n  then reset = navigation\n"
        "  map properties.id = map.page\n  reset\n"
    ).rules[0]
    assert [s.alias for s in rule.steps] == ["map", "reset"]
    assert rule.maps[0].target == ("properties", "id")
    assert rule.maps[0].value == ast.Path("map", ("page",))
    assert rule.reset


def test_a_keyword_cannot_start_a_value_where_it_has_a_meaning() -> None:
    assert parse("track\n  when navigation(not)\n").diagnostics
    assert cond_of("track\n  when navigation(true)\n") == ast.Truthy(ast.Literal(True))


# ---- templates and strings ------------------------------------------------------------------


def test_strings_in_conditions_are_never_templates() -> None:
    cond = cond_of('track\n  when navigation(a == "{x}" and b == "{{y}}")\n')
    assert isinstance(cond, ast.And)
    assert [i.right for i in cond.items if isinstance(i, ast.Compare)] == [
        ast.Literal("{x}"),
        ast.Literal("{{y}}"),
    ]


def test_doubled_braces_are_literal_in_templates() -> None:
    rule = parse_ok('track "{{A}}"\n  when c = navigation\n  map event = "{{{c.x}}}"\n').rules[0]
    assert rule.name == ast.Literal("{A}")
    assert rule.maps[0].value == ast.Template(("{", ast.Path("c", ("x",)), "}"))


def test_unusual_line_breaks_do_not_shift_template_lookup() -> None:
    # \f and U+2028 are line breaks for str.splitlines() but not for the lexer.
    source = '# a\fb\ntrack\n  when c = navigation(a == "\u2028")\n  map event = "{c.x}"\n'
    rule = parse_ok(source).rules[0]
    assert rule.maps[0].value == ast.Template((ast.Path("c", ("x",)),))


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ('track\n  when c = navigation\n  map event = "{c.x"\n', "E104"),
        ('track\n  when c = navigation\n  map event = "c.x}"\n', "E104"),
        ('track\n  when c = navigation\n  map event = "{}"\n', "E104"),
        ('track\n  when c = navigation\n  map event = "{c.x ==}"\n', "E104"),
        ('track\n  when navigation(a == "\\q")\n', "E103"),
        ('track\n  when c = navigation\n  map event = "{c.x}\\q"\n', "E103"),
    ],
)
def test_bad_strings(source: str, code: str) -> None:
    assert [d.code for d in parse(source).diagnostics] == [code]


def test_escaped_surrogate_pairs_decode_to_one_character_in_templates() -> None:
    rule = parse_ok('track\n  when c = navigation\n  map event = "\\ud83d\\ude00 {c.x}"\n').rules[0]
    assert rule.maps[0].value == ast.Template(("\U0001f600 ", ast.Path("c", ("x",))))


def test_deep_nesting_is_a_diagnostic() -> None:
    result = parse("predicate ok = a\n\npredicate p = " + "not " * 3000 + "a\n")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E100", 3)]
    assert [i.name for i in result.module.items if isinstance(i, ast.PredicateDef)] == ["ok"]


# ---- syntax errors --------------------------------------------------------------------------


def only_error(source: str) -> Diagnostic:
    diags = parse(source, "bad.evrule").diagnostics
    assert len(diags) == 1, diags
    return diags[0]


def test_recovery_reports_each_broken_rule_and_keeps_the_good_one() -> None:
    result = parse(
        'track "Broken 1"\n  when c = interaction.click(a = 1)\n\n'
        'track "Good"\n  when c = interaction.click(ok)\n\n'
        'track "Broken 2"\n  when c = interaction.click(a ==)\n',
        "bad.evrule",
    )
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [
        ("E100", 2, 32),
        ("E100", 8, 34),
    ]
    assert [r.name for r in result.module.rules] == [ast.Literal("Good")]
    assert not result.ok


def test_unterminated_string() -> None:
    diag = only_error('track "Add\n  when navigation\n')
    assert (diag.code, diag.span) == ("E101", Span("bad.evrule", 1, 7, 1, 8))
    assert diag.message == "unterminated string"


def test_missing_closing_parenthesis() -> None:
    diag = only_error('track "A"\n  when c = interaction.click(a == 1\n  then d = navigation\n')
    # Reported at the token where the `)` was due: the next step.
    assert (diag.code, diag.span) == ("E100", Span("bad.evrule", 3, 3, 3, 7))
    assert "expected `)`" in diag.message


def test_missing_closing_parenthesis_at_end_of_file() -> None:
    diag = only_error('track "A"\n  when c = interaction.click(a == 1\n\n')
    assert (diag.code, diag.span) == ("E102", Span("bad.evrule", 2, 36, 2, 37))
    assert diag.message == "unexpected end of file; expected `)`"


def test_single_equals_in_a_condition() -> None:
    diag = only_error('track "A"\n  when c = interaction.click(a = 1)\n')
    assert (diag.code, diag.span) == ("E100", Span("bad.evrule", 2, 32, 2, 33))
    assert diag.hint is not None and "`==`" in diag.hint


def test_unexpected_end_of_file() -> None:
    diag = only_error('track "A"\n  id "a"\n\n\n')
    assert (diag.code, diag.span) == ("E102", Span("bad.evrule", 2, 9, 2, 10))
    assert diag.hint == "a rule needs at least a `when` step"


def test_unexpected_character() -> None:
    diag = only_error("track\n  when navigation(a == 'x')\n")
    assert (diag.code, diag.span.line, diag.span.column) == ("E101", 2, 24)
    assert diag.hint == 'strings use double quotes: "..."'


# ---- no input crashes the parser ------------------------------------------------------------

TOKENS = (
    "track", "identify", "page", "predicate", "when", "then", "unless", "within", "map", "reset",
    "id", "tags", "enabled", "and", "or", "not", "matches", "exists", "in", "in~", "==", "==~", "=",
    "!=", "<", ">=", "??", "(", ")", "[", "]", ",", ".", "a", "c", "x.y", "f", "if", "1", "-2.5",
    "2s", "true", "null", '"s"', '"{c.x}"', '"{"', '"}}"', '"\\q"', '"{a b}"', "/re/i", "/x",
    "# c", "\n", "'", '"', "{", "~",
)  # fmt: skip
SAMPLES = [p.read_text("utf-8") for p in CONSTRUCTS]


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        text = text[:at] + draw(st.sampled_from(("", *TOKENS))) + text[at + cut :]
    return text


soups = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), soups, mutated_fixtures()))
def test_no_input_makes_the_parser_raise(source: str) -> None:
    try:
        result = parse(source, "fuzz.evrule")
    except lark.exceptions.LarkError as exc:  # pragma: no cover - the failure being tested
        pytest.fail(f"a Lark exception escaped parse(): {exc!r}")
    line_count = source.count("\n") + 1
    for diag in result.diagnostics:
        assert isinstance(diag, Diagnostic) and diag.is_error
        assert diag.code.startswith("E1")
        assert 1 <= diag.span.line <= line_count + 1
