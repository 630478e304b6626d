"""The evrule benchmarks: `make bench` (full, < 10 min) and `make bench-quick` (< 1 min).

    python bench/run.py [--quick] [--profile]

Writes bench/results.md and bench/results.json. Every figure is the median of several runs;
times are CPU seconds of this (single-threaded) process, which other work on a shared machine
disturbs far less than wall-clock time, and each ratio compares runs interleaved in one session.

1. End-to-end `evrule run` throughput, the CLI's own code path (`io.read_lines`, `runner.run`,
   each event written with `core.dumps` to /dev/null), for both backends and 1 to 1,000 rules,
   against decoding the same file with orjson and nothing else.
2. The same rules as EQL sequences on Elastic's Python engine, and as a Segment-style look-back
   matcher (bench/lookback.py), on the same decoded signals.
3. Cost per signal at 1,000 rules over 10 rules.
4. Peak memory of `evrule run`; state bytes per key with 100,000 active keys, and per idle key.
5. Compile time for 1,000 rules.

Before any timing, the agreement check runs evrule (both backends), EQL and the look-back
matcher on `generate.pairs_workload`, where their semantics coincide, and stops the benchmark
if they report different matches.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io as _io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import lookback  # noqa: E402

import evrule  # noqa: E402
from evrule.api import python_module  # noqa: E402
from evrule.compiler.backends.python import generate as generate_module  # noqa: E402
from evrule.compiler.ir import Plan  # noqa: E402
from evrule.runtime import core  # noqa: E402
from evrule.runtime.io import read_lines  # noqa: E402
from evrule.runtime.runner import run as run_stream  # noqa: E402
from evrule.runtime.tables import load_plan  # noqa: E402

try:
    import orjson
except ImportError:  # pragma: no cover - `make bench` installs it
    orjson = None  # type: ignore[assignment]

try:
    import eql
    from eql.ast import EqlAnalytic

    EQL_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - `make bench` installs it
    eql = None  # type: ignore[assignment]
    EQL_ERROR = f"eql cannot be imported ({exc}); `pip install -e '.[bench]'`"

clock = time.process_time
BACKENDS = ("tables", "python")
RULE_COUNTS = (1, 10, 100, 1000)


@dataclass(frozen=True)
class Mode:
    """How much work each figure gets."""

    name: str
    size: int  # signals in the main stream
    size_1000: int  # signals for the 1,000-rule runs (slower per signal)
    eql_size: int  # decoded signals for the engine comparison (EQL is slow)
    repeats: int
    memory_keys: int
    compile_repeats: int
    pairs_users: int


MODES = {
    "full": Mode("full", 200_000, 50_000, 10_000, 5, 100_000, 3, 300),
    # Quick: the same figures, smaller; memory per key is measured on 20,000 keys.
    "quick": Mode("quick", 15_000, 4_000, 2_000, 3, 20_000, 1, 100),
    # For tests/test_bench.py: seconds, and no timing is meaningful.
    "tiny": Mode("tiny", 1_500, 500, 300, 1, 2_000, 1, 20),
}

Signal = dict[str, Any]


# ---- helpers ----------------------------------------------------------------------------


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median CPU time of `repeats` calls and the last result."""
    times: list[float] = []
    result = None
    for _ in range(repeats):
        gc.collect()
        t0 = clock()
        result = fn()
        times.append(clock() - t0)
    return statistics.median(times), result


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median CPU time of each function, running them round-robin so that a busy spell of the
    machine hits all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("evrule", "orjson", "eql", "lark", "jinja2"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "clock": "process CPU time (time.process_time)",
    }


class Compiled:
    """A rule set compiled once, giving fresh matchers for each run."""

    def __init__(self, path: Path):
        self.path = path
        self.plan: Plan = evrule.compile([path])
        self.program = load_plan(self.plan)
        self.module = python_module(self.plan)

    def matcher(self, backend: str) -> Any:
        if backend == "python":
            return self.module.create_matcher(version=evrule.__version__)
        return core.Matcher(self.program, version=evrule.__version__)


def e2e(path: Path, matcher: Any) -> int:
    """`evrule run RULES -i path -o /dev/null`, minus the command line: returns events."""
    with open(path, "rb") as f, open(os.devnull, "w", encoding="utf-8") as out:

        def emit(event: dict[str, Any]) -> None:
            out.write(core.dumps(event))
            out.write("\n")

        summary = run_stream(matcher, read_lines(f, source=str(path)), emit, lambda r: None)
    return summary.events


def decode_only(path: Path) -> int:
    loads = orjson.loads if orjson is not None else json.loads
    n = 0
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def decoded(path: Path, limit: int | None = None) -> list[Signal]:
    out: list[Signal] = []
    with open(path, "rb") as f:
        for item in read_lines(f):
            if hasattr(item, "signal"):
                out.append(item.signal)
                if limit is not None and len(out) >= limit:
                    break
    return out


# ---- EQL --------------------------------------------------------------------------------


class EqlRunner:
    """Elastic's EQL Python engine with one analytic per rule."""

    def __init__(self, gens: list[generate.RuleGen]):
        assert eql is not None
        self.queries = [(g.rule_id, eql.parse_query(g.eql)) for g in gens]

    def run(self, signals: list[Signal]) -> list[tuple[str, str, tuple[int, ...]]]:
        assert eql is not None
        engine = eql.PythonEngine({"time_unit": 1000})  # event times in milliseconds
        out: list[tuple[str, str, tuple[int, ...]]] = []

        def hook(result: Any) -> None:
            events = result.events
            out.append(
                (
                    result.analytic_id,
                    events[-1].data["anonymousId"],
                    tuple(e.data["index"] for e in events),
                )
            )

        engine.add_output_hook(hook)
        for rid, q in self.queries:
            engine.add_analytic(EqlAnalytic(query=q, metadata={"id": rid}))
        Event = eql.Event
        parse_ts = core.parse_ts
        engine.stream_events(
            (Event(s["type"], parse_ts(s["timestamp"]), s) for s in signals), finalize=True
        )
        return out


def evrule_matches(events: list[dict[str, Any]]) -> list[tuple[str, str, tuple[int, ...]]]:
    out = []
    for e in events:
        ids = e["context"]["evrule"]["signals"]
        out.append(
            (
                e["context"]["evrule"]["rule"],
                e["anonymousId"],
                tuple(int(s.split("/")[1]) for s in ids),
            )
        )
    return out


def agreement(mode: Mode, work: Path) -> dict[str, Any]:
    """evrule, EQL and the look-back matcher on a workload where their semantics coincide."""
    gens, signals = generate.pairs_workload(users=mode.pairs_users, pairs=10)
    rules_path = work / "pairs.evrule"
    rules_path.write_text(generate.rules_text(gens), "utf-8")
    compiled = Compiled(rules_path)
    found: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {}
    for backend in BACKENDS:
        m = compiled.matcher(backend)
        found[f"evrule-{backend}"] = sorted(evrule_matches(m.feed_many(signals) + m.flush()))
    lb = lookback.LookBack(compiled.program)
    lb.feed_many(signals)
    found["lookback"] = sorted(lb.matches)
    if eql is not None:
        found["eql"] = sorted(EqlRunner(gens).run(signals))
    reference = found["evrule-python"]
    differ = {k: _diff(reference, v) for k, v in found.items() if v != reference}
    return {
        "workload": f"{len(gens)} two-step rules, {len(signals)} signals of "
        f"{mode.pairs_users} users",
        "matches": {k: len(v) for k, v in found.items()},
        "eql": eql is not None,
        "eqlSkipped": EQL_ERROR,
        "passed": not differ and len(reference) > 0,
        "differences": differ,
    }


def _diff(a: list[Any], b: list[Any]) -> dict[str, Any]:
    sa, sb = set(a), set(b)
    return {
        "missing": [list(x) for x in sorted(sa - sb)[:5]],
        "extra": [list(x) for x in sorted(sb - sa)[:5]],
    }


# ---- figures ----------------------------------------------------------------------------


def throughput(
    mode: Mode, stream: Path, stream_1000: Path, rules: dict[int, Compiled]
) -> dict[str, Any]:
    out: dict[str, Any] = {"signals": mode.size, "runs": {}}
    for n in RULE_COUNTS:
        path = stream_1000 if n == 1000 else stream
        size = mode.size_1000 if n == 1000 else mode.size
        fns: dict[str, Callable[[], Any]] = {"decode": lambda p=path: decode_only(p)}
        events: dict[str, int] = {}
        for backend in BACKENDS:

            def go(
                b: str = backend, p: Path = path, c: Compiled = rules[n], ev: dict = events
            ) -> None:
                ev[b] = e2e(p, c.matcher(b))

            fns[backend] = go
        times = interleaved(fns, mode.repeats)
        out["runs"][str(n)] = {
            "signals": size,
            "decodePerSec": size / times["decode"],
            **{
                b: {
                    "perSec": size / times[b],
                    "usPerSignal": times[b] / size * 1e6,
                    "ofDecode": times["decode"] / times[b],
                    "events": events[b],
                }
                for b in BACKENDS
            },
        }
    r10, r1000 = out["runs"]["10"], out["runs"]["1000"]
    out["costRatio1000over10"] = {
        b: r1000[b]["usPerSignal"] / r10[b]["usPerSignal"] for b in BACKENDS
    }
    return out


def stages(mode: Mode, stream: Path, compiled: Compiled) -> dict[str, float]:
    """Where the time of an end-to-end run at 100 rules goes, in microseconds per signal."""
    signals = decoded(stream)
    n = len(signals)
    ev: list[dict[str, Any]] = []

    def read() -> None:
        with open(stream, "rb") as f:
            for _ in read_lines(f):
                pass

    def feed() -> None:
        m = compiled.matcher("python")
        ev[:] = m.feed_many(signals) + m.flush()

    def write() -> None:
        with open(os.devnull, "w", encoding="utf-8") as out:
            for e in ev:
                out.write(core.dumps(e))
                out.write("\n")

    feed()
    times = interleaved(
        {"decode": lambda: decode_only(stream), "read": read, "feed": feed, "write": write},
        mode.repeats,
    )
    return {
        "decode": times["decode"] / n * 1e6,
        "validate": max(0.0, times["read"] - times["decode"]) / n * 1e6,
        "match": times["feed"] / n * 1e6,
        "writeEvents": times["write"] / n * 1e6,
        "eventsPerSignal": len(ev) / n,
    }


def engines(
    mode: Mode, stream: Path, gens: dict[int, list[generate.RuleGen]], rules: dict[int, Compiled]
) -> dict[str, Any]:
    """evrule vs EQL vs the look-back matcher on the same decoded signals (matching only)."""
    signals = decoded(stream, mode.eql_size)
    out: dict[str, Any] = {"signals": len(signals), "rules": {}}
    for n in (10, 100):
        fns: dict[str, Callable[[], Any]] = {}
        for backend in BACKENDS:

            def ev(b: str = backend, c: Compiled = rules[n]) -> None:
                m = c.matcher(b)
                m.feed_many(signals)
                m.flush()

            fns[f"evrule-{backend}"] = ev
        fns["lookback"] = lambda c=rules[n]: lookback.LookBack(c.program).feed_many(signals)
        if eql is not None:
            runner = EqlRunner(gens[n])
            fns["eql"] = lambda r=runner: r.run(signals)
        times = interleaved(fns, max(1, mode.repeats - 2))
        per_sec = {k: len(signals) / t for k, t in times.items()}
        row: dict[str, Any] = {"perSec": per_sec}
        for other in ("eql", "lookback"):
            if other in per_sec:
                row[f"over_{other}"] = {
                    b: per_sec[f"evrule-{b}"] / per_sec[other] for b in BACKENDS
                }
        out["rules"][str(n)] = row
    out["eqlSkipped"] = EQL_ERROR
    return out


def peak_rss(stream: Path, rules_path: Path) -> dict[str, Any]:
    """Peak resident memory of the real `evrule run` command (a child process)."""
    exe = Path(sys.executable).with_name("evrule")
    cmd = [
        str(exe),
        "run",
        str(rules_path),
        "-i",
        str(stream),
        "-o",
        os.devnull,
        "--summary",
        "none",
    ]
    if not exe.exists():
        cmd = [sys.executable, "-m", "evrule.cli", *cmd[1:]]
    out: dict[str, Any] = {}
    for backend in BACKENDS:
        code = (
            "import resource,subprocess,sys;"
            f"subprocess.run({[*cmd, '--backend', backend]!r}, check=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        out[backend] = int(res.stdout.strip()) * 1024
    base = (
        "import resource,subprocess,sys;"
        f"subprocess.run({[str(exe) if exe.exists() else sys.executable, '--version']!r},"
        "check=True,capture_output=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    res = subprocess.run([sys.executable, "-c", base], capture_output=True, text=True, check=True)
    out["baselineProcess"] = int(res.stdout.strip()) * 1024
    return out


def key_state(mode: Mode, compiled: Compiled) -> dict[str, Any]:
    """tracemalloc: bytes the matcher holds per key with one pending partial match, and per key
    whose matches have all completed (idle)."""
    n = mode.memory_keys
    rules = compiled.program.rules
    # A click that starts a multi-step rule, and the response that completes it.
    starter = next(
        r for r in rules if len(r.positives) == 2 and r.positives[0].kind == "interaction.click"
    )
    text = starter.positives[0].index[1] if starter.positives[0].index else None
    button = next(b for b in generate.BUTTONS if b.text == text)
    rng = random.Random(5)
    out: dict[str, Any] = {"keys": n, "rule": starter.id}
    for what in ("active", "idle"):
        m = compiled.matcher("python")
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            s = generate._Session(rng, f"user-{i:07d}", generate.EPOCH_MS + i * 0.01, 1)
            m.feed(s.click(s.t, button)[1])
            if what == "idle":
                assert button.endpoint is not None
                resp = s.call(s.t + 10, button.endpoint, button.method, button.status)[1][1]
                resp["data"]["status"], resp["data"]["ok"] = button.status, True
                m.feed(resp)
        gc.collect()
        now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        partials = sum(len(p) for per in m.keys.values() for p in per.values())
        out[what] = {
            "bytesPerKey": (now - before) / n,
            "peakBytes": peak - before,
            "keysHeld": len(m.keys),
            "partials": partials,
            "events": sum(m.stats["events"].values()),
        }
    return out


def compile_times(mode: Mode, path: Path) -> dict[str, float]:
    def check_lower() -> Plan:
        return evrule.compile([path])

    t_check, plan = median_time(check_lower, mode.compile_repeats)
    t_tables, _ = median_time(lambda: load_plan(plan), mode.compile_repeats)
    t_python, _ = median_time(lambda: _import_fresh(plan), mode.compile_repeats)
    return {
        "rules": len(plan.rules),
        "checkLower": t_check,
        "tables": t_check + t_tables,
        "python": t_check + t_python,
        "generateImport": t_python,
    }


def _import_fresh(plan: Plan) -> types.ModuleType:
    """What `api.python_module` does on a cache miss: generate, compile and execute."""
    source = generate_module(plan, "evrule_rules")
    module = types.ModuleType("evrule_rules")
    exec(compile(source, "<evrule bench>", "exec"), module.__dict__)
    return module


def profile(stream: Path, compiled: Compiled, backend: str, limit: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    e2e(stream, compiled.matcher(backend))
    prof.disable()
    buf = _io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(limit)
    return buf.getvalue()


# ---- driver -----------------------------------------------------------------------------


def prepare(
    mode: Mode, data: Path
) -> tuple[Path, Path, dict[int, Path], dict[int, list[generate.RuleGen]]]:
    data.mkdir(parents=True, exist_ok=True)
    stream = data / f"signals-{mode.size}-s1.jsonl"
    if not stream.exists():
        generate.write_signals(stream, mode.size, seed=1)
    stream_1000 = data / f"signals-{mode.size_1000}-s1.jsonl"
    if not stream_1000.exists():
        generate.write_signals(stream_1000, mode.size_1000, seed=1)
    paths, gens = {}, {}
    for n in RULE_COUNTS:
        gens[n] = generate.rules(n, seed=1)
        paths[n] = data / f"rules-{n}.evrule"
        text = generate.rules_text(gens[n])
        if not paths[n].exists() or paths[n].read_text("utf-8") != text:
            paths[n].write_text(text, "utf-8")
    return stream, stream_1000, paths, gens


def run(
    mode_name: str = "full",
    out_dir: Path = HERE,
    data_dir: Path | None = None,
    with_profile: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every figure; write results.json and results.md to `out_dir`; return the results."""
    mode = MODES[mode_name]
    data = data_dir or HERE / ".data"
    started = time.perf_counter()
    data.mkdir(parents=True, exist_ok=True)
    log(f"evrule bench ({mode.name}): agreement check")
    agree = agreement(mode, data)
    if not agree["passed"]:
        raise SystemExit(f"AGREEMENT CHECK FAILED: {json.dumps(agree, indent=1)}")
    stream, stream_1000, paths, gens = prepare(mode, data)
    log("compiling rule sets")
    compiled = {n: Compiled(paths[n]) for n in RULE_COUNTS}
    log("throughput")
    tput = throughput(mode, stream, stream_1000, compiled)
    log("stages")
    stage = stages(mode, stream, compiled[100])
    log("engines: evrule, EQL, look-back")
    eng = engines(mode, stream, gens, compiled)
    log("memory")
    mem = {"peakRss": peak_rss(stream, paths[100]), "state": key_state(mode, compiled[100])}
    log("compile time")
    comp = compile_times(mode, paths[1000])
    results = {
        "mode": mode.name,
        "machine": machine(),
        "agreement": agree,
        "throughput": tput,
        "stages100": stage,
        "engines": eng,
        "memory": mem,
        "compile1000": comp,
        "elapsedSeconds": 0.0,
    }
    results["targets"] = targets(results)
    results["elapsedSeconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    text = render(results)
    if with_profile:
        text += "\n## Profile (python backend, 100 rules, cProfile, top functions by own time)\n\n"
        text += "```\n" + profile(stream, compiled[100], "python") + "```\n"
    (out_dir / "results.md").write_text(text, "utf-8")
    log(f"wrote {out_dir / 'results.md'} in {results['elapsedSeconds']} s")
    return results


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    t100 = r["throughput"]["runs"]["100"]
    best = max(BACKENDS, key=lambda b: t100[b]["ofDecode"])
    eng100 = r["engines"]["rules"]["100"]
    cost = r["throughput"]["costRatio1000over10"]
    idle = r["memory"]["state"]["idle"]["bytesPerKey"]
    out = [
        {
            "target": "end-to-end at 100 rules >= 50% of decode-only throughput",
            "value": t100[best]["ofDecode"],
            "goal": 0.5,
            "met": t100[best]["ofDecode"] >= 0.5,
            "backend": best,
        },
        {
            "target": "cost per signal at 1,000 rules <= 3x at 10 rules",
            "value": min(cost.values()),
            "goal": 3.0,
            "met": min(cost.values()) <= 3.0,
        },
        {"target": "<= 1 KiB state per idle key", "value": idle, "goal": 1024, "met": idle <= 1024},
    ]
    if "over_eql" in eng100:
        v = max(eng100["over_eql"].values())
        out.insert(1, {"target": ">= 20x EQL (100 rules)", "value": v, "goal": 20, "met": v >= 20})
    return out


def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    t = r["throughput"]
    lines = [
        "# evrule benchmark results",
        "",
        f"Mode `{r['mode']}`, generated by `python bench/run.py"
        + (" --quick" if r["mode"] == "quick" else "")
        + f"` in {r['elapsedSeconds']} s. Figures are medians of repeated runs, timed in CPU",
        "seconds of the benchmark process (single-threaded code; a shared machine disturbs CPU",
        "time far less than wall time). Ratios compare runs interleaved in the same session.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['implementation']} {m['python']}, "
        f"{m['platform']}.  ",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "## Agreement check",
        "",
        f"{r['agreement']['workload']}: "
        + ", ".join(f"{k} {v}" for k, v in r["agreement"]["matches"].items())
        + " matches; "
        + ("**identical**." if r["agreement"]["passed"] else "**DIFFERENT**."),
    ]
    if not r["agreement"]["eql"]:
        lines.append(f"EQL skipped: {r['agreement']['eqlSkipped']}")
    lines += [
        "",
        "## 1. End-to-end `evrule run` throughput",
        "",
        "`io.read_lines` + `runner.run` + events written with `core.dumps` to /dev/null, against",
        "reading the same file and decoding each line with orjson and nothing else.",
        "",
        "| rules | signals | decode only /s | tables /s | of decode | python /s | of decode "
        "| events |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, row in t["runs"].items():
        lines.append(
            f"| {n} | {_f(row['signals'])} | {_f(row['decodePerSec'])} "
            f"| {_f(row['tables']['perSec'])} | {row['tables']['ofDecode']:.1%} "
            f"| {_f(row['python']['perSec'])} | {row['python']['ofDecode']:.1%} "
            f"| {_f(row['python']['events'])} |"
        )
    s = r["stages100"]
    lines += [
        "",
        "Where the time goes at 100 rules (python backend, microseconds per signal): "
        f"decode {s['decode']:.2f}, reading lines and schema validation {s['validate']:.2f}, "
        f"match (including building "
        f"events) {s['match']:.2f}, write events {s['writeEvents']:.2f}; "
        f"{s['eventsPerSignal']:.3f} events per signal.",
        "",
        "## 2. Against EQL and a Segment-style look-back matcher",
        "",
        f"Matching only, on the first {_f(r['engines']['signals'])} decoded signals of the same "
        "stream; each rule is the same sequence in EQL (`sequence by anonymousId with "
        "maxspan=...`, Elastic's `eql` Python engine) and in bench/lookback.py (per rule per "
        "signal, scan a per-key buffer of the last 100 signals backwards).",
        "",
        "| rules | evrule tables /s | evrule python /s | look-back /s | EQL /s | python vs "
        "look-back | python vs EQL |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, row in r["engines"]["rules"].items():
        ps = row["perSec"]
        eqlv = _f(ps["eql"]) if "eql" in ps else "skipped"
        over_eql = f"{row['over_eql']['python']:.0f}x" if "over_eql" in row else "-"
        lines.append(
            f"| {n} | {_f(ps['evrule-tables'])} | {_f(ps['evrule-python'])} "
            f"| {_f(ps['lookback'])} | {eqlv} | {row['over_lookback']['python']:.1f}x "
            f"| {over_eql} |"
        )
    c = t["costRatio1000over10"]
    mem = r["memory"]
    st = mem["state"]
    comp = r["compile1000"]
    lines += [
        "",
        "## 3. Cost per signal, 1,000 rules over 10 rules",
        "",
        f"tables {c['tables']:.2f}x, python {c['python']:.2f}x (events per signal: "
        f"{t['runs']['10']['python']['events'] / t['runs']['10']['signals']:.3f} at 10 rules, "
        f"{t['runs']['1000']['python']['events'] / t['runs']['1000']['signals']:.3f} at 1,000).",
        "",
        "## 4. Memory",
        "",
        f"Peak RSS of `evrule run` at 100 rules over {_f(t['signals'])} signals: tables "
        f"{mem['peakRss']['tables'] / 2**20:.1f} MiB, python "
        f"{mem['peakRss']['python'] / 2**20:.1f} MiB (an `evrule --version` process: "
        f"{mem['peakRss']['baselineProcess'] / 2**20:.1f} MiB).",
        "",
        f"State (tracemalloc, python backend, rule `{st['rule']}`), {_f(st['keys'])} keys:",
        f"- active (one pending partial match each, holding its signal): "
        f"{st['active']['bytesPerKey']:,.0f} bytes per key ({st['active']['keysHeld']:,} keys "
        f"held, {st['active']['partials']:,} partials);",
        f"- idle (the match completed): {st['idle']['bytesPerKey']:,.1f} bytes per key "
        f"({st['idle']['keysHeld']:,} keys held, {st['idle']['events']:,} events).",
        "",
        "## 5. Compile time, 1,000 rules",
        "",
        f"check + lower {comp['checkLower']:.2f} s; tables backend {comp['tables']:.2f} s; "
        f"python backend {comp['python']:.2f} s (generate + import "
        f"{comp['generateImport']:.2f} s).",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for tg in r["targets"]:
        v = tg["value"]
        shown = f"{v:.1%}" if tg["goal"] == 0.5 else f"{v:,.2f}"
        lines.append(f"| {tg['target']} | {shown} | {'yes' if tg['met'] else 'no'} |")
    lines += ["", *limits(r), ""]
    return "\n".join(lines)


def limits(r: dict[str, Any]) -> list[str]:
    """What limits each missed target, from this run's own figures."""
    out: list[str] = []
    s = r["stages100"]
    for tg in r["targets"]:
        if tg["met"]:
            continue
        if tg["goal"] == 0.5:
            total = s["decode"] + s["validate"] + s["match"] + s["writeEvents"]
            out.append(
                f"- **{tg['target']}**: missed by {0.5 / tg['value']:.1f}x. Of "
                f"{total:.1f} us per signal, decoding is {s['decode']:.1f}; the rest is Python "
                f"work per signal: reading lines and schema validation {s['validate']:.1f} us, "
                f"matching "
                f"{s['match']:.1f} us (with building {s['eventsPerSignal']:.2f} events per "
                f"signal), writing events {s['writeEvents']:.1f} us. Reaching 50% would need all "
                "of that within the time orjson takes to decode the line."
            )
        elif tg["goal"] == 3.0:
            runs = r["throughput"]["runs"]
            e10 = runs["10"]["python"]["events"] / runs["10"]["signals"]
            e1000 = runs["1000"]["python"]["events"] / runs["1000"]["signals"]
            out.append(
                f"- **{tg['target']}**: missed ({tg['value']:.2f}x). 1,000 rules emit "
                f"{e1000 / max(e10, 1e-9):.0f}x the events of 10 rules ({e1000:.3f} vs {e10:.3f} "
                "per signal) and every event is built and serialised; steps without an equality "
                "(globs on URLs, case-insensitive text) are tested on every signal of their kind."
            )
        elif tg["goal"] == 20:
            out.append(f"- **{tg['target']}**: missed ({tg['value']:.1f}x).")
        else:
            out.append(f"- **{tg['target']}**: missed ({tg['value']:.0f} bytes).")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="evrule benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--profile", action="store_true", help="append a cProfile to results.md")
    parser.add_argument("--out", default=str(HERE), help="folder for results.md/.json")
    args = parser.parse_args(argv)
    run("quick" if args.quick else "full", Path(args.out), with_profile=args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
