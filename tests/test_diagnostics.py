"""Tests for evrule.compiler.diagnostics: rendering, GitHub annotations and serialisation."""

from __future__ import annotations

import pytest

from evrule.compiler.diagnostics import (
    CompileError,
    Diagnostic,
    Severity,
    Span,
    error,
    github_annotation,
    render,
    render_all,
    warning,
)

SOURCE = 'track "X"\n  when c = interaction.click(status contains "2")\n'


def diag(
    line: int = 2,
    column: int = 36,
    end_line: int | None = None,
    end_column: int = 44,
    hint: str | None = None,
    file: str = "a.evrule",
    message: str = "`contains` needs a string or array, but `status` is integer",
) -> Diagnostic:
    span = Span(file, line, column, line if end_line is None else end_line, end_column)
    return error("E301", message, span, hint)


def carets(rendered: str) -> str:
    """The caret line of a rendering (the third line)."""
    return rendered.splitlines()[2]


def test_render_header_source_line_and_carets() -> None:
    assert render(diag(), SOURCE) == (
        "a.evrule:2:36: E301 `contains` needs a string or array, but `status` is integer\n"
        '    when c = interaction.click(status contains "2")\n'
        "                                     ^^^^^^^^"
    )


@pytest.mark.parametrize(("column", "end_column", "width"), [(3, 7, 4), (3, 4, 1), (5, 5, 1)])
def test_caret_width_is_the_span_width(column: int, end_column: int, width: int) -> None:
    rendered = render(diag(column=column, end_column=end_column), SOURCE)
    line = carets(rendered)
    assert line == "  " + " " * (column - 1) + "^" * width


def test_multi_line_span_is_underlined_to_the_end_of_its_first_line() -> None:
    source = 'track "X"\n  when c = interaction.click(a and\n    b)\n'
    rendered = render(diag(line=2, column=30, end_line=3, end_column=6), source)
    first_line = source.splitlines()[1]
    assert carets(rendered) == "  " + " " * 29 + "^" * (len(first_line) - 29)
    assert "    b)" not in rendered  # only the first line is shown


def test_tabs_keep_carets_aligned() -> None:
    # The parser counts a tab as one column; rendering must too.
    source = 'track "X"\n\twhen c = interaction.click(\tok)\n'
    rendered = render(diag(line=2, column=30, end_column=32), source)
    shown, under = rendered.splitlines()[1:3]
    assert "\t" not in shown
    assert shown[under.index("^") : under.index("^") + 2] == "ok"


def test_missing_source_renders_the_header_only() -> None:
    assert render(diag(hint="compare numbers with `==`")) == (
        "a.evrule:2:36: E301 `contains` needs a string or array, but `status` is integer\n"
        "  hint: compare numbers with `==`"
    )


def test_source_line_stored_on_the_diagnostic_wins() -> None:
    d = Diagnostic("E100", Severity.ERROR, "x", Span("f", 9, 2, 9, 3), source_line="abc")
    assert render(d).splitlines()[1:] == ["  abc", "   ^"]


def test_span_past_the_last_line_points_at_the_end_of_file() -> None:
    rendered = render(diag(line=3, column=1, end_column=2), SOURCE)
    assert rendered.splitlines()[1:] == ["  ", "  ^"]
    # Further out there is nothing to show, but rendering still works.
    assert render(diag(line=40, column=1, end_column=2), SOURCE).count("\n") == 0


def test_hint_line() -> None:
    rendered = render(diag(hint="compare numbers with `==`, `<`, `>`"), SOURCE)
    assert rendered.splitlines()[-1] == "  hint: compare numbers with `==`, `<`, `>`"
    assert "hint" not in render(diag(), SOURCE)


def test_render_all_uses_each_file_source() -> None:
    other = "one\ntwo\n"
    rendered = render_all(
        [diag(), diag(file="b.evrule", line=2, column=1, end_column=4)],
        {"a.evrule": SOURCE, "b.evrule": other},
    )
    first, second = rendered.split("\n\n")
    assert "interaction.click" in first
    assert second.splitlines()[1:] == ["  two", "  ^^^"]
    assert render_all([], {}) == ""


def test_github_annotation() -> None:
    d = warning(
        "W201",
        "`target.innerTxt` is not a field",
        Span("rules/a.evrule", 2, 30, 2, 45),
        "did you mean `innerText`?",
    )
    assert github_annotation(d) == (
        "::warning file=rules/a.evrule,line=2,col=30,endLine=2,endColumn=45,title=W201::"
        "`target.innerTxt` is not a field (hint: did you mean `innerText`?)"
    )


def test_github_annotation_escapes_data_and_properties() -> None:
    d = error("E101", "50% done\r\nnext line", Span("dir,with:odd%name.evrule", 1, 1, 1, 2))
    annotation = github_annotation(d)
    assert annotation == (
        "::error file=dir%2Cwith%3Aodd%25name.evrule,line=1,col=1,endLine=1,endColumn=2,"
        "title=E101::50%25 done%0D%0Anext line"
    )
    assert "\n" not in annotation and "\r" not in annotation


def test_to_dict() -> None:
    d = diag(hint="h")
    assert d.to_dict() == {
        "code": "E301",
        "severity": "error",
        "message": "`contains` needs a string or array, but `status` is integer",
        "hint": "h",
        "file": "a.evrule",
        "line": 2,
        "column": 36,
        "endLine": 2,
        "endColumn": 44,
    }
    assert warning("W201", "m", Span("f", 1, 1, 1, 2)).to_dict()["severity"] == "warning"
    assert diag().to_dict()["hint"] is None


def test_sort_key_and_equality() -> None:
    a = diag(line=1, column=5)
    b = diag(line=1, column=2)
    c = diag(file="0.evrule", line=9)
    assert sorted([a, b, c], key=Diagnostic.sort_key) == [c, b, a]
    # The cached source line is not part of a diagnostic's identity.
    d = Diagnostic("E100", Severity.ERROR, "x", Span("f", 1, 1, 1, 2), source_line="text")
    assert d == Diagnostic("E100", Severity.ERROR, "x", Span("f", 1, 1, 1, 2))
    assert d.is_error and not warning("W1", "x", d.span).is_error


def test_compile_error_carries_every_diagnostic() -> None:
    diags = [warning("W201", "w", Span("a.evrule", 1, 1, 1, 2)), diag()]
    exc = CompileError(diags, {"a.evrule": SOURCE})
    assert exc.diagnostics == diags
    assert str(exc).startswith("1 error(s) in rules\na.evrule:2:36: E301")
    assert "^^^^^^^^" in str(exc)
