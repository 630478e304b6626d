"""The checker's checks: one registered class per diagnostic code.

A check is a small class with a stable `code`, a `severity` and a one-line `description`. It
looks at one file (`check_module`), one rule (`check_rule`) or, once everything has been seen,
the whole rule set (`finalize`), and yields diagnostics; it never stops at the first problem.
The families live in their own modules and register themselves on import:

- `syntax_shape`: step order and structure, header clauses;
- `names`: kinds, aliases, fields, functions, predicates, map targets, required fields;
- `types`: operator and function argument types, arity, regular expressions, durations,
  contradictions;
- `project`: problems across files (duplicate ids, duplicate event names).

Adding a check is adding one class here and one fixture under `tests/fixtures/diagnostics/`::

    @register
    class EmptyDescription(Check):
        code = "W299"
        severity = Severity.WARNING
        description = "empty `description`"

        def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
            if rule.meta_value("description") == "":
                yield self.diag("empty description", rule.header_span)

A fresh instance of every check is made for each run, so a check may keep state between its
`check_rule` calls and `finalize` (see `project.DuplicateRuleId`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, TypeVar

from evrule.compiler import ast
from evrule.compiler.checks.context import Context
from evrule.compiler.diagnostics import Diagnostic, Severity, Span

__all__ = ["REGISTRY", "Check", "Context", "register"]


class Check:
    """Base class of every check; override the hooks you need (each yields nothing by default)."""

    code: ClassVar[str]
    severity: ClassVar[Severity]
    description: ClassVar[str]

    def check_module(self, ctx: Context, module: ast.Module) -> Iterable[Diagnostic]:
        """Problems in one file as a whole (called once per module, before its rules)."""
        return ()

    def check_rule(self, ctx: Context, rule: ast.Rule) -> Iterable[Diagnostic]:
        """Problems in one rule; `ctx.scope(rule)` knows its module, aliases and kinds."""
        return ()

    def finalize(self, ctx: Context) -> Iterable[Diagnostic]:
        """Problems across files, after every module and rule has been seen."""
        return ()

    def diag(self, message: str, span: Span, hint: str | None = None) -> Diagnostic:
        """A diagnostic with this check's code and severity."""
        return Diagnostic(self.code, self.severity, message, span, hint)


REGISTRY: dict[str, type[Check]] = {}
"""Every registered check by code, in registration order (`checker.check` runs them all)."""

C = TypeVar("C", bound=type[Check])


def register(cls: C) -> C:
    """Class decorator that adds a check to `REGISTRY`; a code may be registered only once."""
    for attr in ("code", "severity", "description"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} has no `{attr}`")
    if cls.code in REGISTRY:
        raise ValueError(f"code {cls.code} is registered twice ({REGISTRY[cls.code].__name__})")
    REGISTRY[cls.code] = cls
    return cls


# The families import this module for `Check` and `register`, so they are imported last; importing
# them fills REGISTRY.
from evrule.compiler.checks import names, project, syntax_shape, types  # noqa: E402, F401
