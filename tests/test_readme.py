"""Every example in README.md runs: files it writes, commands it shows, outputs it quotes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evrule.cli import cli
from evrule.compiler.checker import check_sources

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")
BLOCK = re.compile(r"(?:<!-- (?P<note>[^>]*) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


def blocks() -> list[tuple[str, str, str]]:
    return [(m["note"] or "", m["lang"], m["body"]) for m in BLOCK.finditer(README)]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_opens_with_the_two_commands() -> None:
    first = next(body for _, lang, body in blocks() if lang == "sh")
    commands = [line.split("#")[0].strip() for line in first.splitlines()]
    assert commands == ["make demo", "make test"]


def test_walkthrough_runs_as_written(workdir: Path) -> None:
    outputs: list[str] = []
    ran = 0
    for note, lang, body in blocks():
        if note.startswith("file: "):
            path = workdir / note.removeprefix("file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, "utf-8")
        elif lang == "sh":
            for line in body.splitlines():
                if not line.startswith("evrule "):
                    continue  # `make demo` / `make test` are what CI itself runs
                result = CliRunner().invoke(cli, shlex.split(line)[1:], catch_exceptions=False)
                assert result.exit_code == 0, (line, result.output)
                outputs.append(result.stdout)
                ran += 1
        elif note == "run: python":
            env = {**os.environ, "PYTHONPATH": ""}
            result = subprocess.run(
                [sys.executable, "-I", "-c", body],
                cwd=workdir,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            assert "Product Reviews Opened {'review_count': 212" in result.stdout
            ran += 1
    assert ran >= 7
    run_output = "\n".join(outputs)
    assert '"event":"Product Reviews Opened","properties":{"review_count":212' in run_output
    assert '`target.attributes.href == "#reviews"` is false' in run_output
    assert (workdir / "junit.xml").is_file() and (workdir / "build" / "shop_rules.py").is_file()


def test_quoted_event_and_explain_output_are_real(workdir: Path) -> None:
    for _, lang, body in blocks():
        if lang == "evrule":
            (workdir / "rules").mkdir(exist_ok=True)
            (workdir / "rules" / "reviews.evrule").write_text(body, "utf-8")
    result = CliRunner().invoke(
        cli, ["run", "rules", "-i", "examples/sessions/web-shop.jsonl", "--summary", "none"]
    )
    quoted_event = next(b for _, lang, b in blocks() if lang == "json" and '"type":"track"' in b)
    real = result.stdout.strip()
    for fragment in re.split(r'"\.\.\."|\{"\.\.\.":"\.\.\."\}|\["\.\.\."\]', quoted_event.strip()):
        assert fragment in real, fragment
    explain = CliRunner().invoke(
        cli, ["explain", "rules", "-i", "examples/sessions/web-shop.jsonl", "--rule",
              "shop.reviews_opened"],
    )  # fmt: skip
    quoted = next(b for _, lang, b in blocks() if lang == "text" and b.startswith("#7"))
    for chunk in quoted.split("...\n"):
        assert chunk.strip() in explain.stdout


def test_quoted_diagnostic_is_real() -> None:
    rule = next(body for _, lang, body in blocks() if lang == "evrule")
    typo = rule.replace("target.attributes.href", "target.atributes.href")
    result = check_sources({"rules/reviews.evrule": typo})
    quoted = next(body for note, _, body in blocks() if note == "output: check typo")
    assert result.render().strip() == quoted.strip() or quoted.strip() in result.render()
