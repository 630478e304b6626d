"""The checker: every registered check over every parsed file, all problems at once.

`check` takes parsed modules; `check_sources` and `check_paths` also parse (and read) them and
keep the parser's diagnostics, so one call reports syntax errors in one file next to type errors
in another. Nothing here raises for bad input and nothing prints: the result carries the
diagnostics and the sources to render them with.

    >>> result = check_sources({"a.evrule": 'track "X"\\n  when c = interaction.clik(ok)\\n'})
    >>> [(d.code, d.message) for d in result.diagnostics]
    [('E201', 'unknown signal kind `interaction.clik`')]
    >>> print(result.render())
    a.evrule:2:12: E201 unknown signal kind `interaction.clik`
        when c = interaction.clik(ok)
                 ^^^^^^^^^^^^^^^^
      hint: did you mean `interaction.click`?

Checks live in `evrule.compiler.checks` (one class per code, see its docstring); the codes and
their meaning are listed in docs/diagnostics.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evrule.compiler import ast
from evrule.compiler.checks import REGISTRY, Check
from evrule.compiler.checks.context import Context
from evrule.compiler.diagnostics import Diagnostic, Span, error, render_all
from evrule.compiler.parser import parse

__all__ = [
    "FILE_CODES",
    "PARSER_CODES",
    "CheckResult",
    "Context",
    "check",
    "check_paths",
    "check_sources",
]

PARSER_CODES = ("E100", "E101", "E102", "E103", "E104")
"""Codes the parser reports (unexpected token, character, end of file; bad escape, template)."""

FILE_CODES = ("E105",)
"""Codes this module reports itself: E105, a file that cannot be read as UTF-8 text."""

RULE_FILE_SUFFIX = ".evrule"


def check(
    modules: Sequence[ast.Module], *, partial_files: Collection[str] = ()
) -> list[Diagnostic]:
    """Run every registered check over all modules, then the cross-file checks.

    Returns the diagnostics sorted by `Diagnostic.sort_key()` with exact repeats removed (a
    predicate used by several steps is checked once per step, at the same spans).
    `partial_files` names files the parser could only partly read; checks that need the whole
    file (unused predicates) skip them.
    """
    ctx = Context(tuple(modules), frozenset(partial_files))
    checks: list[Check] = [cls() for cls in REGISTRY.values()]
    found: list[Diagnostic] = []
    for module in ctx.modules:
        for c in checks:
            found.extend(c.check_module(ctx, module))
        for rule in module.rules:
            for c in checks:
                found.extend(c.check_rule(ctx, rule))
    for c in checks:
        found.extend(c.finalize(ctx))
    return _sorted_unique(found)


def _sorted_unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    ordered = sorted(diags, key=lambda d: (*d.sort_key(), d.message))
    return list(dict.fromkeys(ordered))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Parsed modules, every diagnostic (parser's and checks'), and the text of each file."""

    modules: list[ast.Module]
    diagnostics: list[Diagnostic]
    sources: dict[str, str]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def render(self) -> str:
        """Every diagnostic rendered with its source line (`diagnostics.render_all`)."""
        return render_all(self.diagnostics, self.sources)


def check_sources(sources: Mapping[str, str]) -> CheckResult:
    """Parse and check files given as `{file name: text}`; file order decides which of two
    duplicates counts as the first.

        >>> check_sources({"a.evrule": 'track "X"\\n  when c = interaction.click(ok)\\n'}).ok
        True
    """
    return _check_texts(dict(sources), [])


def check_paths(paths: Sequence[str | Path]) -> CheckResult:
    """Read, parse and check files; a directory stands for every `*.evrule` file below it.

    Files are taken in sorted order so that results do not depend on the file system. A path
    that cannot be read, or is not UTF-8, gives an E105 diagnostic instead of an exception.
    """
    texts: dict[str, str] = {}
    unreadable: list[Diagnostic] = []
    shown: dict[str, str] = {}
    for path in _rule_files(paths):
        name = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            unreadable.append(
                error("E105", f"cannot read file: {reason.lower()}", Span(name, 1, 1, 1, 2))
            )
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            unreadable.append(_not_utf8(name, data, exc))
            shown[name] = data.decode("utf-8", errors="replace")
            continue
        # Editors on Windows like to start UTF-8 files with a byte order mark.
        texts[name] = text.removeprefix("\ufeff")
    result = _check_texts(texts, unreadable)
    result.sources.update(shown)
    return result


def _rule_files(paths: Sequence[str | Path]) -> list[Path]:
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.update(p for p in path.rglob(f"*{RULE_FILE_SUFFIX}") if p.is_file())
        else:
            found.add(path)  # a missing file is reported when it is read
    return sorted(found, key=lambda p: p.as_posix())


def _not_utf8(name: str, data: bytes, exc: UnicodeDecodeError) -> Diagnostic:
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return error(
        "E105",
        f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
        Span(name, line, column, line, column + 1),
        "save the file as UTF-8",
    )


def _check_texts(texts: dict[str, str], found: list[Diagnostic]) -> CheckResult:
    modules: list[ast.Module] = []
    diags = list(found)
    partial: set[str] = set()
    for name, text in texts.items():
        try:
            parsed = parse(text, name)
        except RecursionError:
            # The parser reports absurd nesting itself; this is the safety net should some
            # other recursive path in it give up, as the parser promises never to raise.
            diags.append(error("E100", "expression nested too deeply", Span(name, 1, 1, 1, 2)))
            partial.add(name)
            continue
        modules.append(parsed.module)
        diags.extend(parsed.diagnostics)
        if not parsed.ok:
            partial.add(name)
    diags.extend(check(modules, partial_files=partial))
    return CheckResult(modules, _sorted_unique(diags), dict(texts))
