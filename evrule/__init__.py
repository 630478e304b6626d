"""evrule: a code-first Event Builder for Segment signals.

>>> import evrule
>>> plan = evrule.compile(["rules/"])  # check + lower; raises CompileError  # doctest: +SKIP
>>> matcher = evrule.load(plan)  # or evrule.load("rules/", backend="python")  # doctest: +SKIP
>>> events = matcher.feed(signal) + matcher.flush()  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "check", "compile", "load"]


def __getattr__(name: str) -> object:
    # The API pulls in Lark and jinja2; import it on first use so `evrule.__version__` and the
    # runtime stay cheap to import.
    if name in ("check", "compile", "load"):
        from evrule import api

        return getattr(api, name)
    raise AttributeError(name)
