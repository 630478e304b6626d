"""AST to canonical text: what `evrule fmt` writes.

`format_module(module)` prints a parsed module in the one canonical layout and keeps every
comment; `format_source(text)` parses first and refuses to format a file with syntax errors
(it returns None and the diagnostics). Two laws hold, and are tested on generated trees: the
output parses back to an equal tree (`parse(format_module(m)).module == m`, spans aside), and
formatting formatted text changes nothing.

    >>> text, diags = format_source('track "Add"  when c=interaction.click( ok )  within 2s')
    >>> print(text, end="")
    track "Add"
      when c = interaction.click(ok) within 2s

The layout:

- top-level items are separated by one blank line; a rule's header clauses, steps, `map` entries
  and `reset` follow its `track "Name"` line, one per line, indented two spaces, in source order;
- the `=` of aliased steps lines up within a rule, and so does the `=` of the map entries, whose
  targets line up under the first one (written after `map `);
- a step (or `predicate` definition) longer than `MAX_WIDTH` columns is broken at its top-level
  `and`/`or`: one operand per line, aligned just after the opening parenthesis, each continuation
  line starting with the operator;
- expressions get single spaces around operators and parentheses only where the tree needs them;
- comments: a comment on its own line stays before the clause that follows it, a comment after
  code stays at the end of that clause's line, and a comment inside a clause spread over several
  lines moves to just before the clause. A blank line between a top-level comment block and its
  item is kept if there was one; an indented comment after a rule's last clause stays with the
  rule.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Final

from evrule.compiler import ast
from evrule.compiler.diagnostics import Diagnostic, Span
from evrule.compiler.parser import parse

__all__ = ["MAX_WIDTH", "format_expr", "format_module", "format_pred", "format_source"]

MAX_WIDTH: Final = 100
"""Steps and predicate definitions longer than this are broken at their top-level `and`/`or`."""

_INDENT: Final = "  "
_MAP_INDENT: Final = _INDENT + " " * len("map ")
_NAME_RE: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")

# json.dumps(ensure_ascii=False) leaves these as they are. Editors and `str.splitlines()` break
# lines at the first three (a string would seem to span two lines), and a lone surrogate cannot be
# written as UTF-8 at all.
_ESCAPES: Final = str.maketrans(
    {c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029, *range(0xD800, 0xE000))}
)

_PREDS: Final = (ast.Compare, ast.Matches, ast.Exists, ast.Truthy, ast.Not, ast.And, ast.Or)

# Which children need parentheses under which parent. `or` binds looser than `and` and `not`; an
# `and` inside an `and` (an `or` inside an `or`) needs them too, because the parser flattens
# `a and b and c` into one node and `(a and b) and c` must stay a different tree.
_PARENS: Final[dict[type, tuple[type, ...]]] = {
    ast.Or: (ast.Or,),
    ast.And: (ast.And, ast.Or),
    ast.Not: (ast.And, ast.Or),
}


def format_source(source: str, file: str = "<string>") -> tuple[str | None, list[Diagnostic]]:
    """Parse `source` and return its canonical text and the parser's diagnostics.

    A file with syntax errors is never formatted: the text is None and the diagnostics say why.
    """
    result = parse(source, file)
    if not result.ok:
        return None, result.diagnostics
    return format_module(result.module), result.diagnostics


def format_module(module: ast.Module) -> str:
    """The canonical text of a parsed module, ending with one newline (empty for an empty file).

    Comments are placed by the spans of the clauses they sat among, so they need the module as
    `parse` built it; a module built by hand (no comments, no source) formats just as well.
    """
    items = [_rule(i) if isinstance(i, ast.Rule) else _predicate_def(i) for i in module.items]
    lines = module.source.split("\n")
    tail = _place_comments(module.comments, items, lines)
    out = _render(items, tail, lines)
    return "\n".join(line.rstrip() for line in out) + "\n" if out else ""


# ---- expressions ----------------------------------------------------------------------------


def format_expr(expr: ast.Expr, *, template: bool = False) -> str:
    """One value as it is written in a rule, e.g. `number(resp.body["price"]) ?? 0`.

    With `template`, the value sits where strings are templates (map values, a rule's name), so
    literal braces in strings are doubled.
    """
    match expr:
        case ast.Literal(value=value):
            return _literal(value, template)
        case ast.Path():
            return _path(expr)
        case ast.Template(parts=parts):
            return _template(parts)
        case ast.ListExpr(items=items):
            return "[" + ", ".join(format_expr(i, template=template) for i in items) + "]"
        case ast.Call(name=name, args=args):
            return f"{name}({', '.join(_argument(a, template) for a in args)})"
        case ast.Coalesce(items=items):
            return " ?? ".join(format_expr(i, template=template) for i in items)
    raise TypeError(f"not an expression node: {expr!r}")


def format_pred(pred: ast.Pred, *, template: bool = False) -> str:
    """One condition on a single line, e.g. `a == 1 and (b or not c)`; see `format_expr`."""
    match pred:
        case ast.Compare(op=op, left=left, right=right):
            left_text = format_expr(left, template=template)
            return f"{left_text} {op} {format_expr(right, template=template)}"
        case ast.Matches(left=left, pattern=pattern, flags=flags):
            return f"{format_expr(left, template=template)} matches /{pattern}/{flags}"
        case ast.Exists(operand=operand):
            return f"{format_expr(operand, template=template)} exists"
        case ast.Truthy(operand=operand):
            return format_expr(operand, template=template)
        case ast.Not(operand=operand):
            return "not " + _operand(operand, ast.Not, template)
        case ast.And(items=items):
            return " and ".join(_operand(i, ast.And, template) for i in items)
        case ast.Or(items=items):
            return " or ".join(_operand(i, ast.Or, template) for i in items)
    raise TypeError(f"not a predicate node: {pred!r}")


def _operand(pred: ast.Pred, parent: type, template: bool) -> str:
    text = format_pred(pred, template=template)
    return f"({text})" if isinstance(pred, _PARENS[parent]) else text


def _argument(arg: ast.Expr | ast.Pred, template: bool) -> str:
    # Arguments are parsed as predicates, so a condition needs no parentheses there, and a
    # Truthy (the condition of `if`) prints as its bare value, which parses back to a Truthy.
    if isinstance(arg, _PREDS):
        return format_pred(arg, template=template)
    return format_expr(arg, template=template)


def _literal(value: str | int | float | bool | None, template: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value, template=template)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written in a rule")
    # repr is the shortest text that reads back as the same float, and it always has a `.` or
    # an exponent, so it never reads back as an int.
    return repr(value)


def _string(value: str, *, template: bool = False) -> str:
    text = json.dumps(value, ensure_ascii=False).translate(_ESCAPES)
    if template:
        # In a template a lone brace opens or closes a hole; a literal one is written twice.
        text = text.replace("{", "{{").replace("}", "}}")
    return text


def _template(parts: tuple[str | ast.Expr, ...]) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(_string(part, template=True)[1:-1])
        else:
            out.append("{" + format_expr(part) + "}")
    return '"' + "".join(out) + '"'


def _path(path: ast.Path) -> str:
    out = [path.root]
    for seg in path.segments:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif _NAME_RE.fullmatch(seg):
            out.append("." + seg)
        else:
            out.append(f"[{_string(seg)}]")
    return "".join(out)


def _target(keys: tuple[str, ...]) -> str:
    return ".".join(k if _NAME_RE.fullmatch(k) else _string(k) for k in keys)


# ---- clauses --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Clause:
    """One clause of the output: its text, the source lines it came from, its comments."""

    lines: list[str]
    indent: str  # where comments moved before the clause start
    first: int
    last: int
    leading: list[ast.Comment] = field(default_factory=list)
    trailing: ast.Comment | None = None


@dataclass(slots=True)
class _Item:
    clauses: list[_Clause]
    is_rule: bool
    trailing: list[ast.Comment] = field(default_factory=list)


def _clause(lines: list[str], indent: str, span: Span) -> _Clause:
    return _Clause(lines, indent, span.line, span.end_line)


def _predicate_def(item: ast.PredicateDef) -> _Item:
    lines = _broken(f"predicate {item.name} = ", item.body, "")
    return _Item([_clause(lines, "", item.span)], is_rule=False)


def _rule(rule: ast.Rule) -> _Item:
    header = rule.event_type
    if isinstance(rule.name, ast.Template):
        header += " " + _template(rule.name.parts)
    elif rule.name is not None:
        header += " " + format_expr(rule.name, template=True)
    clauses = [_clause([header], "", rule.header_span)]
    clauses += [_clause([_INDENT + _meta(m)], _INDENT, m.span) for m in rule.meta]

    aliased = [len(f"{s.word} {s.alias}") for s in rule.steps if s.alias is not None]
    eq_column = max(aliased, default=0)
    clauses += [_clause(_step(s, eq_column), _INDENT, s.span) for s in rule.steps]

    targets = [_target(entry.target) for entry in rule.maps]
    width = max(map(len, targets), default=0)
    for i, (entry, target) in enumerate(zip(rule.maps, targets, strict=True)):
        lead = f"{_INDENT}map " if i == 0 else _MAP_INDENT
        text = f"{lead}{target:<{width}} = {_argument(entry.value, True)}"
        clauses.append(_clause([text], _INDENT if i == 0 else _MAP_INDENT, entry.span))

    if rule.reset:
        # `reset` is the rule's last token and has no node of its own.
        line = rule.span.end_line
        clauses.append(_Clause([_INDENT + "reset"], _INDENT, line, line))
    return _Item(clauses, is_rule=True)


def _meta(meta: ast.Meta) -> str:
    value = meta.value
    if isinstance(value, ast.Duration):
        return f"{meta.key} {value.text}"
    if isinstance(value, bool):
        return f"{meta.key} {'true' if value else 'false'}"
    if isinstance(value, tuple):
        return f"{meta.key} [{', '.join(_string(v) for v in value)}]"
    return f"{meta.key} {_string(value)}"


def _step(step: ast.Step, eq_column: int) -> list[str]:
    if step.alias is None:
        head = f"{_INDENT}{step.word} {step.kind}"
    else:
        head = f"{_INDENT}{f'{step.word} {step.alias}':<{eq_column}} = {step.kind}"
    tail = f" within {step.within.text}" if step.within is not None else ""
    if step.cond is None:
        return [head + tail]
    return _broken(head + "(", step.cond, ")" + tail)


def _broken(prefix: str, pred: ast.Pred, suffix: str) -> list[str]:
    """`prefix pred suffix` on one line or, when too long, broken at the top-level `and`/`or`.

    Only the top level is broken and the decision depends on the tree alone, so formatting the
    output again takes the same decision.
    """
    line = prefix + format_pred(pred) + suffix
    if len(line) <= MAX_WIDTH or not isinstance(pred, ast.And | ast.Or):
        return [line]
    word = "and" if isinstance(pred, ast.And) else "or"
    items = [_operand(i, type(pred), template=False) for i in pred.items]
    pad = " " * len(prefix)
    lines = [prefix + items[0], *(f"{pad}{word} {item}" for item in items[1:])]
    lines[-1] += suffix
    return lines


# ---- comments -------------------------------------------------------------------------------


def _place_comments(
    comments: tuple[ast.Comment, ...], items: list[_Item], lines: list[str]
) -> list[ast.Comment]:
    """Attach each comment to a clause or an item; return those left for the end of the file."""
    clauses = [(k, c) for k, item in enumerate(items) for c in item.clauses]
    tail: list[ast.Comment] = []
    closed_gaps: set[int] = set()  # items after which a comment already went to the next item
    for comment in sorted(comments, key=lambda c: (c.span.line, c.span.column)):
        line = comment.span.line
        own_line = _own_line(comment, lines)
        inside = [c for _, c in clauses if c.first <= line <= c.last]
        if inside:
            ending = [c for c in inside if c.last == line and c.trailing is None]
            if not own_line and ending:
                ending[-1].trailing = comment
            else:
                # A comment in the middle of a clause spread over lines moves before the clause.
                inside[-1].leading.append(comment)
            continue
        after = next((i for i, (_, c) in enumerate(clauses) if c.first > line), None)
        before = (after if after is not None else len(clauses)) - 1
        prev_item = clauses[before][0] if before >= 0 else None
        next_item = clauses[after][0] if after is not None else None
        if prev_item is not None and prev_item != next_item:
            # Between two items: an indented comment right after a rule belongs to that rule,
            # unless an unindented one already came first (that keeps the comments' order).
            if (
                items[prev_item].is_rule
                and own_line
                and comment.span.column > 1
                and prev_item not in closed_gaps
            ):
                items[prev_item].trailing.append(comment)
                continue
            closed_gaps.add(prev_item)
        if after is None:
            tail.append(comment)
        else:
            clauses[after][1].leading.append(comment)
    return tail


def _own_line(comment: ast.Comment, lines: list[str]) -> bool:
    line, column = comment.span.line, comment.span.column
    if not 1 <= line <= len(lines):
        return True
    return not lines[line - 1][: column - 1].strip()


def _blank_between(first: int, last: int, lines: list[str]) -> bool:
    """Whether a blank source line lies strictly between lines `first` and `last` (1-based)."""
    return any(not lines[i].strip() for i in range(max(first, 0), min(last - 1, len(lines))))


def _comment_block(
    out: list[str], comments: list[ast.Comment], next_line: int | None, lines: list[str]
) -> None:
    """Top-level comments, keeping one blank line wherever the source had some."""
    for i, comment in enumerate(comments):
        if i and _blank_between(comments[i - 1].span.line, comment.span.line, lines):
            out.append("")
        out.append(comment.text.rstrip())
    if (
        comments
        and next_line is not None
        and comments[-1].span.line < next_line
        and _blank_between(comments[-1].span.line, next_line, lines)
    ):
        out.append("")


def _render(items: list[_Item], tail: list[ast.Comment], lines: list[str]) -> list[str]:
    out: list[str] = []
    last_line = 0  # the last source line the output so far came from
    for k, item in enumerate(items):
        if k:
            out.append("")
        for j, clause in enumerate(item.clauses):
            if j == 0:
                _comment_block(out, clause.leading, clause.first, lines)
            else:
                out.extend(clause.indent + c.text.rstrip() for c in clause.leading)
            body = list(clause.lines)
            if clause.trailing is not None:
                body[-1] += "  " + clause.trailing.text.rstrip()
            out.extend(body)
            last_line = max(last_line, clause.last)
        out.extend(_INDENT + c.text.rstrip() for c in item.trailing)
        last_line = max([last_line, *(c.span.line for c in item.trailing)])
    if tail:
        if out and _blank_between(last_line, tail[0].span.line, lines):
            out.append("")
        _comment_block(out, tail, None, lines)
    return out
