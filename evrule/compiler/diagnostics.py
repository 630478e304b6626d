"""Source spans, diagnostics and their rendering.

A `Diagnostic` is the only way the compiler reports a problem in a rule file. Codes are stable
once released: `E1xx` syntax, `E2xx` names and kinds, `E3xx` types and values, `W2xx`/`W3xx`
warnings. `render()` is a pure function, so the CLI, the tests and editors all show the same text::

    rules/cart.evrule:3:34: E301 `contains` needs a string or array, but `status` is integer
      then r = network.response(status contains "2")
                                ^^^^^^^^^^^^^^^^^^^^
      hint: compare numbers with `==`, `<`, `>`
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based, `end_column` is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "endLine": self.end_line,
            "endColumn": self.end_column,
        }


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a rule file."""

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    source_line: str | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            **self.span.to_dict(),
        }


def error(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, hint)


def warning(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, hint)


def render(diag: Diagnostic, source: str | None = None) -> str:
    """`path:line:col: CODE message`, then the source line with `^^^` under the span, then the hint.

    `source` is the whole text of the file; without it only the first line is rendered. A span
    that runs over several lines is underlined to the end of its first line.
    """
    s = diag.span
    out = [f"{s.file}:{s.line}:{s.column}: {diag.code} {diag.message}"]
    line_text = diag.source_line
    if line_text is None and source is not None:
        lines = source.splitlines()
        if 1 <= s.line <= len(lines):
            line_text = lines[s.line - 1]
        elif s.line == len(lines) + 1:
            line_text = ""
    if line_text is not None:
        line_text = line_text.expandtabs(1)
        end = s.end_column if s.end_line == s.line else len(line_text) + 1
        width = max(1, end - s.column)
        out.append(f"  {line_text}")
        out.append("  " + " " * (s.column - 1) + "^" * width)
    if diag.hint:
        out.append(f"  hint: {diag.hint}")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    """Render many diagnostics, each with the source of its file, separated by blank lines."""
    return "\n\n".join(render(d, sources.get(d.span.file)) for d in diags)


def github_annotation(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command that annotates the span in a pull request."""
    level = "error" if diag.is_error else "warning"
    s = diag.span

    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def esc_prop(text: str) -> str:
        return esc(text).replace(":", "%3A").replace(",", "%2C")

    message = diag.message + (f" (hint: {diag.hint})" if diag.hint else "")
    return (
        f"::{level} file={esc_prop(s.file)},line={s.line},col={s.column},"
        f"endLine={s.end_line},endColumn={s.end_column},title={esc_prop(diag.code)}::{esc(message)}"
    )


class CompileError(Exception):
    """Raised by the API when rules have errors; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        errors = [d for d in diagnostics if d.is_error]
        first = render(errors[0], self.sources.get(errors[0].span.file)) if errors else ""
        super().__init__(f"{len(errors)} error(s) in rules\n{first}")
