"""The front door: compile rules, load a matcher.

    >>> import evrule
    >>> plan = evrule.compile(["examples/"])                     # doctest: +SKIP
    >>> matcher = evrule.load(plan, backend="python")             # doctest: +SKIP
    >>> events = matcher.feed(signal) + matcher.flush()           # doctest: +SKIP

`load` accepts a plan, `.evrule` files or folders, a compiled plan (`*.json`) or a generated
module (`*.py`); both backends return a matcher with the same methods and the same events.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import json
import linecache
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from evrule.compiler.backends.python import generate
from evrule.compiler.checker import CheckResult, check_paths, check_sources
from evrule.compiler.diagnostics import CompileError
from evrule.compiler.ir import Plan
from evrule.compiler.lower import lower

Backend = Literal["tables", "python"]
RuleSource = str | Path | Sequence[str | Path] | Mapping[str, str]


def check(rules: RuleSource) -> CheckResult:
    """Parse and check rule files (paths or folders) or in-memory sources ({name: text})."""
    if isinstance(rules, Mapping):
        return check_sources(rules)
    paths = [rules] if isinstance(rules, str | Path) else list(rules)
    return check_paths(paths)


def compile(rules: RuleSource, *, strict: bool = False) -> Plan:
    """Check and lower rules into one plan; raise `CompileError` with every diagnostic when
    there are errors (or warnings, with `strict`)."""
    result = check(rules)
    bad = [d for d in result.diagnostics if d.is_error or strict]
    if bad:
        raise CompileError(bad, result.sources)
    return lower(result.modules)


_MODULES: dict[tuple[str, str], types.ModuleType] = {}


def python_module(plan: Plan, name: str = "evrule_rules") -> types.ModuleType:
    """Generate the python backend's module for `plan` and import it from memory.

    Modules are cached by plan digest: matchers keep all their state to themselves, so many
    matchers can share one module (generating and importing costs tens of milliseconds).
    """
    key = (plan_digest(plan), name)
    cached = _MODULES.get(key)
    if cached is not None:
        return cached
    if len(_MODULES) > 64:
        _MODULES.clear()
    source = generate(plan, name)
    filename = f"<evrule:{name}:{plan_digest(plan)}>"
    # Registering the source lets tracebacks show generated lines like a file on disk.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(builtins.compile(source, filename, "exec"), module.__dict__)
    _MODULES[key] = module
    return module


def plan_digest(plan: Plan) -> str:
    """A short hash of a plan's text: equal plans, equal digests."""
    return hashlib.sha256(plan.dumps().encode("utf-8")).hexdigest()[:12]


def import_module_file(path: str | Path) -> types.ModuleType:
    """Import a generated module from a file, without putting its folder on sys.path."""
    path = Path(path)
    name = f"evrule_compiled_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load(
    source: Plan | RuleSource,
    *,
    backend: Backend = "tables",
    strict: bool = False,
    **options: Any,
) -> Any:
    """A new matcher for `source`; `options` go to the matcher (key, max_partials,
    max_span_ms, lateness_ms, tracer)."""
    from evrule import __version__
    from evrule.runtime.core import Matcher
    from evrule.runtime.tables import load_plan

    options.setdefault("version", __version__)
    if isinstance(source, str | Path) and Path(source).suffix == ".py":
        return import_module_file(source).create_matcher(**options)
    if isinstance(source, Plan):
        plan = source
    elif isinstance(source, str | Path) and Path(source).suffix == ".json":
        plan = Plan.from_json(json.loads(Path(source).read_text("utf-8")))
    else:
        plan = compile(source, strict=strict)
    if backend == "python":
        return python_module(plan).create_matcher(**options)
    return Matcher(load_plan(plan), **options)
