"""The language reference and the example project stay valid.

Every ```evrule block in docs/language.md is a complete file that must parse without diagnostics
and check without errors (a block may show a rule that earns a warning, such as one without an
`id`); every ```evrule-invalid block must be rejected, by the parser or the checker. The files in
examples/ are what `make demo` runs: they must parse and check with no diagnostics at all, and
be in the canonical layout (`evrule fmt --check examples`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from evrule.compiler.checker import check_paths
from evrule.compiler.diagnostics import Diagnostic, render_all
from evrule.compiler.fmt import format_source
from evrule.compiler.parser import parse

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = ROOT / "docs" / "language.md"
EXAMPLES = ROOT / "examples"

_FENCE = re.compile(
    r"^```(evrule|evrule-invalid)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # line of the opening fence in docs/language.md
    text: str

    @property
    def name(self) -> str:
        return f"language.md:{self.line}"


def _blocks() -> list[Block]:
    text = LANGUAGE.read_text("utf-8")
    return [
        Block(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2))
        for m in _FENCE.finditer(text)
    ]


BLOCKS = _blocks()
VALID = [b for b in BLOCKS if b.lang == "evrule"]
INVALID = [b for b in BLOCKS if b.lang == "evrule-invalid"]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.evrule"))


def _show(diags: list[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """The diagnostics rendered with their source lines, for an assertion message."""
    known = dict(sources or {})
    for d in diags:
        file = Path(d.span.file)
        if d.span.file not in known and file.is_file():
            known[d.span.file] = file.read_text("utf-8")
    return "\n" + render_all(diags, known)


def _check_block(block: Block, tmp_path: Path) -> list[Diagnostic]:
    """Check one block as a file of its own, so that blocks never clash with each other."""
    path = tmp_path / f"block_{block.line}.evrule"
    path.write_text(block.text, "utf-8")
    return list(check_paths([str(path)]).diagnostics)


# ---- docs/language.md ---------------------------------------------------------------------


def test_language_reference_has_examples() -> None:
    assert len(VALID) >= 30
    assert len(INVALID) >= 5
    # An unterminated fence would swallow the rest of the page into one block.
    assert LANGUAGE.read_text("utf-8").count("```") % 2 == 0


@pytest.mark.parametrize("block", VALID, ids=lambda b: b.name)
def test_valid_block_parses(block: Block) -> None:
    result = parse(block.text, block.name)
    assert result.diagnostics == [], _show(result.diagnostics, {block.name: block.text})
    assert result.module.items, "a block should hold at least one rule or predicate"


@pytest.mark.parametrize("block", VALID, ids=lambda b: b.name)
def test_valid_block_checks_without_errors(block: Block, tmp_path: Path) -> None:
    errors = [d for d in _check_block(block, tmp_path) if d.is_error]
    assert errors == [], _show(errors)


@pytest.mark.parametrize("block", INVALID, ids=lambda b: b.name)
def test_invalid_block_is_rejected(block: Block, tmp_path: Path) -> None:
    if parse(block.text, block.name).diagnostics:
        return
    diags = _check_block(block, tmp_path)
    assert any(d.is_error for d in diags), "expected the parser or the checker to reject this"


# ---- examples/ ----------------------------------------------------------------------------


def test_example_project_is_complete() -> None:
    assert len(EXAMPLE_FILES) >= 8
    text = "\n".join(p.read_text("utf-8") for p in EXAMPLE_FILES)
    for kind in ("localData(", "instrumentation(", "userDefined(", "unless ", "predicate "):
        assert kind in text, f"no example uses `{kind.strip('( ')}`"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_parses(path: Path) -> None:
    source = path.read_text("utf-8")
    result = parse(source, str(path))
    assert result.diagnostics == [], _show(result.diagnostics, {str(path): source})
    for rule in result.module.rules:
        assert rule.rule_id, f"{path.name}: every example rule has an id ({rule.display_name})"


def test_examples_check_clean() -> None:
    diags = list(check_paths([str(EXAMPLES)]).diagnostics)
    assert diags == [], _show(diags)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_is_formatted(path: Path) -> None:
    source = path.read_text("utf-8")
    formatted, _ = format_source(source, str(path))
    assert formatted == source, f"run `evrule fmt {path.relative_to(ROOT)}`"
