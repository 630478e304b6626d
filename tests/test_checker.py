"""Tests for evrule.compiler.checker and the checks in evrule.compiler.checks.

Each file in tests/fixtures/diagnostics/ is named after the one code it must produce (and no
other); its rendered output is snapshotted for review. Precise expectations (spans,
suggestions, several files at once) are plain asserts below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evrule.compiler import ast
from evrule.compiler.checker import (
    FILE_CODES,
    PARSER_CODES,
    CheckResult,
    check,
    check_paths,
    check_sources,
)
from evrule.compiler.checks import REGISTRY, Check, register
from evrule.compiler.checks.context import Context, describe_types, show
from evrule.compiler.checks.types import nonlinear_construct
from evrule.compiler.diagnostics import Diagnostic, Severity
from evrule.compiler.parser import parse

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "diagnostics"
FIXTURE_FILES = sorted(FIXTURES.glob("*.evrule"))
DOCS = ROOT / "docs" / "diagnostics.md"

CLEAN = """\
# Cart and account events for the web shop.
predicate cart_api = url glob "*/api/cart*" and method == "POST"
predicate success = status >= 200 and status < 300

track "Product Added"
  id "cart.add"
  description "a click on an add-to-cart button that the cart API accepted"
  owner "growth"
  tags ["cart", "web"]
  within 30s
  when click = interaction.click(target.innerText contains~ "add to cart"
                                 or target.attributes["data-action"] == "add")
  then req = network.request(cart_api) within 5s
  then resp = network.response(requestId == req.requestId and success)
  unless undo = interaction.click(undo.target.id == "undo") within 2s
  map properties.product_id = resp.body.id
      properties.price = number(resp.body.price) ?? 0
      properties.label = "Clicked {click.target.innerText}"
      properties.sku = extract(resp.body.sku ?? "", "^([A-Z]+)-[0-9]+$", 1)
      context.page = click.page.path

page "Checkout"
  id "checkout.page"
  when n = navigation(path == "/checkout" and search matches /step=[0-9]+/i)
  map category = "funnel"
      properties.url = n.currentUrl

identify
  id "login"
  when s = interaction.submit(target.id == "login-form")
  then r = network.response(status in [200, 201] and url endswith "/login")
  map userId = r.body.user.id
      traits.email = lower(s.target.formData.email)
      traits.plan = r.body.user.plan ?? "free"

group
  id "team.join"
  enabled false
  when c = interaction.click(target.id == "join-team")
  map groupId = string(c.target.attributes["data-team"])
      traits.name = c.target.innerText

alias
  id "account.merge"
  when r = network.response(url endswith "/merge" and ok)
  map userId = r.body.userId
      previousId = r.body.previousId
  reset

screen "Settings"
  id "settings.screen"
  when n = navigation(currentScreen == "Settings" and previousScreen != null)
  map properties.from = n.previousScreen

track "Signed Out"
  id "signout"
  when c = interaction.click(lower(target.innerText) == "sign out"
                             and not (target.tagName in ["A", "BUTTON"]
                                      and page.path startswith "/admin"))
  then n = navigation(changedProperties contains "path") within 3s
  unless e = userDefined(e.kind == "error") within 10s
  map properties.at = n.timestamp
      properties.user = c.userId
      properties.classes = join(c.target.classList, " ")
      properties.count = length(c.target.classList)
"""


def run(text: str, file: str = "a.evrule") -> CheckResult:
    return check_sources({file: text})


def codes(result: CheckResult) -> list[str]:
    return [d.code for d in result.diagnostics]


def only(result: CheckResult, code: str) -> Diagnostic:
    """The single diagnostic with `code` (and fail with the rendering otherwise)."""
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.render()
    return found[0]


def at(d: Diagnostic) -> tuple[int, int, int]:
    """(line, column, width) of a one-line span."""
    assert d.span.line == d.span.end_line
    return d.span.line, d.span.column, d.span.end_column - d.span.column


def rule(steps: str, head: str = 'track "X"', tail: str = "") -> str:
    return f"{head}\n{steps}\n{tail}"


# ---- fixtures and snapshots ------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture(path: Path, snapshot: object) -> None:
    result = check_sources({path.name: path.read_text("utf-8")})
    assert path.stem in codes(result), result.render()
    # One bad file per code: the fixture must not trip anything else.
    assert set(codes(result)) == {path.stem}, result.render()
    assert result.render() == snapshot


def test_every_code_has_a_fixture() -> None:
    written = {p.stem for p in FIXTURE_FILES}
    # E105 (unreadable file) is produced by a test below instead.
    assert (set(REGISTRY) | set(PARSER_CODES)) - written == set()
    assert written - set(REGISTRY) - set(PARSER_CODES) == set()


def test_docs_list_exactly_the_codes() -> None:
    documented = set(re.findall(r"^## ([EW]\d{3})\b", DOCS.read_text("utf-8"), re.MULTILINE))
    assert documented == set(REGISTRY) | set(PARSER_CODES) | set(FILE_CODES)


def _doc_examples() -> list[Any]:
    """Every example block in docs/diagnostics.md, as (code, fence language, text)."""
    text = DOCS.read_text("utf-8")
    examples = []
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        code = section[:4]
        for m in re.finditer(r"^```(evrule|evrule-invalid)\n(.*?)^```$", section, re.M | re.S):
            lang, body = m.group(1), m.group(2)
            examples.append(pytest.param(code, lang, body, id=f"{code}-{lang}"))
    return examples


@pytest.mark.parametrize(("code", "lang", "text"), _doc_examples())
def test_docs_examples(code: str, lang: str, text: str) -> None:
    result = run(text, f"{code}.evrule")
    if lang == "evrule":
        assert result.diagnostics == [], result.render()
    else:
        assert code in codes(result), result.render()


def test_docs_state_each_severity() -> None:
    text = DOCS.read_text("utf-8")
    for code, cls in REGISTRY.items():
        section = text.split(f"## {code}", 1)[1].split("\n## ", 1)[0]
        assert f"Severity: {cls.severity.value}" in section, code


def test_registry_is_well_formed() -> None:
    for code, cls in REGISTRY.items():
        assert cls.code == code
        assert re.fullmatch(r"[EW][23]\d\d", code)
        assert (cls.severity is Severity.ERROR) == code.startswith("E")
        assert cls.description and cls.description == cls.description.strip()


def test_register_rejects_a_code_twice() -> None:
    with pytest.raises(ValueError, match="E201"):

        @register
        class Again(Check):
            code = "E201"
            severity = Severity.ERROR
            description = "again"

    assert REGISTRY["E201"].__name__ == "UnknownKind"


# ---- the API ---------------------------------------------------------------------------------


def test_clean_realistic_file_has_no_diagnostics() -> None:
    result = run(CLEAN, "shop.evrule")
    assert result.diagnostics == [], result.render()
    assert result.ok
    assert [r.rule_id for r in result.modules[0].rules] == [
        "cart.add",
        "checkout.page",
        "login",
        "team.join",
        "account.merge",
        "settings.screen",
        "signout",
    ]


def test_collects_every_problem_from_several_files() -> None:
    result = check_sources(
        {
            "b.evrule": 'track "B"\n  when c = interaction.clik(ok)\n  map nope = 1\n',
            "a.evrule": 'track "A"\n  when c = interaction.click(target.x == 1\n',
            "c.evrule": 'identify "C"\n  then s = interaction.submit(status contains "x")\n',
        }
    )
    found = [(d.span.file, d.code) for d in result.diagnostics]
    assert found == [
        ("a.evrule", "E102"),
        ("b.evrule", "E201"),
        ("b.evrule", "E205"),
        ("c.evrule", "E206"),
        ("c.evrule", "E211"),
        ("c.evrule", "E210"),
        ("c.evrule", "W201"),
    ]
    assert [d.code for d in result.errors] == [c for _, c in found if c.startswith("E")]
    assert [d.code for d in result.warnings] == ["W201"]
    assert not result.ok
    assert set(result.sources) == {"a.evrule", "b.evrule", "c.evrule"}


def test_result_is_sorted_and_free_of_repeats() -> None:
    # `bad` is expanded into two steps of the same kind: one diagnostic, not two.
    result = run(
        "predicate bad = target.nope == 1\n"
        'track "X"\n'
        "  when a = interaction.click(bad)\n"
        "  then b = interaction.click(bad)\n"
    )
    assert codes(result) == ["W201"]
    diags = result.diagnostics
    assert diags == sorted(diags, key=lambda d: d.sort_key())


def test_check_takes_parsed_modules() -> None:
    first = parse('track "X"\n  id "same"\n  when c = interaction.click\n', "one.evrule")
    second = parse('track "Y"\n  id "same"\n  when c = interaction.click\n', "two.evrule")
    diags = check([first.module, second.module])
    assert [(d.code, d.span.file) for d in diags] == [("E207", "two.evrule")]
    assert check([]) == []


def test_identical_rules_in_two_files_are_told_apart() -> None:
    # Rules compare equal without spans; the checker must still know which file each is from.
    text = 'track "X"\n  id "x"\n  when c = interaction.clik(ok)\n'
    result = check_sources({"a.evrule": text, "b.evrule": text})
    assert [(d.span.file, d.code) for d in result.diagnostics] == [
        ("a.evrule", "E201"),
        ("b.evrule", "W202"),
        ("b.evrule", "E207"),
        ("b.evrule", "E201"),
    ]


def test_context_helpers() -> None:
    module = parse(CLEAN, "shop.evrule").module
    ctx = Context((module,))
    first = module.rules[0]
    assert ctx.module_of(first) is module
    assert dict(ctx.step_kinds(first)) == {
        "click": "interaction.click",
        "req": "network.request",
        "resp": "network.response",
    }
    scope = ctx.scope(first)
    assert scope is ctx.scope(first)
    assert set(scope.negative) == {"undo"}
    assert scope.used_predicates == {"cart_api", "success"}
    assert scope.bound_before[2] == {"click", "req"}
    cond = first.steps[2].cond
    assert isinstance(cond, ast.And)
    compare = cond.items[0]  # requestId == req.requestId
    assert isinstance(compare, ast.Compare) and isinstance(compare.right, ast.Path)
    ref = scope.path_ref(compare.right, 2)
    assert ref is not None
    assert (ref.alias, ref.scope, ref.path) == ("req", "data", ("requestId",))
    assert scope.type_of(compare.right, 2) == ("string",)
    assert describe_types(("string", "number", "null")) == "string or number"
    assert describe_types(("null",)) == "null"
    assert show("a\nb") == "a\\nb"
    assert show("x" * 50).endswith("...")


# ---- files on disk ---------------------------------------------------------------------------


def test_check_paths_walks_directories_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.evrule").write_text(
        'track "B"\n  id "dup"\n  when c = interaction.click\n', "utf-8"
    )
    (tmp_path / "a.evrule").write_text(
        'track "A"\n  id "dup"\n  when c = interaction.click\n', "utf-8"
    )
    (tmp_path / "notes.txt").write_text("not a rule file", "utf-8")
    result = check_paths([tmp_path])
    assert [m.file for m in result.modules] == [
        str(tmp_path / "a.evrule"),
        str(tmp_path / "sub" / "b.evrule"),
    ]
    d = only(result, "E207")
    assert d.span.file == str(tmp_path / "sub" / "b.evrule")
    assert f"{tmp_path / 'a.evrule'}:2:6" in (d.hint or "")
    # The same file given twice (and by its directory) is read once.
    again = check_paths([tmp_path / "a.evrule", tmp_path, str(tmp_path / "a.evrule")])
    assert len(again.modules) == 2


def test_non_utf8_file_is_a_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_bytes(b'track "X"\n  when c = interaction.click(target.id == "caf\xe9")\n')
    good = tmp_path / "good.evrule"
    good.write_text('track "Y"\n  when c = interaction.clik(ok)\n', "utf-8")
    result = check_paths([tmp_path])
    assert codes(result) == ["E105", "E201"]
    d = result.diagnostics[0]
    assert d.span.file == str(bad)
    assert at(d) == (2, 47, 1)
    assert "0xe9" in d.message
    # The file's text (with a replacement character) is kept so the line can be shown.
    assert "\ufffd" in result.sources[str(bad)]
    assert "^" in result.render()


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    result = check_paths([tmp_path / "missing.evrule"])
    d = only(result, "E105")
    assert "cannot read" in d.message
    assert result.modules == []


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.evrule"
    path.write_bytes('\ufefftrack "X"\n  when c = interaction.click\n'.encode())
    assert check_paths([path]).diagnostics == []


def test_nesting_too_deep_for_the_parser_is_a_diagnostic() -> None:
    deep = "(" * 2000 + "ok" + ")" * 2000
    result = run(f'track "X"\n  when c = interaction.click({deep})\n')
    assert codes(result) == ["E100"]
    assert "nested too deeply" in result.diagnostics[0].message


def test_long_conditions_are_checked_without_recursion() -> None:
    # The parser accepts `not` chains and `and` lists far deeper than Python's recursion limit
    # would allow a recursive walk; the checks must cope.
    nots = "not " * 300 + "status == 1"
    ands = " and ".join(["status > 1"] * 3000) + " and status < 1"
    result = run(rule(f"  when r = network.response({nots} and {ands})"))
    assert codes(result) == ["E307"]


# ---- spans and messages ----------------------------------------------------------------------


def test_unknown_kind_span_and_suggestion() -> None:
    d = only(run(rule("  when c = network.respnse(ok)")), "E201")
    assert at(d) == (2, 12, 15)
    assert d.hint == "did you mean `network.response`?"
    far = only(run(rule("  when c = wibble(ok)")), "E201")
    assert "`interaction.click`" in (far.hint or "")


def test_unknown_field_span_and_suggestion() -> None:
    d = only(run(rule("  when c = interaction.click(target.innerTxt == 1)")), "W201")
    assert at(d) == (2, 30, 15)
    assert d.severity is Severity.WARNING
    assert d.message == "`target.innerTxt` is not a field of `interaction.click`"
    assert d.hint == "did you mean `innerText`?"


@pytest.mark.parametrize(
    "cond",
    [
        "body.anything.at[0].all == 1",  # below an open object
        'target.attributes["data-x"] == "1"',
        'context.device.model == "x"',  # the envelope's context is open
        'anonymousId == "a" and index > 3 and userId == null',
        'page.path == "/"',
    ],
)
def test_fields_below_open_objects_and_envelope_are_fine(cond: str) -> None:
    kind = "network.response" if cond.startswith("body") else "interaction.click"
    assert run(rule(f"  when c = {kind}({cond})")).diagnostics == []


def test_unknown_envelope_field_and_data_prefix() -> None:
    d = only(run(rule('  when c = interaction.click(context.app.nam == "x")')), "W201")
    assert d.message == "`context.app.nam` is not a signal field"
    assert d.hint == "did you mean `name`?"
    # An explicit `data.` names the data object: a known field, and the envelope is not read.
    assert run(rule('  when c = interaction.click(data.target.id == "x")')).diagnostics == []
    d = only(run(rule("  when c = interaction.click(data.index == 1)")), "W201")
    assert d.message == "`data.index` is not a field of `interaction.click`"


def test_unknown_field_through_an_alias_and_in_a_map() -> None:
    result = run(
        rule(
            "  when r = network.request\n  then s = network.response(requestId == r.reqId)",
            tail="  map properties.x = s.stat",
        )
    )
    first, second = result.diagnostics
    assert (first.code, first.message) == ("W201", "`r.reqId` is not a field of `network.request`")
    assert first.hint == "did you mean `requestId`?"
    assert (second.code, second.message) == (
        "W201",
        "`s.stat` is not a field of `network.response`",
    )


def test_unbound_alias_spans_point_at_the_alias() -> None:
    result = run(
        rule(
            "  when a = interaction.click(b.target.id == target.id)\n"
            "  then b = interaction.click\n"
            "  unless u = navigation within 1s",
            tail="  map properties.x = u.path\n      properties.y = bb.path",
        )
    )
    diags = [d for d in result.diagnostics if d.code == "E202"]
    assert [at(d) for d in diags] == [(2, 30, 1), (5, 22, 1), (6, 22, 2)]
    assert "before it is bound" in diags[0].message
    assert "`unless` step" in diags[1].message
    assert diags[2].message == "`bb` is not an alias of this rule"
    assert diags[2].hint == "did you mean `b`?"


def test_alias_bound_twice() -> None:
    d = only(
        run(rule("  when a = interaction.click\n  unless a = navigation within 1s")),
        "E203",
    )
    assert at(d) == (3, 10, 1)
    assert "line 2" in (d.hint or "")


def test_unknown_function() -> None:
    d = only(run(rule('  when c = interaction.click(lowr(target.id) == "x")')), "E204")
    assert at(d) == (2, 30, 4)
    assert d.hint == "did you mean `lower`?"


def test_map_target_hint_lists_valid_targets() -> None:
    d = only(
        run(
            rule(
                "  when c = interaction.click",
                head="identify",
                tail="  map userId = c.userId\n      properties.x = 1",
            )
        ),
        "E205",
    )
    assert at(d) == (4, 7, 12)
    assert d.hint == "`identify` maps `userId`, `traits`, `traits.*`, `context.*`"


@pytest.mark.parametrize(
    ("head", "tail", "message"),
    [
        ('track ""', "", "the event name is empty"),
        ("track", "", "`track` needs an event name"),
        ("group", "  map traits.x = 1", "`group` needs `groupId`"),
        ("alias", "  map userId = c.userId", "`alias` needs `previousId`"),
        ("alias", "", "`alias` needs `userId` and `previousId`"),
    ],
)
def test_required_fields(head: str, tail: str, message: str) -> None:
    d = only(run(rule("  when c = interaction.click", head=head, tail=tail)), "E206")
    assert d.message == message


@pytest.mark.parametrize(
    "text",
    [
        'track\n  when c = interaction.click\n  map event = "X"\n',
        "page\n  when c = interaction.click\n",
        "identify\n  when c = interaction.click\n  map traits.a = 1\n",
    ],
)
def test_required_fields_given(text: str) -> None:
    assert run(text).diagnostics == []


def test_header_clause_twice_points_at_the_keyword() -> None:
    d = only(
        run('track "X"\n  id "a"\n  within 5s\n  id "b"\n  when c = interaction.click\n'), "E208"
    )
    assert at(d) == (4, 3, 2)
    assert d.message == "`id` is given twice"


def test_predicate_cycle_clash_and_duplicate() -> None:
    result = run(
        "predicate p = q\npredicate q = p and ok\npredicate c = ok\npredicate c = ok\n"
        'track "X"\n  when c = interaction.click(p)\n'
    )
    diags = [d for d in result.diagnostics if d.code == "E209"]
    assert [(at(d), d.message) for d in diags] == [
        ((1, 11, 1), "predicate `p` refers to itself through `q`"),
        ((2, 11, 1), "predicate `q` refers to itself through `p`"),
        ((4, 11, 1), "predicate `c` is defined twice"),
        ((6, 8, 1), "alias `c` has the same name as a predicate"),
    ]


def test_step_order() -> None:
    result = run(
        rule(
            "  unless a = navigation within 1s\n"
            "  when b = interaction.click\n"
            "  then c = interaction.click\n"
            "  when d = interaction.click"
        )
    )
    assert [(d.code, at(d)) for d in result.diagnostics] == [
        ("E210", (2, 3, 6)),
        ("E210", (3, 3, 4)),
        ("E210", (5, 3, 4)),
    ]


def test_trailing_unless() -> None:
    result = run(
        rule(
            "  when a = interaction.click\n"
            "  unless b = navigation\n"
            "  then c = interaction.click\n"
            "  unless d = navigation within 1s\n"
            "  unless e = navigation"
        )
    )
    assert [(d.code, at(d)) for d in result.diagnostics] == [("E212", (6, 3, 6))]


def test_name_on_identify_points_at_the_string() -> None:
    d = only(
        run(
            rule(
                "  when c = interaction.click", head='group "Team"', tail="  map groupId = c.userId"
            )
        ),
        "E211",
    )
    assert at(d) == (1, 7, 6)


@pytest.mark.parametrize(
    ("rule_id", "ok"),
    [("cart.add", True), ("a/b:c-d_e.9", True), ("a b", False), ("", False), ("ü", False)],
)
def test_rule_id(rule_id: str, ok: bool) -> None:
    result = run(f'track "X"\n  id "{rule_id}"\n  when c = interaction.click\n')
    assert ("E214" not in codes(result)) is ok
    if not ok:
        d = only(result, "E214")
        assert at(d) == (2, 6, len(rule_id) + 2)


def test_duplicate_ids_across_files_point_at_the_second() -> None:
    result = check_sources(
        {
            "one.evrule": 'track "A"\n  id "cart.add"\n  when c = interaction.click\n',
            "two.evrule": '\n\ntrack "B"\n  id   "cart.add"\n  when c = interaction.click\n',
        }
    )
    d = only(result, "E207")
    assert d.span.file == "two.evrule"
    assert at(d) == (4, 8, 10)
    assert d.message == "duplicate rule id `cart.add`"
    assert d.hint is not None and "one.evrule:2:6" in d.hint


def test_duplicate_event_names() -> None:
    result = check_sources(
        {
            "one.evrule": 'track "Added"\n  id "a"\n  when c = interaction.click\n',
            "two.evrule": (
                'track\n  id "b"\n  when c = interaction.click\n  map event = "Added"\n\n'
                'page "Added"\n  when c = interaction.click\n\n'
                'track "Added"\n  enabled false\n  when c = interaction.click\n'
            ),
        }
    )
    d = only(result, "W202")
    assert (d.span.file, d.span.line) == ("two.evrule", 1)
    assert "`a` at one.evrule:1:1" in (d.hint or "")


def test_duplicate_map_target() -> None:
    d = only(
        run(
            rule(
                "  when c = interaction.click",
                tail="  map properties.a = 1\n      properties.a = 2",
            )
        ),
        "E213",
    )
    assert at(d) == (4, 7, 12)


def test_unused_predicate_is_quiet_when_the_file_did_not_parse() -> None:
    text = 'predicate p = ok\ntrack "X"\n  when c = interaction.click(p and)\n'
    assert codes(run(text)) == ["E100"]
    used_only_by_unused = (
        'predicate p = ok\npredicate q = p\ntrack "X"\n  when c = interaction.click\n'
    )
    assert [(d.code, d.span.line) for d in run(used_only_by_unused).diagnostics] == [
        ("W204", 1),
        ("W204", 2),
    ]


# ---- predicates ------------------------------------------------------------------------------


def test_predicate_fields_are_checked_against_each_using_step() -> None:
    result = run(
        'predicate slow = listener == "onchange"\n'
        'track "X"\n'
        "  when v = interaction.change(slow)\n"
        "  then r = network.response(slow)\n"
    )
    d = only(result, "W201")
    assert at(d) == (1, 18, 8)  # at the definition
    assert d.message == "`listener` is not a field of `network.response`"


def test_predicate_type_errors_are_reported_at_the_definition() -> None:
    d = only(
        run('predicate bad = status contains "5"\ntrack "X"\n  when r = network.response(bad)\n'),
        "E301",
    )
    assert at(d) == (1, 24, 8)


def test_predicate_using_an_alias() -> None:
    result = run(
        "predicate same = requestId == req.requestId\n"
        'track "X"\n'
        "  when req = network.request(ok)\n"
        "  then resp = network.response(same)\n"
    )
    d = only(result, "E202")
    assert at(d) == (1, 31, 3)
    assert d.message == "predicate `same` cannot use alias `req`"


def test_contradiction_through_a_predicate() -> None:
    d = only(
        run(
            "predicate ok2xx = status >= 200 and status < 300\n"
            'track "X"\n  when r = network.response(ok2xx and status == 404)\n'
        ),
        "E307",
    )
    assert d.message == "`status == 404` contradicts `status < 300`"
    assert at(d) == (3, 39, 13)


# ---- types -----------------------------------------------------------------------------------


def _types(cond: str, kind: str = "network.response") -> list[Diagnostic]:
    return [d for d in run(rule(f"  when r = {kind}({cond})")).diagnostics if d.code == "E301"]


@pytest.mark.parametrize(
    ("cond", "message", "span"),
    [
        (
            'status contains "2"',
            "`contains` needs a string or array, but `status` is integer",
            (2, 36, 8),
        ),
        ('status == "200"', '`==` compares `status` (integer) with `"200"` (string)', (2, 39, 5)),
        ("ok != 1", "`!=` compares `ok` (boolean) with `1` (integer)", (2, 35, 1)),
        (
            "body.x < 3 and page < 3",
            "`<` needs numbers or strings, but `page` is object",
            (2, 49, 1),
        ),
        ('status in "200"', '`in` needs a list or an array, but `"200"` is string', (2, 39, 5)),
        (
            'status in [200, "404"]',
            '`in` compares `status` (integer) with `"404"` (string)',
            (2, 45, 5),
        ),
        (
            'status ==~ "a"',
            "`==~` compares strings ignoring case, but `status` is integer",
            (2, 36, 3),
        ),
        (
            "url startswith 5",
            "`startswith` needs a string on the right, but `5` is integer",
            (2, 44, 1),
        ),
        ("status matches /2../", "`matches` needs a string, but `status` is integer", (2, 29, 6)),
        ('length(url) glob "*"', "`glob` needs a string, but `length(url)` is integer", (2, 41, 4)),
    ],
)
def test_operator_type_mismatch(cond: str, message: str, span: tuple[int, int, int]) -> None:
    found = _types(cond)
    assert [(d.message, at(d)) for d in found] == [(message, span)]


@pytest.mark.parametrize(
    "cond",
    [
        "status == 200 and status != null and ok == true",
        'url contains "x" and changedProperties contains "path"',
        'timestamp > "2024-01-01" and status >= 200.5',
        'status in [200, 201] and url in~ ["A", "B"]',
        "body.x contains 3 and body == 1 and json(body.raw) > 3",
        'requestId == requestId and contentType ==~ "application/json"',
        "number(body.n) > 3 and length(url) > 0 and bool(body) == true",
    ],
)
def test_operator_types_that_are_fine(cond: str) -> None:
    assert _types(cond) == []


def test_quoted_number_hint() -> None:
    (d,) = _types('status == "404"')
    assert d.hint == "write the number without quotes: `404`"
    (d,) = _types('ok == "true"')
    assert d.hint == "write the boolean without quotes: `true`"


@pytest.mark.parametrize(
    ("target", "value", "message"),
    [
        ("event", "42", "`event` must be a string, but `42` is integer"),
        ("properties", '"x"', '`properties` must be an object, but `"x"` is string'),
        ("context", "[1]", "`context` must be an object, but `[1]` is array"),
        ("event", "c.target", "`event` must be a string, but `c.target` is object"),
    ],
)
def test_map_value_types(target: str, value: str, message: str) -> None:
    result = run(
        rule("  when c = interaction.click", head="track", tail=f"  map {target} = {value}")
    )
    d = only(result, "E301")
    assert d.message == message
    assert at(d) == (3, 10 + len(target), len(value))


def test_function_argument_types() -> None:
    result = run(
        rule(
            "  when c = interaction.click",
            tail=(
                "  map properties.a = number(c.target)\n"
                "      properties.b = split(c.target.innerText, 5)\n"
                "      properties.c = number(c.target.attributes.x)\n"
                '      properties.d = concat("a", c.target.classList, c.page)\n'
                "      properties.e = lower(json(c.target.innerText))"
            ),
        )
    )
    assert [(d.code, at(d), d.message) for d in result.diagnostics] == [
        (
            "E302",
            (3, 29, 8),
            "argument 1 of `number` must be string, number or boolean, but `c.target` is object",
        ),
        ("E302", (4, 48, 1), "argument 2 of `split` must be string, but `5` is integer"),
    ]
    assert result.diagnostics[0].hint == "pick a field inside it, e.g. `c.target.name`"


@pytest.mark.parametrize(
    ("call", "message", "span"),
    [
        ("lower()", "`lower` takes 1 argument, got 0", (3, 22, 7)),
        ("lower(c.userId, 1, 2)", "`lower` takes 1 argument, got 3", (3, 38, 4)),
        ("extract(c.userId)", "`extract` takes 2 to 3 arguments, got 1", (3, 22, 17)),
        ("concat()", "`concat` takes at least 1 argument, got 0", (3, 22, 8)),
        ('if(c.userId == "a", 1)', "`if` takes 3 arguments, got 2", (3, 22, 22)),
    ],
)
def test_arity(call: str, message: str, span: tuple[int, int, int]) -> None:
    result = run(rule("  when c = interaction.click", tail=f"  map properties.x = {call}"))
    d = only(result, "E303")
    assert (d.message, at(d)) == (message, span)


@pytest.mark.parametrize(
    ("regex", "message", "span"),
    [
        ("/a(/", "invalid regular expression: missing ), unterminated subpattern", (2, 50, 1)),
        ("/a/gx", "unknown regex flags `gx`", (2, 51, 2)),
        ("/[z-a]/", "invalid regular expression: bad character range z-a", (2, 50, 1)),
    ],
)
def test_invalid_regex(regex: str, message: str, span: tuple[int, int, int]) -> None:
    d = only(run(rule(f"  when c = interaction.click(target.id matches {regex})")), "E304")
    assert (d.message, at(d)) == (message, span)


def test_extract_pattern_is_checked() -> None:
    result = run(
        rule(
            "  when c = interaction.click",
            tail='  map properties.a = extract(c.userId, "(")\n'
            '      properties.b = extract(c.userId, "(?<=x)y")\n'
            "      properties.c = extract(c.userId, c.userId)",
        )
    )
    assert [(d.code, at(d)) for d in result.diagnostics] == [
        ("E304", (3, 40, 3)),
        ("E305", (4, 40, 9)),
    ]


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        (r"(a)\1", (3, 2, "backreference `\\1`")),
        (r"(?<n>a)\k<n>", (7, 5, "backreference `\\k<n>`")),
        (r"(?P<n>a)(?P=n)", (8, 4, "named backreference `(?P=`")),
        (r"a(?=b)", (1, 3, "lookahead `(?=`")),
        (r"a(?!b)", (1, 3, "lookahead `(?!`")),
        (r"(?<=a)b", (0, 4, "lookbehind `(?<=`")),
        (r"(?<!a)b", (0, 4, "lookbehind `(?<!`")),
        (r"(?>ab)", (0, 3, "atomic group `(?>`")),
        (r"a*+", (1, 2, "possessive quantifier `*+`")),
        (r"a?+", (1, 2, "possessive quantifier `?+`")),
        (r"x(ab)++", (5, 2, "possessive quantifier `++`")),
        (r"a{2,3}+", (1, 6, "possessive quantifier `{2,3}+`")),
        (r"(a)?(?(1)b|c)", (4, 3, "conditional `(?(`")),
    ],
)
def test_nonlinear_constructs(pattern: str, found: tuple[int, int, str]) -> None:
    assert nonlinear_construct(pattern) == found


@pytest.mark.parametrize(
    "pattern",
    [
        r"a+b*c?",
        r"a+?b*?",
        r"\++",
        r"[+*]+",
        r"[\1]",
        r"[]a]+",
        r"(?:ab)+",
        r"(?P<n>a)",
        r"(?i)abc",
        r"a{2}",
        r"a{,3}",
        r"\d{2}-\d+",
        r"x{y}+",
        r"\0",
    ],
)
def test_linear_patterns(pattern: str) -> None:
    assert nonlinear_construct(pattern) is None


def test_nonlinear_regex_span_is_the_construct() -> None:
    d = only(run(rule("  when c = interaction.click(target.id matches /(x)y\\1/)")), "E305")
    assert at(d) == (2, 53, 2)


def test_windows() -> None:
    result = run(
        'track "X"\n  within 1m\n  when c = interaction.click\n'
        "  then d = interaction.click within 90s\n"
        "  then e = interaction.click within 0ms\n"
        "  then f = interaction.click within 60s\n"
    )
    assert [(d.code, at(d)) for d in result.diagnostics] == [
        ("W203", (4, 37, 3)),
        ("E306", (5, 37, 3)),
    ]


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("status == 404 and status == 410", "`status == 410` contradicts `status == 404`"),
        ("status == 404 and status != 404", "`status != 404` contradicts `status == 404`"),
        ("status != 404 and 404 == status", "`404 == status` contradicts `status != 404`"),
        ("status in [1, 2] and status == 3", "`status == 3` contradicts `status in [1, 2]`"),
        ("status in [1, 2] and status in [3]", "`status in [3]` contradicts `status in [1, 2]`"),
        ("status > 5 and status < 3", "`status < 3` contradicts `status > 5`"),
        ("status >= 5 and status < 5", "`status < 5` contradicts `status >= 5`"),
        ("status == 5 and 5 < status", "`5 < status` contradicts `status == 5`"),
        ("ok and (status > 5 and (ok and status <= 5))", "`status <= 5` contradicts `status > 5`"),
        ('url == "a" and url == "b"', '`url == "b"` contradicts `url == "a"`'),
        ("not (ok == true and ok == false)", "`ok == false` contradicts `ok == true`"),
    ],
)
def test_contradictions(cond: str, message: str) -> None:
    found = [
        d for d in run(rule(f"  when r = network.response({cond})")).diagnostics if d.code == "E307"
    ]
    assert [d.message for d in found] == [message]


@pytest.mark.parametrize(
    "cond",
    [
        "status == 404 or status == 410",
        "status >= 5 and status <= 5",
        "status == 5 and status == 5.0",
        "status in [1, 2] and status == 2",
        "status in [1, 2] and status in [2, 3]",
        "status != 1 and status != 2",
        "ok == true and ok != false",
        "status == 1 and requestId == 2",
        "status > 5 and status < 30",
        "status ==~ 1 and status ==~ 2",
        'url == "a" and url == url',
    ],
)
def test_not_contradictions(cond: str) -> None:
    assert "E307" not in codes(run(rule(f"  when r = network.response({cond})")))


def test_contradictions_across_steps_are_separate() -> None:
    result = run(
        rule("  when r = network.response(status == 1)\n  then s = network.response(status == 2)")
    )
    assert result.diagnostics == []


def test_unknown_name_hints_at_a_predicate_or_an_alias() -> None:
    result = run(
        'predicate cart_api = url glob "*/api/cart*"\n'
        'track "X"\n'
        "  when req = network.request(cart_apii or cart_api)\n"
        "  then resp = network.response(requestId == rq.requestId)\n"
    )
    hints = [(d.code, d.hint) for d in result.diagnostics]
    assert hints == [
        ("W201", "did you mean the predicate `cart_api`?"),
        ("W201", "did you mean the alias `req`?"),
    ]


def test_regex_braces_taken_as_a_template_hole() -> None:
    result = run(
        rule(
            "  when c = interaction.click",
            tail='  map properties.a = extract(c.userId, "([0-9]{3})")\n'
            '      properties.b = extract(c.userId, "([0-9]{{3}})")',
        )
    )
    d = only(result, "E304")
    assert d.message == "`{3}` in this pattern is a template hole, not a repetition"
    assert at(d) == (3, 48, 1)


def test_unusual_line_breaks_do_not_shift_lines() -> None:
    # Lark counts lines at "\n" only; a form feed or U+2028 in a comment must not move the text
    # that messages quote or the spans computed from it.
    text = (
        "# odd\x0cbreaks\u2028here\n"
        'track "X"\n  id "a b"\n  when r = network.response(status == 1 and status == 2)\n'
    )
    result = run(text)
    assert [(d.code, at(d)) for d in result.diagnostics] == [
        ("E214", (3, 6, 5)),
        ("E307", (4, 45, 11)),
    ]
    assert result.diagnostics[1].message == "`status == 2` contradicts `status == 1`"
