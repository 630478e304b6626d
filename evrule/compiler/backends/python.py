"""IR to a stand-alone Python module (the `python` backend).

The module embeds `evrule/runtime/core.py` (standard library only) and adds one function per
shared atom, per correlation and per rule's map program, so a service can import it without
installing evrule. Output is deterministic: the same plan gives byte-identical source. Every
literal is written with `repr()`, never pasted, so rule text that looks like code stays data.
Each generated line that stems from a rule carries a `# file:line` comment, collected into
`LINEMAP` so that errors can be traced back to the `.evrule` line (`rule_location(exc)`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from typing import Any

import jinja2

from evrule.compiler.ir import IRNode, Plan, RuleIR

_OP_FUNCTIONS = {
    "==": "eq", "!=": "ne", "<": "op_lt", "<=": "op_le", ">": "op_gt", ">=": "op_ge",
    "contains": "contains", "startswith": "startswith", "endswith": "endswith", "glob": "glob",
    "in": "in_", "==~": "eq_ci", "!=~": "ne_ci", "contains~": "contains_ci",
    "startswith~": "startswith_ci", "endswith~": "endswith_ci", "glob~": "glob_ci", "in~": "in_ci",
}  # fmt: skip

_MARKER = re.compile(r"#\s(?P<file>\S+?):(?P<line>\d+)\b")


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evrule.compiler.backends", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = _pyrepr
    return env


def _pyrepr(value: Any) -> str:
    if isinstance(value, list):
        return repr(tuple(_freeze(v) for v in value))
    return repr(_freeze(value))


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _core_source() -> str:
    text = resources.files("evrule.runtime").joinpath("core.py").read_text("utf-8")
    return text.replace("from __future__ import annotations\n", "", 1).strip() + "\n"


class _Gen:
    """Python expression source for IR nodes."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.globs: list[tuple[str, bool]] = []
        self.temp = 0
        # Field reads are inlined in the per-signal code (atoms, correlations); map programs,
        # which run once per event, keep the more readable `get(...)` calls.
        self.inline = True

    def glob(self, pattern: str, ci: bool) -> int:
        key = (pattern, ci)
        if key not in self.globs:
            self.globs.append(key)
        return self.globs.index(key)

    def expr(self, node: IRNode) -> str:
        tag = node[0]
        if tag == "lit":
            return _pyrepr(node[1]) if not isinstance(node[1], list) else repr(node[1])
        if tag == "get":
            src = "s" if node[1] == -1 else f"b[{int(node[1])}]"
            path = node[2]
            if self.inline and path and all(type(k) is str for k in path):
                # `get` inlined: a signal is always a dict, and each further key is read only
                # from a dict, else the value is None, exactly as `get` does.
                code = f"{src}.get({path[0]!r})"
                for k in path[1:]:
                    code = f"(_v.get({k!r}) if type(_v := {code}) is dict else None)"
                return code
            return f"get({src}, {_pyrepr(path)})"
        if tag == "list":
            return "[" + ", ".join(self.expr(i) for i in node[1]) + "]"
        if tag == "tpl":
            parts = [repr(p) if isinstance(p, str) else self.expr(p) for p in node[1]]
            return "template((" + ", ".join(parts) + ",))"
        if tag == "call":
            return f"f_{node[1]}(" + ", ".join(self.expr(a) for a in node[2]) + ")"
        if tag == "if":
            return f"({self.expr(node[2])} if {self.pred(node[1])} else {self.expr(node[3])})"
        if tag == "coalesce":
            # Lazy like the interpreter: later operands are not evaluated once one is non-null.
            code = self.expr(node[1][-1])
            for item in reversed(node[1][:-1]):
                self.temp += 1
                t = f"_t{self.temp}"
                code = f"({t} if ({t} := {self.expr(item)}) is not None else {code})"
            return code
        return self.pred(node)

    def pred(self, node: IRNode) -> str:
        tag = node[0]
        if tag == "cmp":
            op, left, right = node[1], node[2], node[3]
            if op == "glob" and right[0] == "lit" and isinstance(right[1], str):
                plain = _plain_glob(right[1])
                if plain is not None:
                    return plain.format(x=self.expr(left))
            if op in ("glob", "glob~") and right[0] == "lit" and isinstance(right[1], str):
                g = self.glob(right[1], op == "glob~")
                return f"fullmatch(_GLOB[{g}], {self.expr(left)})"
            if op in ("==~", "!=~") and right[0] == "lit" and type(right[1]) is str:
                # eq_ci against a string: only a string can be equal, compared casefolded.
                code = f"(type(_v := {self.expr(left)}) is str and _v.casefold() == "
                code += f"{right[1].casefold()!r})"
                return code if op == "==~" else f"(not {code})"
            if op in ("==", "!=") and right[0] == "lit" and type(right[1]) is str:
                # A string equals only a string, so Python's own == has the language's meaning.
                return f"({self.expr(left)} {op} {right[1]!r})"
            return f"{_OP_FUNCTIONS[op]}({self.expr(left)}, {self.expr(right)})"
        if tag == "re":
            return f"search(_RX[{int(node[1])}], {self.expr(node[2])})"
        if tag == "exists":
            return f"({self.expr(node[1])} is not None)"
        if tag == "truthy":
            return f"truthy({self.expr(node[1])})"
        if tag == "not":
            return f"(not {self.pred(node[1])})"
        if tag in ("and", "or"):
            return "(" + f" {tag} ".join(self.pred(i) for i in node[1]) + ")"
        return f"truthy({self.expr(node)})"


def _plain_glob(pattern: str) -> str | None:
    """A glob whose only wildcards are a leading and/or trailing `*`, as a string test with the
    same meaning as matching `glob_to_regex(pattern)` (a `{x}` placeholder for the operand)."""
    inner = pattern.strip("*")
    if any(c in inner for c in "*?[") or len(pattern) - len(inner) > 2:
        return None
    lead, trail = pattern.startswith("*"), pattern.endswith("*") and pattern != "*"
    if pattern == "*":
        return "(type({x}) is str)"
    if pattern.startswith("**") or pattern.endswith("**"):
        return None
    if lead and trail:
        test = f"{inner!r} in _v"
    elif lead:
        test = f"_v.endswith({inner!r})"
    elif trail:
        test = f"_v.startswith({inner!r})"
    else:
        test = f"_v == {inner!r}"
    return "(type(_v := {x}) is str and " + test.replace("{", "{{").replace("}", "}}") + ")"


def _origin(plan: Plan, atom: int) -> str:
    for r in plan.rules:
        for s in r.steps:
            if atom in s.atoms:
                return f"{r.file}:{s.line}"
    return "unused"


def generate(plan: Plan, module_name: str = "evrule_rules") -> str:
    """The source of a stand-alone module that runs `plan`."""
    gen = _Gen(plan)
    atoms = [{"code": gen.pred(a), "origin": _origin(plan, i)} for i, a in enumerate(plan.atoms)]
    rules = [_rule_context(gen, i, r) for i, r in enumerate(plan.rules)]
    plan_hash = hashlib.sha256(plan.dumps().encode("utf-8")).hexdigest()[:16]
    source = (
        _environment()
        .get_template("module.py.j2")
        .render(
            version=plan.evrule_version,
            sources=sorted({r.file for r in plan.rules}) or ["no rules"],
            module_name=module_name,
            core=_core_source(),
            regexes=plan.regexes,
            globs=gen.globs,
            atoms=atoms,
            rules=rules,
            plan_hash=plan_hash,
        )
    )
    return source + _linemap(source)


def _rule_context(gen: _Gen, index: int, r: RuleIR) -> dict[str, Any]:
    steps = []
    corrs = []
    for k, s in enumerate(r.steps):
        corr = "None"
        if s.corr is not None:
            corrs.append({"step": k, "line": s.line, "code": gen.pred(s.corr)})
            corr = f"_corr_{index}_{k}"
        steps.append(
            {
                "kind": s.kind,
                "negated": s.negated,
                "atoms": list(s.atoms),
                "corr": corr,
                "within": s.within,
                "alias": s.alias,
                "line": s.line,
                "index": [list(s.index[0]), s.index[1]] if s.index else None,
            }
        )
    gen.inline = False
    maps = [
        {
            "line": m.line,
            "target": list(m.target),
            "code": gen.expr(m.value),
            "constant": m.value[0] == "lit",
        }
        for m in r.maps
    ]
    gen.inline = True
    return {
        "index": index,
        "id": r.id,
        "hash": r.hash,
        "file": r.file,
        "line": r.line,
        "event_type": r.event_type,
        "within": r.within,
        "reset": r.reset,
        "steps": steps,
        "corrs": corrs,
        "maps": maps,
    }


def _linemap(source: str) -> str:
    # Lines after the embedded runtime that carry a `# file:line` marker, and the lines under
    # them up to the next marker, map to that rule line.
    start = source.index("# ---- compiled rules")
    first = source[:start].count("\n") + 1
    entries: list[tuple[int, str, int]] = []
    current: tuple[str, int] | None = None
    for n, line in enumerate(source.splitlines()[first - 1 :], start=first):
        m = _MARKER.search(line)
        if m:
            current = (m.group("file"), int(m.group("line")))
        if current is not None and line.strip():
            entries.append((n, *current))
        if line.startswith("PROGRAM = "):
            break
    body = ",\n".join(f"    {n}: ({f!r}, {ln})" for n, f, ln in entries)
    return "\nLINEMAP = {\n" + body + ("\n" if body else "") + "}\n"
