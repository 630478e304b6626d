"""The `evrule` command line: check, fmt, compile and run, with their exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evrule.cli import cli
from tests.helpers import click, request, response, signal

RULES = """\
track "Add to Cart"
  id "cart.add"
  when click = interaction.click(target.innerText == "Add to Cart")
  then req = network.request(url glob "*/api/cart*" and method == "POST") within 2s
  then resp = network.response(requestId == req.requestId and ok) within 10s
  map properties.product_id = resp.body.product.id
      properties.price = number(resp.body.product.price)

track "Add to Cart Failed"
  id "cart.failed"
  when click = interaction.click(target.innerText == "Add to Cart")
  then req = network.request(url glob "*/api/cart*") within 2s
  unless network.response(requestId == req.requestId and ok) within 5s
"""


def invoke(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "cart.evrule"
    path.write_text(RULES, "utf-8")
    return path


def good_signals() -> list[dict]:
    return [
        click("a1", 0, 1, "Add to Cart"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response(
            "a1", 2, 3, "https://x/api/cart", "r1", body={"product": {"id": "p", "price": "abc"}}
        ),
        click("a2", 3, 1, "Add to Cart"),
        request("a2", 4, 2, "https://x/api/cart", "r2"),
        signal("navigation", "a3", 30, 1, path="/"),
    ]


# ---- check ------------------------------------------------------------------------------


def test_check_clean_exits_0(rules: Path) -> None:
    code, out, _ = invoke("check", str(rules.parent))
    assert code == 0
    assert "0 error(s), 0 warning(s) in 1 file" in out


def test_check_errors_exit_1_with_rendered_caret(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_text('track "X"\n  when c = interaction.clik(ok)\n', "utf-8")
    code, out, _ = invoke("check", str(bad))
    assert code == 1
    assert f"{bad}:2:12: E201" in out
    assert "^^^" in out


def test_check_json_and_github_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_text('track "X"\n  when c = interaction.clik(ok)\n', "utf-8")
    code, out, _ = invoke("check", "--format", "json", str(bad))
    data = json.loads(out)
    assert code == 1 and data["errors"] >= 1
    assert data["diagnostics"][0]["code"] == "E201" and data["diagnostics"][0]["line"] == 2
    code, out, _ = invoke("check", "--format", "github", str(bad))
    assert out.startswith(f"::error file={bad},line=2,col=12,")


def test_check_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    path = tmp_path / "warn.evrule"
    path.write_text('track "X"\n  when c = interaction.click(target.innerTxt == "a")\n', "utf-8")
    assert invoke("check", str(path))[0] == 0
    code, out, _ = invoke("check", "--strict", str(path))
    assert code == 1 and "W201" in out and "innerText" in out


def test_check_missing_path_is_a_usage_error() -> None:
    code, _, err = invoke("check", "/no/such/dir")
    assert code == 2 and "no such file or directory" in err


# ---- fmt --------------------------------------------------------------------------------


def test_fmt_check_diff_and_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "messy.evrule"
    messy = 'track   "X"   # keep me\n    when c=interaction.click( ok )\n'
    path.write_text(messy, "utf-8")
    code, _, err = invoke("fmt", "--check", str(path))
    assert code == 1 and "would reformat" in err
    assert path.read_text("utf-8") == messy
    code, out, _ = invoke("fmt", "--diff", str(path))
    assert code == 1 and out.startswith("---") and "+  when c = interaction.click(ok)" in out
    code, _, _ = invoke("fmt", str(path))
    assert code == 0
    formatted = path.read_text("utf-8")
    assert "# keep me" in formatted
    assert invoke("fmt", "--check", str(path))[0] == 0


def test_fmt_stdin_to_stdout() -> None:
    code, out, _ = invoke("fmt", "-", input='track "X" when c = interaction.click(ok)')
    assert code == 0 and out == 'track "X"\n  when c = interaction.click(ok)\n'


def test_fmt_refuses_broken_files(tmp_path: Path) -> None:
    path = tmp_path / "broken.evrule"
    path.write_text('track "X"\n  when c = interaction.click(ok\n', "utf-8")
    code, out, _ = invoke("fmt", str(path))
    assert code == 1 and "E102" in out


# ---- compile and run --------------------------------------------------------------------


def test_run_writes_events_dead_letters_and_summary(rules: Path, tmp_path: Path) -> None:
    lines = [json.dumps(s) for s in good_signals()]
    hostile = [
        "{not json",
        "[1, 2, 3]",
        '{"anonymousId": "a9", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
        '{"type": "interaction", "timestamp": "2026-03-01T12:00:00Z", "index": 1, "data": {}}',
        '{"type": "warp", "anonymousId": "a9", "timestamp": "2026-03-01T12:00:00Z", "index": 1}',
        '{"type": "network", "anonymousId": "a9", "timestamp": "2026-03-01T12:00:00Z", "index": 1,'
        ' "data": {"action": "response", "url": "u", "status": "oops"}}',
        '{"type": "userDefined", "anonymousId": "a9", "timestamp": "2026-03-01T12:00:00Z",'
        ' "index": 1, "data": {"blob": "' + "x" * 300_000 + '"}}',
        '{"type": "userDefined", "anonymousId": "a9", "timestamp": "2026-03-01T12:00:00Z",'
        ' "index": 1, "data": ' + "[" * 50_000 + "]" * 50_000 + "}",
    ]
    mixed = []
    for i, line in enumerate(lines):
        mixed.append(line)
        if i < len(hostile):
            mixed.append(hostile[i])
    mixed += hostile[len(lines) :]
    (tmp_path / "mixed.jsonl").write_text("\n".join(mixed) + "\n", "utf-8")
    (tmp_path / "good.jsonl").write_text("\n".join(lines) + "\n", "utf-8")

    code, _, err = invoke(
        "run", str(rules), "-i", str(tmp_path / "mixed.jsonl"), "-o", str(tmp_path / "out.jsonl"),
        "--dead-letter", str(tmp_path / "dead.jsonl"), "--max-line-bytes", "100000",
        "--summary", "json",
    )  # fmt: skip
    assert code == 0, err
    code, _, _ = invoke(
        "run", str(rules), "-i", str(tmp_path / "good.jsonl"), "-o", str(tmp_path / "clean.jsonl")
    )
    assert code == 0
    events = (tmp_path / "out.jsonl").read_text("utf-8")
    assert events == (tmp_path / "clean.jsonl").read_text("utf-8")
    assert [json.loads(e)["event"] for e in events.splitlines()] == [
        "Add to Cart",
        "Add to Cart Failed",
    ]
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text("utf-8").splitlines()]
    assert len(dead) == len(hostile)
    bad_line_numbers = [i + 1 for i, line in enumerate(mixed) if line in hostile]
    assert [d["line"] for d in dead] == bad_line_numbers
    assert all(d["reason"] and d["raw"] for d in dead)
    reasons = " | ".join(d["reason"] for d in dead)
    expected_reasons = (
        "not valid JSON",
        "not a JSON object",
        "missing 'type'",
        "missing 'anonymousId'",
        "unknown signal type 'warp'",
        "'data.status'",
        "line too long",
    )
    for expected in expected_reasons:
        assert expected in reasons
    summary = json.loads(err[err.index("{") :])
    assert summary["rejected"] == len(hostile)
    assert summary["signals"] == len(lines)
    assert summary["eventsByRule"] == {"cart.add": 1, "cart.failed": 1}
    assert summary["warnings"] == 1  # number("abc")
    assert summary["warningSamples"][0]["line"] == 7


def test_run_strict_stops_at_the_first_problem(rules: Path, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps(good_signals()[0]) + "\n{oops\n", "utf-8")
    code, _, err = invoke("run", str(rules), "-i", str(tmp_path / "in.jsonl"), "--strict")
    assert code == 1 and "line 2" in err and "not valid JSON" in err


@pytest.mark.parametrize("target", ["tables", "python"])
def test_compile_then_run_compiled(rules: Path, tmp_path: Path, target: str) -> None:
    out_dir = tmp_path / "build"
    code, _, err = invoke("compile", str(rules), "-o", str(out_dir), "--target", target)
    assert code == 0, err
    compiled = out_dir / ("evrule_rules.json" if target == "tables" else "evrule_rules.py")
    assert compiled.is_file()
    stream = "\n".join(json.dumps(s) for s in good_signals()) + "\n"
    code, from_compiled, _ = invoke("run", str(compiled), "--summary", "none", input=stream)
    assert code == 0
    code, from_rules, _ = invoke("run", str(rules), "--summary", "none", input=stream)
    assert from_compiled == from_rules and from_rules.count("\n") == 2


def test_run_sort_and_state_files(rules: Path, tmp_path: Path) -> None:
    signals = good_signals()
    first, second = signals[:2], signals[2:]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(s) for s in first) + "\n", "utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(s) for s in second) + "\n", "utf-8")
    state = tmp_path / "state.json"
    code, out1, _ = invoke(
        "run", str(rules), "-i", str(tmp_path / "a.jsonl"), "--state-out", str(state)
    )
    assert code == 0 and out1 == ""
    code, out2, _ = invoke(
        "run", str(rules), "-i", str(tmp_path / "b.jsonl"), "--state-in", str(state)
    )
    assert code == 0
    whole = "\n".join(json.dumps(s) for s in reversed(signals)) + "\n"
    code, sorted_out, _ = invoke("run", str(rules), "--sort", "--summary", "none", input=whole)
    assert out2 == sorted_out and out2.count("\n") == 2


def test_run_compile_errors_are_rendered_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_text('track "X"\n  when c = network.response(status contains 3)\n', "utf-8")
    code, out, _ = invoke("run", str(bad), input="")
    assert code == 1 and "E301" in out


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_bytes(b'track "\xff\n  when')
    exe = Path(sys.executable).parent / "evrule"
    for args in (["check", str(bad)], ["fmt", str(bad)], ["run", str(bad)], ["nope"]):
        result = subprocess.run(
            [str(exe), *args], capture_output=True, text=True, input="", check=False
        )
        assert "Traceback" not in result.stdout + result.stderr, args
        assert result.returncode in (1, 2), (args, result.returncode)


# ---- list -------------------------------------------------------------------------------


def test_list_shows_every_rule_and_its_content_hash(rules: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more.evrule"
    extra.write_text(
        'page "Home"\n  owner "web"\n  tags ["nav"]\n  enabled false\n'
        '  when n = navigation(path == "/")\n',
        "utf-8",
    )
    code, out, _ = invoke("list", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        f'cart.add  track "Add to Cart"  {rules}:1',
        f'cart.failed  track "Add to Cart Failed"  {rules}:9',
        f'more.page.home  page "Home"  {extra}:1  owner web  [nav]  (disabled)',
    ]
    code, out, _ = invoke("list", "--format", "json", str(tmp_path))
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["cart.add", "cart.failed", "more.page.home"]
    assert rows[2]["enabled"] is False and rows[2]["hash"] is None
    before = rows[0]["hash"]
    # Moving a rule keeps its hash; changing what it does changes it.
    rules.write_text("\n\n" + RULES, "utf-8")
    assert json.loads(invoke("list", "--format", "json", str(rules))[1])[0]["hash"] == before
    rules.write_text(RULES.replace("within 2s", "within 3s"), "utf-8")
    assert json.loads(invoke("list", "--format", "json", str(rules))[1])[0]["hash"] != before


def test_list_refuses_rules_with_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evrule"
    bad.write_text('track "X"\n  when c = interaction.clik\n', "utf-8")
    code, out, _ = invoke("list", str(bad))
    assert code == 1 and "E201" in out


def test_run_reports_events_over_segments_message_limit(tmp_path: Path) -> None:
    rules = tmp_path / "blob.evrule"
    rules.write_text(
        'track "Blob"\n  id "blob"\n  when c = interaction.click\n'
        "  map properties.text = c.target.innerText\n",
        "utf-8",
    )
    small, big = click("a1", 0, 1, "x"), click("a1", 1, 2, "é" * 17_000)  # 34 KB in UTF-8
    stream = json.dumps(small) + "\n" + json.dumps(big) + "\n"
    code, out, err = invoke("run", str(rules), input=stream)
    assert code == 0 and out.count("\n") == 2  # still written: the limit is the API's
    assert "events over Segment's 32 KB message limit" in err and "blob: 1" in err
    code, _, err = invoke("run", str(rules), "--summary", "json", input=stream)
    assert json.loads(err[err.index("{") :])["oversizedByRule"] == {"blob": 1}


def test_run_shows_a_progress_bar_only_on_a_terminal(rules: Path, tmp_path: Path) -> None:
    import os
    import pty

    signals = tmp_path / "in.jsonl"
    signals.write_text("\n".join(json.dumps(s) for s in good_signals()) + "\n", "utf-8")
    exe = Path(sys.executable).parent / "evrule"
    args = [str(exe), "run", str(rules), "-i", str(signals), "-o", str(tmp_path / "out.jsonl")]
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(args, stderr=follower, stdout=subprocess.DEVNULL, check=False)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once everything was read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0
    assert b"signals" in seen and b"100%" in seen
    piped = subprocess.run(args, capture_output=True, text=True, check=False)
    assert "100%" not in piped.stderr and "signals read: 6" in piped.stderr
