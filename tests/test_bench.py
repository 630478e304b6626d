"""The benchmark harness (bench/), and the invariants its speed-ups rely on.

`make bench` itself takes minutes; here the harness runs in its `tiny` mode in-process, which
checks its plumbing and the agreement between evrule, EQL and the look-back matcher, not speed,
and once exactly as `make bench-quick` runs it (about 30 s), so the quick mode never rots either.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evrule.compiler.signals import validate_signal
from evrule.runtime.core import Tracer, dumps

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import run as bench_run  # noqa: E402


def test_generated_signals_are_valid_and_reproducible() -> None:
    a = list(generate.signals(2_000, seed=7, concurrency=50))
    assert a == list(generate.signals(2_000, seed=7, concurrency=50))
    assert all(validate_signal(s) is None for s in a)
    assert len({s["anonymousId"] for s in a}) > 50  # sessions end and new ones start
    stamps = [s["timestamp"] for s in a]
    assert stamps == sorted(stamps)
    kinds = {(s["type"], s["data"].get("eventType") or s["data"].get("action")) for s in a}
    assert {("network", "request"), ("network", "response"), ("interaction", "click")} <= kinds


def test_generated_rules_compile() -> None:
    import evrule

    gens = generate.rules(200, seed=1)
    plan = evrule.compile({"bench.evrule": generate.rules_text(gens)}, strict=True)
    assert len(plan.rules) == 200
    assert {g.steps for g in gens} == {1, 2, 3}
    assert generate.rules(50, seed=1) == gens[:50]


def test_quick_mode_as_make_bench_quick_runs_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "results.json").read_text("utf-8"))
    assert saved["mode"] == "quick"
    assert saved["agreement"]["passed"] and saved["agreement"]["eql"]
    assert "## Targets" in (tmp_path / "results.md").read_text("utf-8")


def test_harness_tiny(tmp_path: Path) -> None:
    results = bench_run.run("tiny", tmp_path, tmp_path / "data", log=lambda _: None)
    saved = json.loads((tmp_path / "results.json").read_text("utf-8"))
    assert saved["mode"] == "tiny"
    assert (tmp_path / "results.md").read_text("utf-8").startswith("# evrule benchmark results")
    for key in ("cpu", "cores", "python", "packages"):
        assert key in saved["machine"]
    runs = saved["throughput"]["runs"]
    assert set(runs) == {"1", "10", "100", "1000"}
    for row in runs.values():
        for backend in ("tables", "python"):
            assert row[backend]["perSec"] > 0 and row[backend]["ofDecode"] > 0
    assert set(saved["throughput"]["costRatio1000over10"]) == {"tables", "python"}
    assert saved["memory"]["state"]["active"]["partials"] == saved["memory"]["state"]["keys"]
    assert saved["memory"]["state"]["idle"]["keysHeld"] == 0
    assert saved["compile1000"]["rules"] == 1000
    assert {t["target"] for t in saved["targets"]} >= {
        "<= 1 KiB state per idle key",
        "cost per signal at 1,000 rules <= 3x at 10 rules",
    }
    agreement = results["agreement"]
    assert agreement["passed"], agreement["differences"]
    assert agreement["matches"]["lookback"] == agreement["matches"]["evrule-python"] > 0
    if not agreement["eql"]:
        pytest.skip(f"EQL part not checked: {agreement['eqlSkipped']}")
    assert agreement["matches"]["eql"] == agreement["matches"]["evrule-python"]
    assert "eql" in saved["engines"]["rules"]["100"]["perSec"]


def test_agreement_check_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench_run.evrule_matches
    monkeypatch.setattr(bench_run, "evrule_matches", lambda events: real(events)[1:])
    with pytest.raises(SystemExit, match="AGREEMENT CHECK FAILED"):
        bench_run.run("tiny", tmp_path, tmp_path / "data", log=lambda _: None)


# ---- the speed-ups keep their meaning ------------------------------------------------------
#
# The fast path of signal validation is checked against validate_signal in tests/test_io.py.


@pytest.mark.parametrize("backend", ["tables", "python"])
def test_untraced_fast_path_equals_traced_path(backend: str, tmp_path: Path) -> None:
    # With a tracer the engine takes every candidate rule through `_step_rule`; without one it
    # tests each distinct first step once. Both must give the same events, byte for byte.
    path = tmp_path / "rules.evrule"
    path.write_text(generate.rules_text(generate.rules(300, seed=4)), "utf-8")
    compiled = bench_run.Compiled(path)
    signals = list(generate.signals(6_000, seed=4, concurrency=60))
    plain = compiled.matcher(backend)
    traced = compiled.matcher(backend)
    traced.tracer = Tracer()
    a = plain.feed_many(copy.deepcopy(signals)) + plain.flush()
    b = traced.feed_many(copy.deepcopy(signals)) + traced.flush()
    assert len(a) > 100
    assert [dumps(e) for e in a] == [dumps(e) for e in b]
    assert plain.stats == traced.stats
