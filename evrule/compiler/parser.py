"""Text to AST: the only module that knows Lark exists.

`parse(source, file)` never raises for bad input: it returns the module it could build and a list
of diagnostics. After a syntax error it resynchronises at the next top-level item (a line that
starts with an event type or `predicate`), so one typo does not hide the problems further down.

    >>> result = parse('track "Clicked"\\n  when c = interaction.click(ok)\\n', "a.evrule")
    >>> result.diagnostics
    []
    >>> result.module.rules[0].event_type
    'track'
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.tree import Meta as LarkMeta

from evrule.compiler import ast
from evrule.compiler.diagnostics import Diagnostic, Span, error

_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_DURATION_RE = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_TOP_LEVEL_RE = re.compile(r"^(?:track|identify|page|screen|group|alias|predicate)(?=[\s\"]|$)")

# Comments are skipped by the grammar but the formatter must keep them: the lexer hands each one
# to this per-thread list while a parse runs.
_collected = threading.local()


def _on_comment(token: Token) -> None:
    bucket = getattr(_collected, "comments", None)
    if bucket is not None:
        bucket.append(token)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("evrule.grammar").joinpath("evrule.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=["start", "value"],
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _on_comment},
    )


@dataclass(frozen=True, slots=True)
class ParseResult:
    module: ast.Module
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def parse(source: str, file: str = "<string>") -> ParseResult:
    """Parse one `.evrule` file; never raises for bad input."""
    diags: list[Diagnostic] = []
    comments: list[Token] = []
    items = _parse_chunk(source, file, diags, comments)
    if items is None:
        # Parse each top-level item on its own so that every broken rule is reported once and
        # the good ones still reach the checker.
        diags.clear()
        comments.clear()
        items = []
        for start_line, chunk in _chunks(source):
            padded = "\n" * (start_line - 1) + chunk
            chunk_items = _parse_chunk(padded, file, diags, comments)
            items.extend(chunk_items or [])
    module = ast.Module(
        items=tuple(items),
        comments=tuple(
            ast.Comment(str(t), _token_span(t, file))
            for t in sorted(comments, key=lambda t: t.start_pos or 0)
        ),
        file=file,
        source=source,
    )
    return ParseResult(module, diags)


def _chunks(source: str) -> list[tuple[int, str]]:
    lines = source.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    starts = [i for i, line in enumerate(lines) if _TOP_LEVEL_RE.match(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(lines)]
    return [(a + 1, "".join(lines[a:b])) for a, b in itertools.pairwise(bounds) if b > a]


def _parse_chunk(
    text: str, file: str, diags: list[Diagnostic], comments: list[Token]
) -> list[ast.Rule | ast.PredicateDef] | None:
    """Parse `text`; on a syntax error append one diagnostic and return None."""
    _collected.comments = []
    try:
        try:
            tree = _lark().parse(text, start="start")
        finally:
            found = _collected.comments
            _collected.comments = None
    except UnexpectedInput as exc:
        diags.append(_syntax_diagnostic(exc, text, file))
        return None
    except LarkError as exc:  # pragma: no cover - Lark's other errors mean a grammar bug
        diags.append(error("E100", f"cannot parse: {exc}", Span(file, 1, 1, 1, 2)))
        return None
    comments.extend(found)
    # Split on "\n" only, as Lark counts lines: `splitlines()` also breaks at \f, \x85, U+2028...,
    # which would shift every later line and make template holes read the wrong text.
    builder = _Builder(file, diags, text.split("\n"))
    try:
        module_items = builder.transform(tree)
    except VisitError as exc:  # pragma: no cover - a builder bug must still not leak Lark
        diags.append(
            error("E100", f"cannot build syntax tree: {exc.orig_exc}", Span(file, 1, 1, 1, 2))
        )
        return None
    except RecursionError:
        # Lark's Transformer recurses once per tree level: absurd nesting must be a diagnostic too.
        line = getattr(tree.meta, "line", 1)
        diags.append(error("E100", "expression nested too deeply", Span(file, line, 1, line, 2)))
        return None
    return list(module_items)


# ---- syntax errors ------------------------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "SIGNED_INT": "an integer",
    "DURATION": "a duration like `2s`",
    "REGEX": "a regular expression like `/re/i`",
    "CI_OP": "an operator",
    "LPAR": "`(`",
    "$END": "end of file",
}


@functools.lru_cache(maxsize=1)
def _terminal_names() -> dict[str, str]:
    names = dict(_TERMINAL_WORDS)
    for term in _lark().terminals:
        if term.name not in names and term.pattern.type == "str":
            names[term.name] = f"`{term.pattern.value}`"
    return names


_OPERATOR_WORDS = {f"`{op}`" for op in ast.COMPARE_OPS} | {"`matches`", "`exists`", "`??`"}


def _describe_expected(expected: set[str] | frozenset[str]) -> str:
    names = _terminal_names()
    words = {names.get(t, t) for t in expected}
    if len(words & _OPERATOR_WORDS) > 2:
        words = (words - _OPERATOR_WORDS) | {"an operator"}
    words = sorted(words)
    if len(words) > 10:
        words = [*words[:10], "..."]
    return ", ".join(words)


def _syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        exc = UnexpectedEOF(exc.expected)
    if isinstance(exc, UnexpectedEOF):
        lines = text.split("\n")
        last = len(lines)
        while last > 1 and not lines[last - 1].strip():
            last -= 1
        col = len(lines[last - 1]) + 1
        expected = _describe_expected(set(exc.expected))
        return error(
            "E102",
            "unexpected end of file" + (f"; expected {expected}" if expected else ""),
            Span(file, last, col, last, col + 1),
            "a rule needs at least a `when` step" if "WHEN" in exc.expected else None,
        )
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        width = max(1, len(str(tok)))
        accepted = _accepted(exc)
        expected = _describe_expected(accepted)
        hint = _hint_for(str(tok), accepted)
        return error(
            "E100",
            f"unexpected `{tok}`" + (f"; expected {expected}" if expected else ""),
            Span(file, line, column, line, column + width),
            hint,
        )
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        message = f"unexpected character `{char}`"
        hint = None
        if char == '"':
            message = "unterminated string"
            hint = 'strings end on the same line with `"`; write a newline as `\\n`'
        elif char == "'":
            hint = 'strings use double quotes: "..."'
        elif char == "/":
            message = "unterminated regular expression"
        expected = _describe_expected(exc.allowed or set())
        if expected and char not in "\"'":
            message += f"; expected {expected}"
        return error("E101", message, Span(file, line, column, line, column + 1), hint)
    return error("E100", "syntax error", Span(file, line, column, line, column + 1))


def _accepted(exc: UnexpectedToken) -> set[str]:
    """The tokens that could really come next: LALR tables merge lookaheads of similar states,
    so `exc.expected` also lists tokens valid only in other contexts; replaying each candidate
    on the interactive parser keeps the ones that would be shifted."""
    parser = getattr(exc, "interactive_parser", None)
    if parser is None:
        return set(exc.expected)
    try:
        return set(parser.accepts()) or set(exc.expected)
    except Exception:  # accepts() replays the parser; never let that hide the real error
        return set(exc.expected)


def _hint_for(token: str, expected: set[str] | frozenset[str]) -> str | None:
    if token == "=":
        return "compare with `==`; `=` binds an alias or a map target"
    if token in ("&&", "||", "!"):
        return "write `and`, `or`, `not`"
    if "RPAR" in expected and token in ("when", "then", "unless", "map", "within", "reset"):
        return f"is a `)` missing before `{token}`?"
    if token in ("when", "then", "unless"):
        return "steps come after the header clauses and before `map`"
    return None


# ---- tree to AST --------------------------------------------------------------------------


def _token_span(tok: Token, file: str) -> Span:
    return Span(file, tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)


def _meta_span(meta: LarkMeta, file: str) -> Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _decode_string(tok: Token, file: str, diags: list[Diagnostic]) -> str:
    try:
        value = json.loads(str(tok))
    except ValueError:
        diags.append(
            error(
                "E103",
                "invalid escape in string",
                _token_span(tok, file),
                'use \\" \\\\ \\n \\t or \\uXXXX',
            )
        )
        return str(tok)[1:-1]
    return value


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    def __init__(self, file: str, diags: list[Diagnostic], lines: list[str]):
        super().__init__()
        self.file = file
        self.diags = diags
        self.lines = lines

    def _span(self, meta: LarkMeta) -> Span:
        return _meta_span(meta, self.file)

    # -- top level --
    def start(self, meta: LarkMeta, children: list[Any]) -> list[Any]:
        return children

    def predicate_def(self, meta: LarkMeta, c: list[Any]) -> ast.PredicateDef:
        name, body = c
        return ast.PredicateDef(str(name), body, self._span(meta), _token_span(name, self.file))

    def rule(self, meta: LarkMeta, c: list[Any]) -> ast.Rule:
        event_type: Token = c[0]
        name_tok: Token | None = c[1]
        meta_items = [x for x in c[2:] if isinstance(x, ast.Meta)]
        steps = [x for x in c[2:] if isinstance(x, ast.Step)]
        maps = next((x for x in c[2:] if isinstance(x, tuple)), ())
        reset = "reset" in c[2:]
        name: ast.Literal | ast.Template | None = None
        header_end = event_type
        if name_tok is not None:
            name = self._template(name_tok)
            header_end = name_tok
        header = Span(
            self.file,
            event_type.line or 1,
            event_type.column or 1,
            header_end.end_line or 1,
            header_end.end_column or 1,
        )
        return ast.Rule(
            str(event_type),
            name,
            tuple(meta_items),
            tuple(steps),
            maps,
            reset,
            self._span(meta),
            header,
        )

    def event_type(self, meta: LarkMeta, c: list[Token]) -> Token:
        return c[0]

    def step_word(self, meta: LarkMeta, c: list[Token]) -> Token:
        return c[0]

    def bool(self, meta: LarkMeta, c: list[Token]) -> bool:
        return str(c[0]) == "true"

    def id_clause(self, meta: LarkMeta, c: list[Token]) -> ast.Meta:
        return ast.Meta("id", _decode_string(c[0], self.file, self.diags), self._span(meta))

    def description_clause(self, meta: LarkMeta, c: list[Token]) -> ast.Meta:
        value = _decode_string(c[0], self.file, self.diags)
        return ast.Meta("description", value, self._span(meta))

    def owner_clause(self, meta: LarkMeta, c: list[Token]) -> ast.Meta:
        return ast.Meta("owner", _decode_string(c[0], self.file, self.diags), self._span(meta))

    def tags_clause(self, meta: LarkMeta, c: list[Token | None]) -> ast.Meta:
        tags = tuple(_decode_string(t, self.file, self.diags) for t in c if t is not None)
        return ast.Meta("tags", tags, self._span(meta))

    def enabled_clause(self, meta: LarkMeta, c: list[bool]) -> ast.Meta:
        return ast.Meta("enabled", c[0], self._span(meta))

    def rule_within(self, meta: LarkMeta, c: list[Token]) -> ast.Meta:
        return ast.Meta("within", self._duration(c[0]), self._span(meta))

    def _duration(self, tok: Token) -> ast.Duration:
        m = _DURATION_RE.fullmatch(str(tok))
        assert m is not None  # the terminal guarantees the shape
        ms = float(m.group(1)) * _UNIT_MS[m.group(2)]
        return ast.Duration(str(tok), ms, _token_span(tok, self.file))

    def step(self, meta: LarkMeta, c: list[Any]) -> ast.Step:
        word, alias, kind, cond, within = c
        kind_text, kind_span = kind
        return ast.Step(
            str(word),
            str(alias) if alias is not None else None,
            kind_text,
            cond,
            self._duration(within) if within is not None else None,
            self._span(meta),
            _token_span(alias, self.file) if alias is not None else kind_span,
            kind_span,
        )

    def kind(self, meta: LarkMeta, c: list[Token]) -> tuple[str, Span]:
        return ".".join(str(t) for t in c), self._span(meta)

    def map_clause(self, meta: LarkMeta, c: list[ast.MapEntry]) -> tuple[ast.MapEntry, ...]:
        return tuple(c)

    def map_entry(self, meta: LarkMeta, c: list[Any]) -> ast.MapEntry:
        (target, target_span), value = c
        if isinstance(value, ast.Truthy):  # a plain value, parsed as a condition
            value = value.operand
        return ast.MapEntry(target, self._templatize(value), self._span(meta), target_span)

    def target(self, meta: LarkMeta, c: list[Token]) -> tuple[tuple[str, ...], Span]:
        parts = tuple(
            _decode_string(t, self.file, self.diags) if t.type == "STRING" else str(t) for t in c
        )
        return parts, self._span(meta)

    def reset_clause(self, meta: LarkMeta, c: list[Any]) -> str:
        return "reset"

    # -- predicates --
    def or_(self, meta: LarkMeta, c: list[Any]) -> ast.Pred:
        return c[0] if len(c) == 1 else ast.Or(tuple(c), self._span(meta))

    def and_(self, meta: LarkMeta, c: list[Any]) -> ast.Pred:
        return c[0] if len(c) == 1 else ast.And(tuple(c), self._span(meta))

    def not_(self, meta: LarkMeta, c: list[Any]) -> ast.Not:
        return ast.Not(c[0], self._span(meta))

    def compare(self, meta: LarkMeta, c: list[Any]) -> ast.Compare:
        left, (op, op_span), right = c
        return ast.Compare(op, left, right, self._span(meta), op_span)

    def cmp_op(self, meta: LarkMeta, c: list[Token]) -> tuple[str, Span]:
        return str(c[0]), _token_span(c[0], self.file)

    def matches(self, meta: LarkMeta, c: list[Any]) -> ast.Matches:
        left, tok = c
        text = str(tok)
        end = text.rindex("/")
        return ast.Matches(
            left, text[1:end], text[end + 1 :], self._span(meta), _token_span(tok, self.file)
        )

    def exists(self, meta: LarkMeta, c: list[Any]) -> ast.Exists:
        return ast.Exists(c[0], self._span(meta))

    def truthy(self, meta: LarkMeta, c: list[Any]) -> ast.Truthy:
        return ast.Truthy(c[0], self._span(meta))

    # -- values --
    def coalesce(self, meta: LarkMeta, c: list[Any]) -> ast.Expr:
        return c[0] if len(c) == 1 else ast.Coalesce(tuple(c), self._span(meta))

    def string(self, meta: LarkMeta, c: list[Token]) -> ast.Literal:
        return ast.Literal(_decode_string(c[0], self.file, self.diags), self._span(meta))

    def number(self, meta: LarkMeta, c: list[Token]) -> ast.Literal:
        return ast.Literal(_number(str(c[0])), self._span(meta))

    def boolean(self, meta: LarkMeta, c: list[bool]) -> ast.Literal:
        return ast.Literal(c[0], self._span(meta))

    def null(self, meta: LarkMeta, c: list[Any]) -> ast.Literal:
        return ast.Literal(None, self._span(meta))

    def list(self, meta: LarkMeta, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(x for x in c if x is not None), self._span(meta))

    def call(self, meta: LarkMeta, c: list[Any]) -> ast.Call:
        name: Token = c[0]
        # Arguments are parsed as predicates so that `if(a == b, x, y)` works; a plain value
        # arrives wrapped as Truthy and is unwrapped here. `if` keeps its condition as is.
        args: list[Any] = []
        for i, arg in enumerate(x for x in c[1:] if x is not None):
            is_condition = str(name) == "if" and i == 0
            if isinstance(arg, ast.Truthy) and not is_condition:
                arg = arg.operand
            args.append(arg)
        return ast.Call(str(name), tuple(args), self._span(meta), _token_span(name, self.file))

    def path(self, meta: LarkMeta, c: list[Any]) -> ast.Path:
        root: Token = c[0]
        return ast.Path(str(root), tuple(c[1:]), self._span(meta))

    def field(self, meta: LarkMeta, c: list[Token]) -> str:
        tok = c[0]
        return _decode_string(tok, self.file, self.diags) if tok.type == "STRING" else str(tok)

    def index(self, meta: LarkMeta, c: list[Token]) -> int:
        return int(str(c[0]))

    # -- templates --
    def _templatize(self, node: Any) -> Any:
        """Turn string literals with `{...}` holes inside a map value into Templates."""
        if isinstance(node, ast.Literal) and isinstance(node.value, str):
            return self._template_from_literal(node)
        if isinstance(node, ast.Call):
            return ast.Call(
                node.name,
                tuple(self._templatize(a) for a in node.args),
                node.span,
                node.name_span,
            )
        if isinstance(node, ast.Coalesce):
            return ast.Coalesce(tuple(self._templatize(a) for a in node.items), node.span)
        if isinstance(node, ast.ListExpr):
            return ast.ListExpr(tuple(self._templatize(a) for a in node.items), node.span)
        if isinstance(node, ast.Compare):
            return ast.Compare(
                node.op,
                self._templatize(node.left),
                self._templatize(node.right),
                node.span,
                node.op_span,
            )
        if isinstance(node, ast.Matches | ast.Exists | ast.Truthy):
            # Only the operand can hold a string; the regex itself is never a template.
            if isinstance(node, ast.Matches):
                return ast.Matches(
                    self._templatize(node.left),
                    node.pattern,
                    node.flags,
                    node.span,
                    node.regex_span,
                )
            return type(node)(self._templatize(node.operand), node.span)
        if isinstance(node, ast.Not):
            return ast.Not(self._templatize(node.operand), node.span)
        if isinstance(node, ast.And | ast.Or):
            return type(node)(tuple(self._templatize(i) for i in node.items), node.span)
        return node

    def _template(self, tok: Token) -> ast.Literal | ast.Template:
        lit = ast.Literal(_decode_string(tok, self.file, self.diags), _token_span(tok, self.file))
        return self._template_from_literal(lit)

    def _template_from_literal(self, lit: ast.Literal) -> ast.Literal | ast.Template:
        # Holes are found in the raw source text so that each hole's expression gets a span
        # that points at its own characters.
        span = lit.span
        raw = None
        if span.line == span.end_line and span is not ast.NO_SPAN:
            raw = self._raw_token_text(span)
        if raw is None or ("{" not in raw and "}" not in raw):
            return lit
        parts: list[str | ast.Expr] = []
        text: list[str] = []
        i, n = 1, len(raw) - 1  # inside the quotes
        while i < n:
            ch = raw[i]
            if ch == "\\":
                j = i + 2
                if raw[i + 1] == "u":
                    j = i + 6
                try:
                    text.append(json.loads('"' + raw[i:j] + '"') if j <= n else raw[i:j])
                except ValueError:  # a bad escape, already reported (E103) by _decode_string
                    return lit
                i = j
            elif ch == "{" and raw.startswith("{{", i):
                text.append("{")
                i += 2
            elif ch == "}" and raw.startswith("}}", i):
                text.append("}")
                i += 2
            elif ch == "{":
                close = raw.find("}", i)
                if close < 0 or close >= n:
                    self.diags.append(
                        error(
                            "E104",
                            "unclosed `{` in template string",
                            Span(
                                self.file,
                                span.line,
                                span.column + i,
                                span.line,
                                span.column + i + 1,
                            ),
                            "write a literal brace as `{{`",
                        )
                    )
                    return lit
                if text:
                    parts.append(_join_text(text))
                    text = []
                hole = self._parse_hole(raw[i + 1 : close], span.line, span.column + i + 1)
                if hole is None:
                    return lit
                parts.append(hole)
                i = close + 1
            elif ch == "}":
                self.diags.append(
                    error(
                        "E104",
                        "unmatched `}` in template string",
                        Span(self.file, span.line, span.column + i, span.line, span.column + i + 1),
                        "write a literal brace as `}}`",
                    )
                )
                return lit
            else:
                text.append(ch)
                i += 1
        if text:
            parts.append(_join_text(text))
        if not any(not isinstance(p, str) for p in parts):
            return ast.Literal("".join(p for p in parts if isinstance(p, str)), span)
        return ast.Template(tuple(parts), span)

    def _raw_token_text(self, span: Span) -> str | None:
        if span.line > len(self.lines):
            return None
        line = self.lines[span.line - 1]
        return line[span.column - 1 : span.end_column - 1]

    def _parse_hole(self, text: str, line: int, column: int) -> ast.Expr | None:
        hole_span = Span(self.file, line, column, line, column + max(1, len(text)))
        if not text.strip():
            self.diags.append(
                error("E104", "empty `{}` in template string", hole_span, "write `{{}}` for braces")
            )
            return None
        try:
            tree = _lark().parse(text, start="value")
        except UnexpectedInput as exc:
            col = column + max(0, (getattr(exc, "column", 1) or 1) - 1)
            self.diags.append(
                error(
                    "E104",
                    f"invalid expression in template hole `{{{text}}}`",
                    Span(self.file, line, col, line, col + 1),
                    "a hole holds a path such as `{click.target.innerText}`",
                )
            )
            return None
        shifted = _Builder(self.file, self.diags, [text])
        expr = shifted.transform(tree)
        return _shift(expr, line, column - 1)


def _join_text(chunks: list[str]) -> str:
    # Template escapes are decoded one by one, so `\ud83d\ude00` arrives as two surrogate halves.
    joined = "".join(chunks)
    return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _shift(node: Any, line: int, offset: int) -> Any:
    """Move spans of a hole parsed on its own to where the hole sits in the file."""
    if isinstance(node, tuple):
        return tuple(_shift(n, line, offset) for n in node)
    if not hasattr(node, "__dataclass_fields__"):
        return node
    changes: dict[str, Any] = {}
    for name in node.__dataclass_fields__:
        value = getattr(node, name)
        if isinstance(value, Span):
            changes[name] = Span(
                value.file, line, value.column + offset, line, value.end_column + offset
            )
        elif isinstance(value, tuple) or hasattr(value, "__dataclass_fields__"):
            changes[name] = _shift(value, line, offset)
    return type(node)(**{n: changes.get(n, getattr(node, n)) for n in node.__dataclass_fields__})
