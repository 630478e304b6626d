"""The matcher engine, the rule functions and Segment Spec event building.

This module imports only the Python standard library and nothing from evrule: the `python`
backend embeds its source verbatim into generated modules, so that a service can run compiled
rules without installing evrule, and both backends share one engine (docs/semantics.md).

A *program* is what a backend hands to `Matcher`: shared atom predicates (`atoms`, each a
function of one signal) and `RuleSpec`s whose steps refer to atoms by index and whose
correlations and map builders are plain functions. The tables backend builds those functions
by interpreting the JSON plan; the python backend generates them as source code.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

LIBRARY_NAME = "evrule"
STATE_VERSION = 1
DEFAULT_MAX_SPAN_MS = 30 * 60 * 1000.0
DEFAULT_MAX_PARTIALS = 32

Signal = dict[str, Any]
Event = dict[str, Any]


class EvalError(Exception):
    """A value that cannot be computed (`number("abc")`): the map entry becomes null."""


# ---- values and functions ---------------------------------------------------------------


def get(obj: Any, path: Sequence[str | int]) -> Any:
    """Follow `path` through dicts and lists; None as soon as a step does not exist."""
    for key in path:
        if type(key) is int:
            if type(obj) is list and -len(obj) <= key < len(obj):
                obj = obj[key]
            else:
                return None
        elif type(obj) is dict:
            obj = obj.get(key)
        else:
            return None
    return obj


def _kind_class(v: Any) -> int:
    # Values of different JSON types never compare equal: 1 == true and "1" == 1 are false.
    t = type(v)
    if t is bool:
        return 1
    if t is int or t is float:
        return 2
    if t is str:
        return 3
    if v is None:
        return 0
    if t is list:
        return 4
    return 5


def eq(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return a == b
    return _kind_class(a) == _kind_class(b) and a == b


def fold(v: Any) -> Any:
    return v.casefold() if type(v) is str else v


def lt(a: Any, b: Any) -> bool | None:
    """Ordering is defined between two numbers or two strings; None otherwise."""
    ka, kb = _kind_class(a), _kind_class(b)
    if ka == kb and ka in (2, 3):
        return a < b
    return None


def op_lt(a: Any, b: Any) -> bool:
    return lt(a, b) is True


def op_le(a: Any, b: Any) -> bool:
    r = lt(b, a)
    return r is False


def op_gt(a: Any, b: Any) -> bool:
    return lt(b, a) is True


def op_ge(a: Any, b: Any) -> bool:
    r = lt(a, b)
    return r is False


def contains(a: Any, b: Any) -> bool:
    if type(a) is str:
        return type(b) is str and b in a
    if type(a) is list:
        return any(eq(x, b) for x in a)
    return False


def contains_ci(a: Any, b: Any) -> bool:
    if type(a) is str:
        return type(b) is str and b.casefold() in a.casefold()
    if type(a) is list:
        fb = fold(b)
        return any(eq(fold(x), fb) for x in a)
    return False


def startswith(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and a.startswith(b)


def startswith_ci(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and a.casefold().startswith(b.casefold())


def endswith(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and a.endswith(b)


def endswith_ci(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and a.casefold().endswith(b.casefold())


def in_(a: Any, b: Any) -> bool:
    return type(b) is list and any(eq(a, x) for x in b)


def in_ci(a: Any, b: Any) -> bool:
    if type(b) is not list:
        return False
    fa = fold(a)
    return any(eq(fa, fold(x)) for x in b)


def truthy(v: Any) -> bool:
    return bool(v) and v is not None


def glob_to_regex(pattern: str) -> str:
    """`*` any run, `?` one character, `[abc]`/`[!abc]` a class; the whole string must match."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[{'^' if neg else ''}{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "(?s:" + "".join(out) + r")\Z"


def compile_regex(pattern: str, flags: str) -> re.Pattern[str]:
    value = 0
    for f in flags:
        value |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}.get(f, 0)
    return re.compile(pattern, value)


_GLOB_CACHE: dict[tuple[str, bool], re.Pattern[str]] = {}


def glob_regex(pattern: str, ci: bool) -> re.Pattern[str]:
    rx = _GLOB_CACHE.get((pattern, ci))
    if rx is None:
        rx = re.compile(glob_to_regex(pattern), re.IGNORECASE if ci else 0)
        if len(_GLOB_CACHE) < 10_000:
            _GLOB_CACHE[(pattern, ci)] = rx
    return rx


def glob(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and glob_regex(b, False).match(a) is not None


def glob_ci(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and glob_regex(b, True).match(a) is not None


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def eq_ci(a: Any, b: Any) -> bool:
    return eq(fold(a), fold(b))


def ne_ci(a: Any, b: Any) -> bool:
    return not eq(fold(a), fold(b))


# The function behind each comparison operator, by name, so that generated code can call the
# same function the interpreter does.
OP_FUNCTIONS: dict[str, str] = {
    "==": "eq",
    "!=": "ne",
    "<": "op_lt",
    "<=": "op_le",
    ">": "op_gt",
    ">=": "op_ge",
    "contains": "contains",
    "startswith": "startswith",
    "endswith": "endswith",
    "glob": "glob",
    "in": "in_",
    "==~": "eq_ci",
    "!=~": "ne_ci",
    "contains~": "contains_ci",
    "startswith~": "startswith_ci",
    "endswith~": "endswith_ci",
    "glob~": "glob_ci",
    "in~": "in_ci",
}
OPS: dict[str, Callable[[Any, Any], bool]] = {op: globals()[fn] for op, fn in OP_FUNCTIONS.items()}


def fullmatch(rx: re.Pattern[str], v: Any) -> bool:
    return type(v) is str and rx.match(v) is not None


def search(rx: re.Pattern[str], v: Any) -> bool:
    return type(v) is str and rx.search(v) is not None


def template(parts: Iterable[Any]) -> str:
    return "".join(to_text(p) for p in parts)


def coalesce(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def to_text(v: Any) -> str:
    """How a value reads inside a template or `string()`: strings raw, the rest as JSON."""
    if type(v) is str:
        return v
    if v is None:
        return ""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def f_number(v: Any) -> int | float | None:
    if v is None:
        return None
    t = type(v)
    if t is int or t is float:
        return v
    if t is str:
        text = v.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            result = float(text)
        except ValueError:
            raise EvalError(f"number({v!r}): not a number") from None
        if math.isnan(result) or math.isinf(result):
            raise EvalError(f"number({v!r}): not a finite number")
        return result
    raise EvalError(f"number() of {type_name(v)}")


def f_string(v: Any) -> str | None:
    return None if v is None else to_text(v)


def f_bool(v: Any) -> bool:
    return truthy(v)


def _str_arg(name: str, v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    raise EvalError(f"{name}() of {type_name(v)}")


def f_lower(v: Any) -> str | None:
    s = _str_arg("lower", v)
    return None if s is None else s.lower()


def f_upper(v: Any) -> str | None:
    s = _str_arg("upper", v)
    return None if s is None else s.upper()


def f_trim(v: Any) -> str | None:
    s = _str_arg("trim", v)
    return None if s is None else s.strip()


def f_split(v: Any, sep: Any) -> list[str] | None:
    s = _str_arg("split", v)
    if s is None:
        return None
    if type(sep) is not str or not sep:
        raise EvalError("split() needs a non-empty separator")
    return s.split(sep)


def f_replace(v: Any, old: Any, new: Any) -> str | None:
    s = _str_arg("replace", v)
    if s is None:
        return None
    if type(old) is not str or type(new) is not str or not old:
        raise EvalError("replace() needs a non-empty string to replace and a string")
    return s.replace(old, new)


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def f_extract(v: Any, pattern: Any, group: Any = 1) -> str | None:
    s = _str_arg("extract", v)
    if s is None:
        return None
    if type(pattern) is not str:
        raise EvalError("extract() needs a pattern string")
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise EvalError(f"extract(): invalid pattern: {exc}") from None
        _REGEX_CACHE[pattern] = rx
    m = rx.search(s)
    if m is None:
        return None
    try:
        return m.group(group)
    except (IndexError, TypeError):
        raise EvalError(f"extract(): no group {group!r}") from None


def f_urldecode(v: Any) -> str | None:
    s = _str_arg("urldecode", v)
    return None if s is None else urllib.parse.unquote_plus(s)


def f_json(v: Any) -> Any:
    s = _str_arg("json", v)
    if s is None:
        return None
    try:
        return json.loads(s)
    except ValueError:
        raise EvalError("json(): not valid JSON") from None


def f_length(v: Any) -> int | None:
    if v is None:
        return None
    if type(v) in (str, list, dict):
        return len(v)
    raise EvalError(f"length() of {type_name(v)}")


def f_join(v: Any, sep: Any) -> str | None:
    if v is None:
        return None
    if type(v) is not list or type(sep) is not str:
        raise EvalError("join() needs an array and a separator string")
    return sep.join(to_text(x) for x in v)


def f_round(v: Any, digits: Any = 0) -> int | float | None:
    if v is None:
        return None
    if type(v) not in (int, float) or type(digits) is not int:
        raise EvalError(f"round() of {type_name(v)}")
    return round(v, digits) if digits else round(v)


def f_concat(*args: Any) -> str:
    return "".join(to_text(a) for a in args if a is not None)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "number": f_number,
    "string": f_string,
    "bool": f_bool,
    "lower": f_lower,
    "upper": f_upper,
    "trim": f_trim,
    "split": f_split,
    "replace": f_replace,
    "extract": f_extract,
    "json": f_json,
    "urldecode": f_urldecode,
    "length": f_length,
    "join": f_join,
    "round": f_round,
    "concat": f_concat,
}


def type_name(v: Any) -> str:
    return ("null", "boolean", "number", "string", "array", "object")[_kind_class(v)]


def failed(exc: Exception, warn: Callable[[str, int], None], line: int) -> None:
    """Record why a map value could not be computed; the value becomes null."""
    if isinstance(exc, EvalError):
        warn(str(exc), line)
    else:  # a value nobody foresaw: report it, never stop the run
        warn(f"cannot evaluate: {type(exc).__name__}: {exc}", line)


def set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set `properties.a.b = value`, creating objects on the way; a bare object merges."""
    node = target
    for key in path[:-1]:
        child = node.get(key)
        if type(child) is not dict:
            child = {}
            node[key] = child
        node = child
    last = path[-1]
    if type(value) is dict and type(node.get(last)) is dict and len(path) == 1:
        node[last].update(value)
    else:
        node[last] = value


# ---- time -------------------------------------------------------------------------------


def parse_ts(text: Any) -> float | None:
    """Milliseconds since the epoch for an ISO-8601 timestamp; naive times are UTC."""
    if type(text) is not str:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp() * 1000.0


# ---- programs ---------------------------------------------------------------------------


def kind_of(signal: Mapping[str, Any]) -> tuple[str, str]:
    """(specific kind, base type): ("interaction.click", "interaction"), ("navigation", ...)."""
    t = signal.get("type")
    data = signal.get("data")
    if t == "interaction" and type(data) is dict:
        sub = data.get("eventType")
        if sub in ("click", "submit", "change"):
            return "interaction." + sub, t
    elif t == "network" and type(data) is dict:
        sub = data.get("action")
        if sub in ("request", "response"):
            return "network." + sub, t
    return str(t), str(t)


class StepSpec:
    """One step of a compiled rule, as the engine sees it."""

    __slots__ = ("alias", "atoms", "corr", "index", "kind", "line", "negated", "within")

    def __init__(
        self,
        kind: str,
        negated: bool,
        atoms: tuple[int, ...],
        corr: Callable[[Signal, list[Signal]], bool] | None,
        within: float | None,
        alias: str | None,
        line: int,
        index: tuple[tuple[str | int, ...], Any] | None = None,
    ):
        self.kind = kind
        self.negated = negated
        self.atoms = atoms
        self.corr = corr
        self.within = within
        self.alias = alias
        self.line = line
        # (path, value): an equality on the signal that lets the engine find this step by a
        # dict lookup instead of testing it on every signal of its kind.
        self.index = index


class RuleSpec:
    """A compiled rule: steps in source order and the function that builds its event."""

    __slots__ = (
        "build",
        "event_type",
        "file",
        "gaps",
        "hash",
        "id",
        "line",
        "positives",
        "reset",
        "steps",
        "within",
    )

    def __init__(
        self,
        rule_id: str,
        content_hash: str,
        file: str,
        line: int,
        event_type: str,
        steps: Sequence[StepSpec],
        within: float | None,
        reset: bool,
        build: Callable[[list[Signal], Callable[[str, int], None]], dict[str, Any]],
    ):
        self.id = rule_id
        self.hash = content_hash
        self.file = file
        self.line = line
        self.event_type = event_type
        self.steps = tuple(steps)
        self.within = within
        self.reset = reset
        self.build = build
        self.positives = tuple(s for s in steps if not s.negated)
        # gaps[i]: the unless steps between positive step i and i+1 (the last gap is trailing).
        gaps: list[list[StepSpec]] = [[] for _ in self.positives]
        pos = -1
        for s in steps:
            if s.negated:
                gaps[max(pos, 0)].append(s)
            else:
                pos += 1
        self.gaps = tuple(tuple(g) for g in gaps)


class Program:
    """What a backend produces: shared atoms and rules."""

    def __init__(self, atoms: Sequence[Callable[[Signal], bool]], rules: Sequence[RuleSpec]):
        self.atoms = tuple(atoms)
        self.rules = tuple(rules)


# ---- the engine -------------------------------------------------------------------------


class _Partial:
    __slots__ = ("bound", "last", "pos", "seq", "start")

    def __init__(self, start: float, last: float, pos: int, bound: list[Signal], seq: int):
        self.start = start
        self.last = last
        self.pos = pos  # the index of the next positive step to match
        self.bound = bound
        self.seq = seq


class _Awaiting:
    """A complete match held back until its trailing `unless` window has passed."""

    __slots__ = ("bound", "dead", "deadline", "key", "last", "rule", "seq")

    def __init__(
        self, rule: int, key: str, bound: list[Signal], last: float, deadline: float, seq: int
    ):
        self.rule = rule
        self.key = key
        self.bound = bound
        self.last = last
        self.deadline = deadline
        self.seq = seq
        self.dead = False

    def __lt__(self, other: _Awaiting) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class Tracer:
    """Receives what the engine does, for `evrule explain`. Every method is optional."""

    # `bound` is the partial match concerned: the signals it holds, in step order (the very
    # list the engine keeps, so its identity tells matches apart; do not change it).
    def step(
        self, rule: RuleSpec, step: StepSpec, signal: Signal, what: str, bound: list[Signal]
    ) -> None: ...
    def near_miss(
        self, rule: RuleSpec, step: StepSpec, signal: Signal, pos: int, bound: list[Signal]
    ) -> None: ...
    def dropped(self, rule: RuleSpec, what: str, bound: list[Signal]) -> None: ...


class Matcher:
    """Runs a program over a stream of signals and returns Segment Spec events.

    >>> m = Matcher(program)                       # doctest: +SKIP
    >>> events = m.feed(signal) + m.flush()        # doctest: +SKIP
    """

    def __init__(
        self,
        program: Program,
        *,
        key: str = "anonymousId",
        max_partials: int = DEFAULT_MAX_PARTIALS,
        max_span_ms: float = DEFAULT_MAX_SPAN_MS,
        lateness_ms: float = 0.0,
        version: str = "0.0.0",
        tracer: Tracer | None = None,
    ):
        self.program = program
        self.rules = program.rules
        self.atoms = program.atoms
        self.key_path = tuple(key.split("."))
        self.max_partials = max(1, int(max_partials))
        self.max_span = float(max_span_ms)
        self.lateness = float(lateness_ms)
        self.version = version
        self.tracer = tracer
        # Per matcher, not on the shared RuleSpecs: two matchers of one generated module may
        # have different maximum spans.
        self.spans = tuple(self.span_of(rule) for rule in self.rules)
        self._build_dispatch()
        self.watermark: float | None = None
        self.seq = 0
        self.keys: dict[str, dict[int, list[_Partial]]] = {}
        self.awaiting: list[_Awaiting] = []
        self.identity: dict[str, str] = {}
        self.next_sweep: float | None = None
        self.stats: dict[str, Any] = {
            "signals": 0,
            "rejected": 0,
            "events": {},
            "expired": 0,
            "evicted": 0,
            "cancelled": 0,
            "warnings": 0,
        }
        self.warnings: list[dict[str, Any]] = []
        self.rejection: str | None = None  # why the last refused signal could not be matched

    # -- dispatch tables --
    def _build_dispatch(self) -> None:
        # For each kind a signal can have: the rules whose first step can see it (indexed by an
        # equality where the step has one, scanned otherwise) and the rules with any later step
        # that can see it.
        kinds: set[str] = set()
        for rule in self.rules:
            for s in rule.steps:
                kinds.add(s.kind)
        self._entry: dict[str, tuple[dict[tuple[Any, ...], dict[Any, list[int]]], list[int]]] = {}
        self._later: dict[str, frozenset[int]] = {}
        self._kinds_cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self._all_kinds = kinds
        self._fast: dict[str, Any] = {}
        # A first step with a correlation (none today: a first step has no earlier signal to
        # correlate with) would need the per-rule path.
        self._fast_ok = all(rule.positives[0].corr is None for rule in self.rules)

    def _dispatch(self, specific: str, base: str) -> tuple[Any, frozenset[int]]:
        entry = self._entry.get(specific)
        if entry is None:
            index: dict[tuple[Any, ...], dict[Any, list[int]]] = {}
            scan: list[int] = []
            later: set[int] = set()
            for r, rule in enumerate(self.rules):
                first = rule.positives[0]
                if first.kind in (specific, base):
                    if first.index is not None:
                        path, value = first.index
                        index.setdefault(tuple(path), {}).setdefault(value, []).append(r)
                    else:
                        scan.append(r)
                if any(s.kind in (specific, base) for s in rule.steps if s is not first):
                    later.add(r)
            entry = (index, scan)
            self._entry[specific] = entry
            self._later[specific] = frozenset(later)
            # The untraced fast path tests each distinct first step once per signal: rules whose
            # first steps need the same atoms start together.
            self._fast[specific] = (
                {path: {v: self._groups(rs) for v, rs in t.items()} for path, t in index.items()},
                self._groups(scan),
                self._later[specific],
            )
        return entry, self._later[specific]

    def _groups(self, rules: list[int]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        by_atoms: dict[tuple[int, ...], list[int]] = {}
        for r in rules:
            by_atoms.setdefault(tuple(self.rules[r].positives[0].atoms), []).append(r)
        return tuple((atoms, tuple(rs)) for atoms, rs in by_atoms.items())

    def pending(self, key: str) -> Mapping[int, Sequence[_Partial]]:
        """The pending partial matches of `key`, by rule index, most recent last.

        Read-only, for tracers such as `evrule explain`: each has `start`/`last` (ms), `pos`
        (the next positive step) and `bound` (the signals matched so far).
        """
        return self.keys.get(key, {})

    def held(self) -> Sequence[_Awaiting]:
        """Complete matches held back by a trailing `unless` (read-only, for tracers)."""
        return [a for a in self.awaiting if not a.dead]

    def span_of(self, rule: RuleSpec) -> float:
        """The longest a match of `rule` may take: its `within`, capped by the maximum span."""
        return min(rule.within, self.max_span) if rule.within else self.max_span

    # -- the public API --
    def feed(self, signal: Signal) -> list[Event]:
        """Process one decoded signal; return the events it completes (possibly none)."""
        out: list[Event] = []
        self.stats["signals"] += 1
        if type(signal) is not dict:
            self._reject("not a JSON object")
            return out
        ts = parse_ts(signal.get("timestamp"))
        if ts is None:
            self._reject("no usable 'timestamp'")
            return out
        key = get(signal, self.key_path)
        if type(key) is not str:
            self._reject(f"no string '{'.'.join(self.key_path)}' to match by")
            return out
        wm = ts - self.lateness
        if self.watermark is None or wm > self.watermark:
            self.watermark = wm
            self._advance(out)
        specific, base = kind_of(signal)
        if self.tracer is not None or not self._fast_ok:
            self._feed_each(signal, key, ts, specific, base, out)
            return out
        fast = self._fast.get(specific)
        if fast is None:
            self._dispatch(specific, base)
            fast = self._fast[specific]
        findex, fscan, later = fast
        atoms = self.atoms
        memo: dict[int, Any] = {}
        # The groups of first steps this signal may satisfy: those its indexed field values pick
        # out, and those that are always tested.
        candidates: list[Any] = []
        for path, table in findex.items():
            value = get(signal, path)
            if type(value) is float and value.is_integer():
                value = int(value)  # 200.0 == 200 in the language, so it finds the same rules
            if type(value) is str or type(value) is int:
                groups = table.get(value)
                if groups:
                    candidates.append(groups)
        if fscan:
            candidates.append(fscan)
        # Rules whose first step holds, group by group without a call per rule (atom tests are
        # inlined here, the hottest loop); the memo shares each atom's result across groups.
        starters: list[int] | None = None
        for groups in candidates:
            for group_atoms, rs in groups:
                for a in group_atoms:
                    v = memo.get(a)
                    if v is None:
                        try:
                            v = bool(atoms[a](signal))
                        except Exception:
                            v = False
                        memo[a] = v
                    if not v:
                        break
                else:
                    if starters is None:
                        starters = list(rs)
                    else:
                        starters.extend(rs)
        pending = self.keys.get(key)
        active = [r for r in pending if r in later] if pending else None
        holds = None
        if self.awaiting and key in self._awaiting_keys():
            holds = self._holds(signal, memo)
            self._cancel_awaiting(key, signal, specific, base, ts, holds)
        if active:
            if holds is None:
                holds = self._holds(signal, memo)
            todo = set(active)
            if starters:
                todo.update(starters)
            for r in sorted(todo):
                if r in active:
                    self._step_rule(r, key, signal, specific, base, ts, holds, out)
                else:
                    self._start(r, key, signal, ts, out)
        elif starters:
            if len(starters) > 1:
                starters.sort()
            for r in starters:
                self._start(r, key, signal, ts, out)
        return out

    def _holds(self, signal: Signal, memo: dict[int, Any]) -> Callable[[StepSpec], bool]:
        atoms = self.atoms

        def holds(step: StepSpec) -> bool:
            for a in step.atoms:
                v = memo.get(a)
                if v is None:
                    try:
                        v = bool(atoms[a](signal))
                    except Exception:
                        v = False
                    memo[a] = v
                if not v:
                    return False
            return True

        return holds

    def _feed_each(
        self, signal: Signal, key: str, ts: float, specific: str, base: str, out: list[Event]
    ) -> None:
        """Every candidate rule through `_step_rule`, so a tracer sees near misses too."""
        (index, scan), later = self._dispatch(specific, base)
        holds = self._holds(signal, {})
        candidates: set[int] = set(scan) if scan else set()
        for path, table in index.items():
            value = get(signal, path)
            if type(value) is float and value.is_integer():
                value = int(value)
            if type(value) is str or type(value) is int:
                hit = table.get(value)
                if hit:
                    candidates.update(hit)
        pending = self.keys.get(key)
        if pending:
            candidates.update(r for r in pending if r in later)
        if self.awaiting and key in self._awaiting_keys():
            self._cancel_awaiting(key, signal, specific, base, ts, holds)
        for r in sorted(candidates):
            self._step_rule(r, key, signal, specific, base, ts, holds, out)

    def feed_many(self, signals: Iterable[Signal]) -> list[Event]:
        out: list[Event] = []
        for s in signals:
            out.extend(self.feed(s))
        return out

    def flush(self, until: float | str | None = None) -> list[Event]:
        """Let time pass: to `until` (ms or ISO timestamp), or to the end of the stream.

        Matches held back by a trailing `unless` whose window has passed are emitted; partial
        matches that can no longer complete are dropped. At the end of the stream (no `until`)
        every held-back match is emitted and every partial match dropped.
        """
        out: list[Event] = []
        seen = self.watermark
        if until is None:
            horizon = math.inf
        else:
            parsed = parse_ts(until) if isinstance(until, str) else float(until)
            if parsed is None or not math.isfinite(parsed):
                raise ValueError(f"not a timestamp: {until!r}")
            horizon = parsed
        if self.watermark is None or horizon > self.watermark:
            self.watermark = horizon
        self._advance(out, force=True)
        if until is None:
            # Everything pending is gone; time itself goes back to what the signals said, so a
            # matcher that is fed again (or whose state is exported) keeps real timestamps.
            self.watermark = seen
            self.next_sweep = None
        return out

    # -- matching --
    def _step_rule(
        self,
        r: int,
        key: str,
        signal: Signal,
        specific: str,
        base: str,
        ts: float,
        holds: Callable[[StepSpec], bool],
        out: list[Event],
    ) -> None:
        rule = self.rules[r]
        tracer = self.tracer
        per_key = self.keys.get(key)
        partials = per_key.get(r) if per_key is not None else None
        if partials:
            # Negative steps first: a signal that a pending match must not see kills it.
            survivors: list[_Partial] = []
            for p in partials:
                if self._negated(rule, rule.gaps[p.pos - 1], p, signal, specific, base, ts, holds):
                    self.stats["cancelled"] += 1
                    if tracer is not None:
                        tracer.dropped(rule, "cancelled", p.bound)
                    continue
                survivors.append(p)
            partials[:] = survivors
            # The most recent pending match that this signal satisfies takes it.
            for p in reversed(partials):
                step = rule.positives[p.pos]
                if step.kind != specific and step.kind != base:
                    continue
                if ts - p.start > self.spans[r] or (
                    step.within is not None and ts - p.last > step.within
                ):
                    continue
                if not holds(step) or (
                    step.corr is not None and not _safe(step.corr, signal, p.bound)
                ):
                    if tracer is not None:
                        tracer.near_miss(rule, step, signal, p.pos, p.bound)
                    continue
                p.bound.append(signal)
                p.last = ts
                p.pos += 1
                self.seq += 1
                p.seq = self.seq
                if tracer is not None:
                    tracer.step(rule, step, signal, "extended", p.bound)
                if p.pos == len(rule.positives):
                    partials.remove(p)
                    self._complete(r, key, p, ts, out)
                else:
                    # keep recency order: the extended match is now the most recent
                    partials.remove(p)
                    partials.append(p)
                self._tidy(key, r)
                return
            self._tidy(key, r)
        first = rule.positives[0]
        if first.kind != specific and first.kind != base:
            return
        if not holds(first) or (first.corr is not None and not _safe(first.corr, signal, [])):
            if tracer is not None:
                tracer.near_miss(rule, first, signal, 0, [])
            return
        self._start(r, key, signal, ts, out)

    def _start(self, r: int, key: str, signal: Signal, ts: float, out: list[Event]) -> None:
        """A new partial match of rule `r` from a signal that satisfies its first step."""
        rule = self.rules[r]
        tracer = self.tracer
        self.seq += 1
        p = _Partial(ts, ts, 1, [signal], self.seq)
        if tracer is not None:
            tracer.step(rule, rule.positives[0], signal, "started", p.bound)
        if len(rule.positives) == 1:
            self._complete(r, key, p, ts, out)
            return
        plist = self.keys.setdefault(key, {}).setdefault(r, [])
        plist.append(p)
        if len(plist) > self.max_partials:
            evicted = plist.pop(0)
            self.stats["evicted"] += 1
            if tracer is not None:
                tracer.dropped(rule, "evicted", evicted.bound)

    def _negated(
        self,
        rule: RuleSpec,
        gap: Sequence[StepSpec],
        p: _Partial,
        signal: Signal,
        specific: str,
        base: str,
        ts: float,
        holds: Callable[[StepSpec], bool],
    ) -> bool:
        for u in gap:
            if u.kind != specific and u.kind != base:
                continue
            if u.within is not None and ts - p.last > u.within:
                continue
            if holds(u) and (u.corr is None or _safe(u.corr, signal, p.bound)):
                if self.tracer is not None:
                    self.tracer.step(rule, u, signal, "cancelled", p.bound)
                return True
        return False

    def _tidy(self, key: str, r: int) -> None:
        partials = self.keys.get(key)
        if partials is not None and not partials.get(r, True):
            del partials[r]
            if not partials:
                del self.keys[key]

    def _complete(self, r: int, key: str, p: _Partial, ts: float, out: list[Event]) -> None:
        rule = self.rules[r]
        trailing = rule.gaps[-1] if len(rule.positives) == len(rule.gaps) else ()
        trailing = tuple(u for u in trailing if self._is_trailing(rule, u))
        if trailing:
            deadline = ts + max(u.within or 0.0 for u in trailing)
            self.seq += 1
            heapq.heappush(self.awaiting, _Awaiting(r, key, p.bound, ts, deadline, self.seq))
            self._awaiting_index = None
            return
        out.extend(self._emit(rule, p.bound))

    def _is_trailing(self, rule: RuleSpec, u: StepSpec) -> bool:
        # An unless step after the last positive step; gaps[-1] holds exactly those.
        return u.negated and rule.steps.index(u) > rule.steps.index(rule.positives[-1])

    def _awaiting_keys(self) -> set[str]:
        idx = getattr(self, "_awaiting_index", None)
        if idx is None:
            idx = {a.key for a in self.awaiting if not a.dead}
            self._awaiting_index = idx
        return idx

    def _cancel_awaiting(
        self,
        key: str,
        signal: Signal,
        specific: str,
        base: str,
        ts: float,
        holds: Callable[[StepSpec], bool],
    ) -> None:
        for a in self.awaiting:
            if a.dead or a.key != key:
                continue
            rule = self.rules[a.rule]
            for u in rule.gaps[-1]:
                if u.kind != specific and u.kind != base:
                    continue
                if u.within is not None and ts - a.last > u.within:
                    continue
                if holds(u) and (u.corr is None or _safe(u.corr, signal, a.bound)):
                    a.dead = True
                    self._awaiting_index = None
                    self.stats["cancelled"] += 1
                    if self.tracer is not None:
                        self.tracer.step(rule, u, signal, "cancelled", a.bound)
                        self.tracer.dropped(rule, "cancelled", a.bound)
                    break

    def _advance(self, out: list[Event], force: bool = False) -> None:
        wm = self.watermark
        assert wm is not None
        while self.awaiting and (self.awaiting[0].deadline < wm or self.awaiting[0].dead):
            a = heapq.heappop(self.awaiting)
            self._awaiting_index = None
            if not a.dead:
                out.extend(self._emit(self.rules[a.rule], a.bound))
        if force or self.next_sweep is None or wm >= self.next_sweep:
            self._sweep(wm)
            self.next_sweep = wm + max(1000.0, self.max_span / 8)

    def _sweep(self, wm: float) -> None:
        """Drop partial matches that no later signal can complete any more."""
        for key in list(self.keys):
            partials = self.keys[key]
            for r in list(partials):
                rule = self.rules[r]
                keep = []
                for p in partials[r]:
                    step = rule.positives[p.pos]
                    deadline = p.start + self.spans[r]
                    if step.within is not None:
                        deadline = min(deadline, p.last + step.within)
                    if deadline < wm:
                        self.stats["expired"] += 1
                        if self.tracer is not None:
                            self.tracer.dropped(rule, "expired", p.bound)
                    else:
                        keep.append(p)
                if keep:
                    partials[r] = keep
                else:
                    del partials[r]
            if not partials:
                del self.keys[key]

    def _reject(self, reason: str) -> None:
        # Counted here; `rejection` says why, for a caller that keeps rejected signals
        # (evrule run's dead letters) instead of dropping them.
        self.stats["rejected"] += 1
        self.rejection = reason

    # -- events --
    def _emit(self, rule: RuleSpec, bound: list[Signal]) -> list[Event]:
        def warn(message: str, line: int) -> None:
            self.stats["warnings"] += 1
            if len(self.warnings) < 1000:
                self.warnings.append(
                    {"rule": rule.id, "file": rule.file, "line": line, "message": message}
                )

        fields = rule.build(bound, warn)
        event = build_event(rule, bound, fields, self.identity, self.version)
        problem = spec_problem(event)
        if problem is not None:
            warn(f"event not emitted: {problem}", rule.line)
            return []
        anon = event.get("anonymousId")
        if type(anon) is str:
            if rule.event_type == "identify" and type(event.get("userId")) is str:
                self.identity[anon] = event["userId"]
            if rule.reset:
                self.identity.pop(anon, None)
        counts = self.stats["events"]
        counts[rule.id] = counts.get(rule.id, 0) + 1
        return [event]

    # -- state --
    def export_state(self) -> dict[str, Any]:
        """All that a restarted matcher needs to go on where this one stopped (JSON-ready)."""
        keys = {
            key: {
                self.rules[r].id: [[p.start, p.last, p.pos, p.bound, p.seq] for p in plist]
                for r, plist in sorted(partials.items())
            }
            for key, partials in sorted(self.keys.items())
        }
        awaiting = [
            [self.rules[a.rule].id, a.key, a.bound, a.last, a.deadline, a.seq]
            for a in sorted(self.awaiting)
            if not a.dead
        ]
        return {
            "version": STATE_VERSION,
            "rules": {rule.id: rule.hash for rule in self.rules},
            "watermark": self.watermark,
            "nextSweep": self.next_sweep,
            "seq": self.seq,
            "keys": keys,
            "awaiting": awaiting,
            "identity": dict(sorted(self.identity.items())),
            "stats": json.loads(json.dumps(self.stats)),
        }

    def import_state(self, state: Mapping[str, Any]) -> None:
        """Restore `export_state()` output; matches of rules that changed since are dropped."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {state.get('version')!r}")
        by_id = {rule.id: i for i, rule in enumerate(self.rules)}
        hashes = state.get("rules", {})
        valid = {rid: i for rid, i in by_id.items() if hashes.get(rid) == self.rules[i].hash}
        self.watermark = state.get("watermark")
        self.next_sweep = state.get("nextSweep")
        self.seq = int(state.get("seq", 0))
        self.keys = {}
        dropped = 0
        for key, per_rule in state.get("keys", {}).items():
            for rid, plist in per_rule.items():
                r = valid.get(rid)
                if r is None:
                    dropped += len(plist)
                    continue
                self.keys.setdefault(key, {})[r] = [_Partial(*p) for p in plist]
        self.awaiting = []
        for rid, key, bound, last, deadline, seq in state.get("awaiting", []):
            r = valid.get(rid)
            if r is None:
                dropped += 1
                continue
            self.awaiting.append(_Awaiting(r, key, bound, last, deadline, seq))
        heapq.heapify(self.awaiting)
        self._awaiting_index = None
        self.identity = dict(state.get("identity", {}))
        self.stats = json.loads(json.dumps(state.get("stats", self.stats)))
        self.stats["expired"] += dropped


def _safe(fn: Callable[[Signal, list[Signal]], bool], signal: Signal, bound: list[Signal]) -> bool:
    try:
        return bool(fn(signal, bound))
    except Exception:
        return False


# ---- Segment Spec events ----------------------------------------------------------------

_PAGE_FIELDS = ("path", "referrer", "search", "title", "url")


def signal_id(signal: Signal) -> str:
    """A stable identity for a signal: its messageId, else anonymousId/index/timestamp."""
    mid = signal.get("messageId")
    if type(mid) is str and mid:
        return mid
    return f"{signal.get('anonymousId')}/{signal.get('index')}/{signal.get('timestamp')}"


def build_event(
    rule: RuleSpec,
    bound: list[Signal],
    fields: dict[str, Any],
    identity: Mapping[str, str],
    version: str,
) -> Event:
    """A Segment Spec message from a rule's mapped fields and the signals that matched it."""
    last = bound[-1]
    data = last.get("data") if type(last.get("data")) is dict else {}
    ids = [signal_id(s) for s in bound]
    digest = hashlib.sha256("\x1f".join([rule.id, rule.hash, *ids]).encode("utf-8")).hexdigest()
    anon = last.get("anonymousId")
    t = rule.event_type
    event: Event = {"type": t}
    if t == "track":
        event["event"] = fields.get("event")
        event["properties"] = fields.get("properties") or {}
    elif t in ("page", "screen"):
        if fields.get("name") is not None:
            event["name"] = fields["name"]
        if fields.get("category") is not None:
            event["category"] = fields["category"]
        props = fields.get("properties") or {}
        if t == "page":
            props = {**_page_properties(data), **props}
        event["properties"] = props
    elif t == "identify":
        event["traits"] = fields.get("traits") or {}
    elif t == "group":
        event["groupId"] = fields.get("groupId")
        event["traits"] = fields.get("traits") or {}
    elif t == "alias":
        event["previousId"] = fields.get("previousId")
    user_id = fields.get("userId")
    if user_id is None and type(anon) is str:
        user_id = identity.get(anon)
    if user_id is not None:
        event["userId"] = user_id
    event["anonymousId"] = anon
    event["timestamp"] = last.get("timestamp")
    event["messageId"] = "evr-" + digest[:32]
    context: dict[str, Any] = {"library": {"name": LIBRARY_NAME, "version": version}}
    page = data.get("page")
    if type(page) is dict:
        context["page"] = page
    app = get(last, ("context", "app"))
    if type(app) is dict:
        context["app"] = app
    mapped_context = fields.get("context")
    if type(mapped_context) is dict:
        context.update(mapped_context)
    context["evrule"] = {"rule": rule.id, "file": rule.file, "line": rule.line, "signals": ids}
    event["context"] = context
    event["integrations"] = {}
    return event


def _page_properties(data: Mapping[str, Any]) -> dict[str, Any]:
    page = data.get("page")
    props: dict[str, Any] = {}
    if type(page) is dict:
        for k in _PAGE_FIELDS:
            if page.get(k) is not None:
                props[k] = page[k]
    else:
        # A navigation signal without a page object still describes the page it went to.
        nav = {
            "path": data.get("path"),
            "referrer": data.get("previousUrl"),
            "search": data.get("search"),
            "title": data.get("title"),
            "url": data.get("currentUrl"),
        }
        props = {k: v for k, v in nav.items() if v is not None}
    return props


def spec_problem(event: Mapping[str, Any]) -> str | None:
    """Why `event` is not a valid Segment Spec message of its type, or None."""
    t = event.get("type")
    if not isinstance(event.get("anonymousId"), str) and not isinstance(event.get("userId"), str):
        return "needs userId or anonymousId"
    if t == "track" and not (isinstance(event.get("event"), str) and event["event"]):
        return "track needs a non-empty event name"
    if t == "identify" and event.get("userId") is None and not event.get("traits"):
        return "identify needs userId or traits"
    group_id = event.get("groupId")
    if t == "group" and (not isinstance(group_id, str | int) or group_id == ""):
        return "group needs a groupId"
    if t == "alias" and (event.get("userId") is None or event.get("previousId") is None):
        return "alias needs userId and previousId"
    for k in ("userId", "previousId", "groupId"):
        if k in event and event[k] is not None and not isinstance(event[k], str | int):
            return f"{k} must be a string"
    return None


def dumps(event: Event) -> str:
    """One event as a compact JSON line; the same event always gives the same bytes."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
