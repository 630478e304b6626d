"""Click option types and option groups shared by the commands (`run`, `explain`, `test`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}

F = TypeVar("F", bound=Callable[..., Any])


class DurationType(click.ParamType):
    """`500ms`, `2s`, `30m`, `1h`, `7d` as milliseconds, spelled as in rules."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        m = _DURATION.match(str(value).strip())
        if not m:
            self.fail(f"{value!r} is not a duration like 500ms, 2s, 30m, 1h", param, ctx)
        return float(m.group(1)) * _UNIT_MS[m.group(2)]


DURATION = DurationType()


def matcher_options(func: F) -> F:
    """The options that shape matching, identical wherever signals are matched, so that
    `evrule explain` with the options of an `evrule run` sees exactly that run."""
    options = [
        click.option("--key", default="anonymousId", show_default=True,
                     help="Envelope field that keeps matches apart (userId, context.sessionId)."),
        click.option("--sort", "sort_input", is_flag=True,
                     help="Order the input by (timestamp, index) before matching."),
        click.option("--max-partials", type=click.IntRange(min=1), default=32, show_default=True,
                     help="Pending partial matches kept per key and rule; the oldest is evicted."),
        click.option("--max-span", type=DURATION, default="30m", show_default=True,
                     help="Longest a match may take when its rule has no `within`."),
        click.option("--lateness", type=DURATION, default="0s", show_default=True,
                     help="How far behind the newest timestamp a signal may arrive."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


input_option = click.option(
    "-i",
    "--input",
    "input_path",
    default="-",
    show_default=True,
    help="Signals as JSON Lines (raw signals or Segment debug batches); - is stdin.",
)
"""`-i/--input`, read the same way by `run` and `explain`."""
