"""`evrule test`: the `.evtest` format, matching expectations, the runner, --update, coverage,
JUnit XML, the command, and the examples of docs/testing.md."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from evrule import testing
from evrule.commands import test_cmd
from evrule.testing import Expect, Only, Problem, SignalSource

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "tests" / "fixtures" / "testing" / "shop"
DOCS = ROOT / "docs" / "testing.md"

CLICK = (
    '{"type":"interaction","anonymousId":"a9","timestamp":"2026-03-01T12:00:00.000Z","index":1,'
    '"data":{"eventType":"click","target":{"innerText":"Add to cart"}}}'
)
NAV = (
    '{"type":"navigation","anonymousId":"a9","timestamp":"2026-03-01T12:00:01.000Z","index":2,'
    '"data":{"path":"/products/9","currentUrl":"https://shop.example/products/9"}}'
)


@pytest.fixture(params=["tables", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shop fixture at `rules/`, with the working directory at its parent."""
    shutil.copytree(SHOP, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "rules"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(test_cmd.test_command, list(args), catch_exceptions=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def run_dir(path: Path, backend: str = "tables") -> testing.Report:
    """Run the tests under `path`, named relative to the working directory as the CLI would."""
    rel = os.path.relpath(path)
    return testing.run(testing.discover([rel]), backend=backend, searched=[rel])  # type: ignore[arg-type]


# ---- parsing ------------------------------------------------------------------------------

EVERYTHING = """\
# tests for a.evrule
rules a.evrule "b c.evrule"   # two files, one quoted
only shop.* auth.login
options {"key": "userId", "max_span_ms": 60000}

case "first"   # a comment after the name
  signals s/one.jsonl s/two.jsonl
  signal {"type":"navigation","url":"https://x/#top"}   # the '#' in the string is text
  expect track "Product Added" {"properties":{"price":19.99}}
  expect identify {"userId":"u1"}
  expect page "Home"
  expect group

# a comment between cases
case "second"
  only shop.product_added
  options {"sort": true, "allow_rejected": true}
  signal {"a": 1}
  expect nothing
"""


def test_parse_every_directive() -> None:
    tf = testing.parse(EVERYTHING, "dir/x.evtest")
    assert tf.problems == ()
    assert tf.name == "dir/x.evtest"
    assert tf.rules == ((2, "a.evrule"), (2, "b c.evrule"))
    assert tf.only == Only(3, ("shop.*", "auth.login"))
    assert tf.options == {"key": "userId", "max_span_ms": 60000}
    first, second = tf.cases
    assert (first.name, first.line, first.last_line) == ("first", 6, 12)
    assert first.sources == (
        SignalSource(7, path="s/one.jsonl"),
        SignalSource(7, path="s/two.jsonl"),
        SignalSource(8, text='{"type":"navigation","url":"https://x/#top"}'),
    )
    assert first.expects == (
        Expect(9, {"type": "track", "event": "Product Added", "properties": {"price": 19.99}}),
        Expect(10, {"type": "identify", "userId": "u1"}),
        Expect(11, {"type": "page", "name": "Home"}),
        Expect(12, {"type": "group"}),
    )
    assert first.nothing_line is None and first.only is None and first.options == {}
    assert (second.name, second.line, second.last_line, second.nothing_line) == (
        "second",
        15,
        19,
        19,
    )
    assert second.only == Only(16, ("shop.product_added",))
    assert second.options == {"sort": True, "allow_rejected": True}
    assert second.expects == () and second.has_expectations
    assert tf.case_id(second) == "dir/x.evtest::second"


def test_parse_keeps_crlf_bom_and_hash_in_strings() -> None:
    text = '\ufeffcase "a # b"\r\n  signal {"x": "#"} # c\r\n  expect nothing\r\n'
    tf = testing.parse(text, "t.evtest")
    assert tf.problems == ()
    assert tf.cases[0].name == "a # b"
    assert tf.cases[0].sources[0].text == '{"x": "#"}'


PROBLEMS = [
    (
        "bogus x\n",
        [
            "t.evtest:1: unknown directive 'bogus'; expected one of rules, only, options, case, "
            "signals, signal, expect"
        ],
    ),
    ("signal {}\n", ['t.evtest:1: `signal` belongs to a case: write a `case "name"` line first']),
    (
        'case "a"\n  signal {}\n  expect nothing\nrules x.evrule\n',
        ["t.evtest:4: `rules` belongs before the first case"],
    ),
    ("rules\n", ["t.evtest:1: rules: name at least one rule file or folder"]),
    (
        'case "a"\n  signal {}\n  expect nothing\ncase "a"\n  signal {}\n  expect nothing\n',
        ["t.evtest:4: case: the name 'a' is already used on line 1"],
    ),
    (
        "case a\n  signal {}\n  expect nothing\n",
        ['t.evtest:1: case: expected a name in double quotes: case "what it shows"'],
    ),
    (
        'case "a"\n  signal {"x": }\n  expect nothing\n',
        ["t.evtest:2: signal: not valid JSON: Expecting value (column 16)"],
    ),
    (
        'case "a"\n  signal [1]\n  expect nothing\n',
        ["t.evtest:2: signal: expected one JSON object on the line"],
    ),
    (
        'case "a"\n  signal {"x": NaN}\n  expect nothing\n',
        ["t.evtest:2: signal: not valid JSON: NaN is not JSON (column 10)"],
    ),
    (
        'case "a"\n  signal {}\n  expect tarck "X"\n',
        [
            "t.evtest:3: expect: unknown event type 'tarck'; write `expect nothing` or one of "
            "track, identify, page, screen, group, alias (column 10)"
        ],
    ),
    (
        'case "a"\n  signal {}\n  expect alias "X"\n',
        ["t.evtest:3: expect: alias events have no name; give fields in a JSON object"],
    ),
    (
        'case "a"\n  signal {}\n  expect track "X" {"event": "Y"}\n',
        ["t.evtest:3: expect: 'event' is given twice"],
    ),
    (
        'case "a"\n  signal {}\n  expect track {"a": 1} "X"\n',
        [
            "t.evtest:3: expect: after the event type comes an optional name (a string) and then "
            "an optional JSON object of fields (column 16)"
        ],
    ),
    (
        'case "a"\n  signal {}\n  expect track {"a": 1\n',
        ["t.evtest:3: expect: not valid JSON: Expecting ',' delimiter (column 23)"],
    ),
    (
        'case "a"\n  signal {}\n  expect nothing\n  expect track\n',
        ["t.evtest:4: `expect nothing` cannot be combined with other expects"],
    ),
    (
        'case "a"\n  signal {}\n  expect track\n  expect nothing\n',
        ["t.evtest:4: `expect nothing` cannot be combined with other expects"],
    ),
    (
        'only a\nonly b\ncase "a"\n  signal {}\n  expect nothing\n',
        ["t.evtest:2: only: given twice; put all rule ids on one line"],
    ),
    (
        'options {"sort": 1}\ncase "a"\n  signal {}\n  expect nothing\n',
        ["t.evtest:1: options: 'sort' must be true or false"],
    ),
    (
        'options {"max_partials": 0}\ncase "a"\n  signal {}\n  expect nothing\n',
        ["t.evtest:1: options: 'max_partials' must be an integer of at least 1"],
    ),
    (
        'options {"key": "a..b"}\ncase "a"\n  signal {}\n  expect nothing\n',
        [
            "t.evtest:1: options: 'key' must be a non-empty envelope path such as "
            '"userId" or "context.sessionId"'
        ],
    ),
    (
        'options [1]\ncase "a"\n  signal {}\n  expect nothing\n',
        ['t.evtest:1: options: expected a JSON object such as {"key": "userId"}'],
    ),
    ('case "a"\n  expect nothing\n', ["t.evtest:1: case 'a' has no `signals` or `signal` line"]),
    ("# nothing here\n", ['t.evtest: no case in this file: add a `case "name"` block']),
    ("", ['t.evtest: no case in this file: add a `case "name"` block']),
    (
        'case "a"\n  signals\n',
        [
            "t.evtest:1: case 'a' has no `signals` or `signal` line",
            "t.evtest:2: signals: name a JSON Lines file",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), PROBLEMS)
def test_parse_problems(text: str, expected: list[str]) -> None:
    assert [str(p) for p in testing.parse(text, "t.evtest").problems] == expected


def test_parse_collects_every_problem_in_line_order() -> None:
    text = 'expect track\ncase "a"\n  signal {\n  expect nothing\n  expect page\nwhat\n'
    assert [p.line for p in testing.parse(text, "t.evtest").problems] == [1, 3, 5, 6]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *testing.DIRECTIVES,
                "nothing",
                "track",
                '"a"',
                "{",
                "}",
                '{"a":1}',
                "#",
                "\n",
                " ",
                "[",
                '"',
                "\\",
            ]
        ),
        max_size=30,
    )
)
def test_parse_never_raises(parts: list[str]) -> None:
    tf = testing.parse(" ".join(parts), "t.evtest")
    assert all(isinstance(p, Problem) and str(p).startswith("t.evtest") for p in tf.problems)


def test_load_unreadable_and_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evtest"
    bad.write_bytes(b'case "a"\n  signal {"x": "\xff"}\n')
    assert [str(p) for p in testing.load(bad).problems] == [f"{bad.as_posix()}:2: not UTF-8 text"]
    gone = tmp_path / "gone.evtest"
    assert str(testing.load(gone).problems[0]).startswith(f"{gone.as_posix()}: cannot read:")


def test_discover_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for name in [
        "b/z.evtest",
        "a.evtest",
        "b/a/y.evtest",
        ".git/x.evtest",
        "node_modules/n.evtest",
        "b/notes.txt",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('case "a"\n  signal {}\n  expect nothing\n')
    explicit = tmp_path / "b" / "notes.txt"
    found = testing.find_test_files([tmp_path, tmp_path / "a.evtest", explicit])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a.evtest", "b/a/y.evtest", "b/notes.txt", "b/z.evtest"]
    assert [tf.problems for tf in testing.discover([tmp_path / "b"])] == [(), ()]
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        testing.find_test_files([tmp_path / "missing"])
    (tmp_path / "r.evrule").write_text("")
    with pytest.raises(ValueError, match="is a rule file"):
        testing.find_test_files([tmp_path / "r.evrule"])


# ---- matching expectations ----------------------------------------------------------------

DIFFS: list[tuple[Any, Any, list[str]]] = [
    ({"a": 1}, {"a": 1, "b": 2}, []),  # other keys do not matter
    ({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 2, "d": 3}], "x": 0}}, []),
    ({"a": 20}, {"a": 20.0}, []),  # both are JSON numbers
    ({"a": None}, {"a": None}, []),
    ({}, {"anything": 1}, []),
    ({"a": 1}, {"a": "1"}, ['a: expected 1, actual "1"']),
    ({"a": 1}, {"a": True}, ["a: expected 1, actual true"]),
    ({"a": False}, {"a": 0}, ["a: expected false, actual 0"]),
    ({"a": None}, {}, ["a: expected null, but the event has no such field"]),
    ({"a": {"b": 1}}, {"a": 5}, ["a: expected an object, actual 5"]),
    ({"a": [1]}, {"a": {"0": 1}}, ['a: expected an array, actual {"0":1}']),
    ({"a": [1, 2]}, {"a": [1, 2, 3]}, ["a: expected 2 item(s), not 3, actual [1,2,3]"]),
    ({"a": [{"b": 1}, {"b": 2}]}, {"a": [{"b": 1}, {"b": 3}]}, ["a[1].b: expected 2, actual 3"]),
    (
        {"p": {"Plan Name": "x", "y": 1}},
        {"p": {"y": 2}},
        [
            'p["Plan Name"]: expected "x", but the event has no such field',
            "p.y: expected 1, actual 2",
        ],
    ),
    ([1], {"a": 1}, ['(the event): expected an array, actual {"a":1}']),
]


@pytest.mark.parametrize(("expected", "actual", "rendered"), DIFFS)
def test_field_diffs(expected: Any, actual: Any, rendered: list[str]) -> None:
    assert [d.render() for d in testing.field_diffs(expected, actual)] == rendered


def _ev(name: str, **props: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "properties": props, "messageId": "m"}


def _ex(line: int, text: str) -> Expect:
    fields = testing.parse_expect(text)
    assert fields is not None
    return Expect(line, fields)


def _kinds(cmp: testing.Comparison) -> list[tuple[str, int | None, int | None]]:
    return [(m.kind, m.expect.line if m.expect else None, m.actual) for m in cmp.mismatches]


def test_compare_in_order_is_a_pass() -> None:
    cmp = testing.compare([_ex(1, 'track "A"'), _ex(2, 'track "B" {"properties":{"x":1}}')],
                          [_ev("A", x=0), _ev("B", x=1)])  # fmt: skip
    assert cmp.pairs == ((0, 0), (1, 1)) and cmp.mismatches == ()


def test_compare_missing_extra_differs_and_order() -> None:
    events = [_ev("A"), _ev("B", x=2), _ev("C")]
    assert _kinds(testing.compare([_ex(1, 'track "A"')], events)) == [
        ("extra", None, 1),
        ("extra", None, 2),
    ]
    assert _kinds(testing.compare([_ex(1, 'track "A"'), _ex(2, 'track "Z"')], events[:1])) == [
        ("missing", 2, None)
    ]
    cmp = testing.compare(
        [_ex(1, 'track "A"'), _ex(2, 'track "B" {"properties":{"x":1}}'), _ex(3, 'track "C"')],
        events,
    )
    assert _kinds(cmp) == [("differs", 2, 1)]
    assert [d.render() for d in cmp.mismatches[0].fields] == ["properties.x: expected 1, actual 2"]
    swapped = testing.compare([_ex(1, 'track "B"'), _ex(2, 'track "A"')], events[:2])
    assert _kinds(swapped) == [("order", 1, 1)]  # "A" is in its place, "B" is not
    assert testing.compare([], []).mismatches == ()


def test_minimal_and_format_expect_round_trip() -> None:
    event = {
        "type": "identify",
        "traits": {"email": "a@x"},
        "userId": "u1",
        "anonymousId": "a1",
        "timestamp": "2026-03-01T12:00:00Z",
        "messageId": "evr-1",
        "context": {"library": {"name": "evrule"}},
        "integrations": {},
    }
    line = testing.format_expect(testing.minimal(event))
    assert line == 'expect identify {"userId":"u1","traits":{"email":"a@x"}}'
    assert testing.parse_expect(line.removeprefix("expect ")) == testing.minimal(event)
    page = {"type": "page", "name": "Home", "properties": {}, "category": None}
    assert testing.format_expect(testing.minimal(page)) == 'expect page "Home"'
    odd = {"type": "track", "event": 'Ünïcode "q"', "properties": {"a b": [1, None]}}
    assert testing.parse_expect(testing.format_expect(odd).removeprefix("expect ")) == odd


# ---- running ------------------------------------------------------------------------------

PASSING = [
    "PASS rules/shop.evtest::adds a product after a successful response",
    "PASS rules/shop.evtest::a failed cart request is reported, not added",
    "PASS rules/shop.evtest::login, then a product page (a Segment debug batch)",
    "PASS rules/shop.evtest::only counts the rules it names",
    "PASS rules/shop.evtest::a click alone is not an Add to Cart",
    "5 passed, 0 failed",
]


def test_passing_suite(rules: Path, backend: str) -> None:
    result = invoke("rules", "--backend", backend)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[: len(PASSING)] == PASSING
    assert "5 passed, 0 failed" in lines  # alone on its line, for CI parsers


def test_the_fixture_passes_in_place() -> None:
    report = run_dir(SHOP)
    assert (report.passed, report.failed) == (5, 0)


def test_both_backends_emit_the_same_events() -> None:
    by_backend = {b: [c.events for c in run_dir(SHOP, b).cases] for b in ("tables", "python")}
    assert by_backend["tables"] == by_backend["python"]
    assert sum(len(e) for e in by_backend["tables"]) == 6


def test_a_broken_expectation_shows_a_readable_diff(rules: Path, backend: str) -> None:
    edit(rules / "shop.evtest", '"price":19.99,', '"price":"19.99",')
    result = invoke("rules", "--backend", backend)
    assert result.exit_code == 1
    out = result.stdout
    assert "FAIL rules/shop.evtest::adds a product after a successful response\n" in out
    assert (
        "  expected 1 event(s), got 1\n"
        "  rules/shop.evtest:8: differs from actual event #1 (rule shop.product_added at "
        "rules/shop.evrule:5; signals line 5, line 6, line 7):\n"
        '      properties.price: expected "19.99", actual 19.99\n'
        '      expected: track "Product Added" {"properties":{"product_id":"p1","price":"19.99",'
        '"currency":"USD"}}\n'
        '      actual:   track "Product Added" {"properties":{"product_id":"p1","price":19.99,'
        '"currency":"USD"}}\n'
    ) in out
    assert "\n4 passed, 1 failed\n" in out


def test_expect_nothing_extra_and_missing_events(rules: Path) -> None:
    edit(
        rules / "shop.evtest",
        '  expect track "Cart Update Failed" {"properties":{"product_id":"p2"}}',
        "  expect nothing",
    )
    edit(
        rules / "shop.evtest",
        'cart"}}}\n  expect nothing\n',
        'cart"}}}\n  expect track "Product Added"\n  expect identify\n',
    )
    text = (rules / "shop.evtest").read_text()
    # The first `expect nothing` (case 2) is kept; the last one (case 5) was replaced.
    assert text.count("expect nothing") == 1
    report = run_dir(rules)
    by_name = {c.case.name: c for c in report.cases}
    failed = by_name["a failed cart request is reported, not added"]
    assert _kinds(failed.comparison) == [("extra", None, 0)]
    assert failed.details().splitlines()[-1] == (
        '    expect track "Cart Update Failed" {"properties":{"product_id":"p2"}}'
    )
    alone = by_name["a click alone is not an Add to Cart"]
    assert _kinds(alone.comparison) == [("missing", 26, None), ("missing", 27, None)]
    assert alone.details().splitlines() == [
        "expected 2 event(s), got 0",
        'rules/shop.evtest:26: missing event: expect track "Product Added"',
        "rules/shop.evtest:27: missing event: expect identify",
    ]


def test_only_counts_the_named_rules(rules: Path) -> None:
    (rules / "only.evtest").write_text(
        f"""rules shop.evrule auth.evrule
only shop.*

case "the login is not a shop event"
  signals sessions/login.jsonl
  expect page "Product"

case "a case's own only replaces the file's"
  only auth.identify_on_login
  signals sessions/login.jsonl
  expect identify {{"userId":"42"}}

case "a typo in only is an error, not a silent pass"
  only shop.prodct_added
  signal {CLICK}
  expect nothing
""",
        "utf-8",
    )
    report = run_dir(rules / "only.evtest")
    shop, auth, typo = report.cases
    assert shop.passed and len(shop.events) == 2 and len(shop.counted) == 1
    assert auth.passed and [testing.rule_of(e) for e in auth.counted] == ["auth.identify_on_login"]
    assert not typo.passed and not typo.ran
    assert typo.details() == (
        "rules/only.evtest:14: only: no rule of the tested files has the id 'shop.prodct_added'"
    )


def test_default_rules_are_the_rule_files_beside_the_test(rules: Path) -> None:
    edit(rules / "shop.evtest", "rules shop.evrule auth.evrule\n", "")
    assert run_dir(rules).failed == 0
    (rules / "sub").mkdir()
    (rules / "sub" / "t.evtest").write_text(f'case "a"\n  signal {CLICK}\n  expect nothing\n')
    (rules / "sub" / "u.evtest").write_text(
        f'rules ../shop.evrule missing.evrule ../sessions\ncase "a"\n  signal {CLICK}\n  expect nothing\n'  # noqa: E501
    )
    report = run_dir(rules / "sub")
    assert [str(p) for f in report.files for p in f.problems] == [
        "rules/sub/t.evtest: no *.evrule file beside this test file: add a `rules` line",
        "rules/sub/u.evtest:1: rules: no such file or folder: missing.evrule",
        "rules/sub/u.evtest:1: rules: no *.evrule file in ../sessions",
    ]
    assert (report.passed, report.failed) == (0, 2)


def test_rejected_signals_fail_the_case_unless_allowed(rules: Path) -> None:
    (rules / "sessions" / "bad.jsonl").write_text(CLICK + "\nnot json\n", "utf-8")
    no_index = CLICK.replace('"index":1,', "")
    (rules / "rejects.evtest").write_text(
        f"""rules shop.evrule
case "broken recordings fail"
  signals sessions/bad.jsonl
  signal {no_index}
  expect nothing

case "unless they are allowed"
  options {{"allow_rejected": true}}
  signals sessions/bad.jsonl
  expect nothing
""",
        "utf-8",
    )
    strict, lenient = run_dir(rules / "rejects.evtest").cases
    first, second = strict.details().splitlines()
    # The JSON decoder's own words differ between orjson and the standard library.
    assert first.startswith("rules/sessions/bad.jsonl:2: signal rejected: not valid JSON: ")
    assert second == "rules/rejects.evtest:4: signal rejected: missing 'index'"
    assert not strict.passed and strict.ran
    assert lenient.passed


def test_options_key_sort_and_signals_files_that_do_not_exist(rules: Path) -> None:
    later = CLICK.replace("a9", "a8").replace("12:00:00.000Z", "12:00:05.000Z")
    (rules / "opts.evtest").write_text(
        f"""rules shop.evrule
case "keyed by a field nobody has: every signal is rejected"
  options {{"key": "userId", "allow_rejected": true}}
  signal {NAV}
  expect nothing

case "sorted by time, a navigation still makes a page"
  options {{"sort": true}}
  signal {later}
  signal {NAV}
  expect page "Product" {{"anonymousId":"a9"}}
  expect nothing

case "missing signals"
  signals sessions/nope.jsonl
  expect nothing
""",
        "utf-8",
    )
    report = run_dir(rules / "opts.evtest")
    assert [str(p) for p in report.files[0].problems] == [
        "rules/opts.evtest:12: `expect nothing` cannot be combined with other expects"
    ]
    edit(
        rules / "opts.evtest", '{"anonymousId":"a9"}\n  expect nothing\n', '{"anonymousId":"a9"}\n'
    )
    keyed, ordered, missing = run_dir(rules / "opts.evtest").cases
    assert keyed.passed and ordered.passed
    assert [e["anonymousId"] for e in ordered.events] == ["a9"]
    assert str(missing.problems[0]).startswith(
        "rules/opts.evtest:14: signals: cannot read sessions/nope.jsonl:"
    )


def test_malformed_files_fail_but_the_others_still_run(rules: Path) -> None:
    (rules / "a_broken.evtest").write_text('case "x"\n  expect nothing\n', "utf-8")
    result = invoke("rules")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "FAIL rules/a_broken.evtest",
        "  rules/a_broken.evtest:1: case 'x' has no `signals` or `signal` line",
    ]
    assert "5 passed, 1 failed" in lines


def test_compile_errors_are_rendered(rules: Path) -> None:
    edit(rules / "shop.evrule", "interaction.click(", "interaction.click((")
    result = invoke("rules")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"rules/shop\.evrule:9:3: E100 unexpected `then`.*", lines[0])
    assert lines[1:3] == ["    then req = network.request(cart_add) within 2s", "    ^^^^"]
    assert (
        lines.count("  rules/shop.evtest:2: the rules do not compile (see the errors above)") == 5
    )
    assert "0 passed, 5 failed" in lines


def test_a_case_without_expectations_fails_and_update_records_it(rules: Path) -> None:
    (rules / "new.evtest").write_bytes(
        b'rules shop.evrule auth.evrule\r\n\r\ncase "record me"\r\n  # a comment stays\r\n'
        b'  signals sessions/login.jsonl\r\n\r\ncase "and me"\r\n  signal ' + CLICK.encode()
    )
    report = run_dir(rules / "new.evtest")
    assert report.failed == 2
    assert report.cases[0].details().splitlines()[:3] == [
        "rules/new.evtest:3: no `expect` line: list the events the case must produce "
        "(or `expect nothing`), or record them with --update",
        "expected 0 event(s), got 2",
        "extra event #1 (rule auth.identify_on_login at rules/auth.evrule:3; signals "
        "sessions/login.jsonl:1, sessions/login.jsonl:2):",
    ]
    assert report.cases[1].details().splitlines() == [
        "rules/new.evtest:7: no `expect` line: list the events the case must produce "
        "(or `expect nothing`), or record them with --update"
    ]
    result = invoke("rules/new.evtest", "--update")
    assert result.exit_code == 0, result.output
    assert (rules / "new.evtest").read_bytes() == (
        b'rules shop.evrule auth.evrule\r\n\r\ncase "record me"\r\n  # a comment stays\r\n'
        b"  signals sessions/login.jsonl\r\n"
        b'  expect identify {"userId":"42","traits":{"email":"ada@example.com"}}\r\n'
        b'  expect page "Product" {"userId":"42","category":"Shop","properties":{"path":'
        b'"/products/7-trail-runner","title":"Trail Runner","url":'
        b'"https://shop.example/products/7-trail-runner"}}\r\n'
        b'\r\ncase "and me"\r\n  signal ' + CLICK.encode() + b"\r\n  expect nothing"
    )


def test_update_rewrites_exactly_the_failing_expect_lines(rules: Path) -> None:
    original = (rules / "shop.evtest").read_bytes()
    evtest = rules / "shop.evtest"
    edit(evtest, '"price":19.99,', '"price":29.99,')
    edit(
        evtest,
        '  expect track "Cart Update Failed" {"properties":{"product_id":"p2"}}',
        "  expect nothing",
    )
    edit(evtest, '  expect identify {"userId":"42","traits":{"email":"ada@example.com"}}\n', "")
    edit(
        evtest,
        'Add to cart"}}}\n  expect nothing',
        'Add to cart"}}}\n  expect track "X"\n  expect track "Y"',
    )
    result = invoke("rules", "--update")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [x for x in lines if x.startswith(("UPDATED", "PASS", "FAIL"))] == [
        "UPDATED rules/shop.evtest::adds a product after a successful response",
        "UPDATED rules/shop.evtest::a failed cart request is reported, not added",
        "UPDATED rules/shop.evtest::login, then a product page (a Segment debug batch)",
        "PASS rules/shop.evtest::only counts the rules it names",
        "UPDATED rules/shop.evtest::a click alone is not an Add to Cart",
    ]
    assert "      properties.price: expected 29.99, actual 19.99" in lines  # what was fixed
    assert "updated 4 case(s) in 1 file(s)" in lines and "5 passed, 0 failed" in lines
    # Back to the fixture byte for byte: the hand-written `expect page` subset line (and its
    # comment) survived, the missing identify line was written where it belongs.
    assert evtest.read_bytes() == original
    again = invoke("rules", "--update")
    assert again.exit_code == 0 and "UPDATED" not in again.stdout
    assert evtest.read_bytes() == original


def test_update_leaves_cases_that_cannot_run(rules: Path) -> None:
    evtest = rules / "shop.evtest"
    edit(evtest, "signals sessions/cart_failed.jsonl", "signals sessions/gone.jsonl")
    before = evtest.read_bytes()
    result = invoke("rules", "--update")
    assert result.exit_code == 1
    assert evtest.read_bytes() == before
    assert "4 passed, 1 failed" in result.stdout.splitlines()


# ---- coverage, JUnit, the command ----------------------------------------------------------


def test_uncovered_rules_and_untested_files(rules: Path) -> None:
    (rules / "legacy").mkdir()
    (rules / "legacy" / "old.evrule").write_text(
        'track "Old"\n  id "legacy.old"\n  when navigation(path == "/old")\n', "utf-8"
    )
    result = invoke("rules")
    assert result.exit_code == 0
    tail = result.stdout.split("5 passed, 0 failed\n")[1]
    assert tail.splitlines() == [
        "coverage: 4 of 5 rule(s) exercised by a case",
        "uncovered rules, no case produces their events (warning):",
        "  shop.coupon_applied  rules/shop.evrule:30",
        "rule files that no test file loads (warning):",
        "  rules/legacy/old.evrule",
    ]
    strict = invoke("rules", "--fail-uncovered")
    assert strict.exit_code == 1
    assert (
        "uncovered rules, no case produces their events (--fail-uncovered: these fail the run):"
        in strict.stdout
    )
    report = run_dir(rules)
    assert [str(r) for r in report.coverage.uncovered] == [
        "shop.coupon_applied (rules/shop.evrule:30)"
    ]


def test_events_left_out_by_only_do_not_cover_a_rule(rules: Path) -> None:
    edit(
        rules / "shop.evtest",
        "rules shop.evrule auth.evrule\n",
        "rules shop.evrule auth.evrule\nonly shop.*\n",
    )
    edit(
        rules / "shop.evtest",
        '  expect identify {"userId":"42","traits":{"email":"ada@example.com"}}\n',
        "",
    )
    report = testing.run(testing.discover([rules]), searched=[rules])
    assert report.failed == 0
    assert [r.id for r in report.coverage.uncovered] == [
        "auth.identify_on_login",
        "shop.coupon_applied",
    ]


def test_junit_xml(rules: Path) -> None:
    edit(rules / "shop.evtest", '"price":19.99,', '"price":29.99,')
    edit(rules / "shop.evtest", "signals sessions/cart_failed.jsonl", "signals sessions/gone.jsonl")
    (rules / "zz_broken.evtest").write_text("nonsense\n", "utf-8")
    result = invoke("rules", "--junit", "out/report.xml", "--fail-uncovered")
    assert result.exit_code == 2  # `out/` does not exist
    assert "cannot write out/report.xml" in result.output
    result = invoke("rules", "--junit", "report.xml", "--fail-uncovered")
    assert result.exit_code == 1
    root = ET.parse("report.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("8", "3", "2")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "rules/shop.evtest",
        "rules/zz_broken.evtest",
        "coverage",
    ]
    shop = suites[0]
    assert (shop.get("tests"), shop.get("failures"), shop.get("errors")) == ("5", "1", "1")
    cases = shop.findall("testcase")
    assert [c.get("classname") for c in cases] == ["rules/shop.evtest"] * 5
    assert cases[0].get("name") == "adds a product after a successful response"
    failure = cases[0].find("failure")
    assert failure is not None and failure.text is not None
    assert "properties.price: expected 29.99, actual 19.99" in failure.text
    error = cases[1].find("error")
    assert error is not None and "cannot read sessions/gone.jsonl" in (error.get("message") or "")
    assert all(c.find("failure") is None and c.find("error") is None for c in cases[2:])
    broken = suites[1].find("testcase")
    assert broken is not None and broken.get("name") == "(test file)"
    # The unreadable case left the failed-cart rule without a case too.
    uncovered = suites[2].findall("testcase")
    assert [c.get("name") for c in uncovered] == [
        "shop.cart_update_failed (rules/shop.evrule:16)",
        "shop.coupon_applied (rules/shop.evrule:30)",
    ]


def test_junit_xml_of_a_passing_run_is_well_formed(rules: Path) -> None:
    (rules / "shop.evtest").write_text(
        (rules / "shop.evtest")
        .read_text()
        .replace("a click alone", "a click \\u0001 <alone> & co"),
        "utf-8",
    )
    assert invoke("rules", "--junit", "r.xml").exit_code == 0
    root = ET.parse("r.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "0", "0")
    assert root.findall("testsuite/testcase")[-1].get("name") == (
        "a click \ufffd <alone> & co is not an Add to Cart"
    )


def test_no_tests_found_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    result = invoke()
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "no tests found under .: a CI that tests nothing must not pass quietly"
    )
    assert invoke("rules").exit_code == 1


def test_usage_errors_exit_2(rules: Path) -> None:
    assert invoke("nowhere").exit_code == 2
    assert "no such file or directory: nowhere" in invoke("nowhere").output
    assert invoke("rules/shop.evrule").exit_code == 2
    assert invoke("rules", "--backend", "java").exit_code == 2


# ---- docs/testing.md ------------------------------------------------------------------------

_FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
BLOCKS = [
    (m.group(1), m.group(2).strip(), m.group(3)) for m in _FENCE.finditer(DOCS.read_text("utf-8"))
]


def test_docs_evtest_blocks_parse() -> None:
    valid = [(info, body) for lang, info, body in BLOCKS if lang == "evtest"]
    assert len(valid) >= 6
    for info, body in valid:
        assert testing.parse(body, "doc.evtest").problems == (), body
        if info.startswith("file="):
            assert (ROOT / info.removeprefix("file=")).read_text("utf-8") == body


def test_docs_invalid_blocks_give_the_messages_shown() -> None:
    pairs = [
        (BLOCKS[i][2], BLOCKS[i + 1]) for i, b in enumerate(BLOCKS) if b[0] == "evtest-invalid"
    ]
    assert len(pairs) >= 7
    for body, (lang, _, shown) in pairs:
        assert lang == "text", body
        problems = testing.parse(body, "mistake.evtest").problems
        assert "\n".join(map(str, problems)) + "\n" == shown


def _console(n: int) -> str:
    blocks = [body for lang, _, body in BLOCKS if lang == "console"]
    head, _, out = blocks[n].partition("\n")
    assert head == "$ evrule test rules/"
    return out


def test_docs_outputs_are_real(rules: Path) -> None:
    assert invoke("rules/").stdout == _console(0)
    evtest = rules / "shop.evtest"
    edit(
        evtest,
        '"price":19.99,"currency":"USD"}}\n',
        '"price":29.99,"coupon":"SPRING"}}\n  expect identify {"userId":"u1"}\n',
    )
    edit(
        evtest,
        'expect track "Cart Update Failed" {"properties":{"product_id":"p2"}}',
        "expect nothing",
    )
    assert invoke("rules/").stdout == _console(1)
