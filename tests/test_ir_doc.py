"""docs/ir.md shows a real plan: the text must be what the compiler writes today."""

from __future__ import annotations

import re
from pathlib import Path

import evrule

DOC = (Path(__file__).resolve().parent.parent / "docs" / "ir.md").read_text("utf-8")


def test_ir_doc_example_is_current() -> None:
    rules = re.search(r"```evrule\n(.*?)```", DOC, re.S)
    plan = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert rules and plan
    compiled = evrule.compile({"cart.evrule": rules.group(1)})
    assert compiled.dumps() == plan.group(1)


def test_ir_doc_lists_every_node_tag() -> None:
    tags = {"lit", "get", "list", "tpl", "call", "if", "coalesce", "cmp", "re", "exists",
            "truthy", "not", "and", "or"}  # fmt: skip
    for tag in tags:
        assert f'["{tag}"' in DOC, tag
