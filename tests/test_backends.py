"""The two backends: plan format, generated modules, isolation, and their agreement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import evrule
from evrule.compiler.backends.python import generate
from evrule.compiler.ir import Plan
from evrule.runtime.core import dumps
from tests.helpers import brief, click, plan_of, request, response, run_all, signal

RULES = """
predicate cart_api = url glob "*/api/cart*" and method == "POST"

track "Add to Cart"
  id "cart.add"
  within 1m
  when click = interaction.click(target.innerText ==~ "add to cart")
  then req   = network.request(cart_api) within 2s
  then resp  = network.response(requestId == req.requestId and ok) within 10s
  map properties.product_id = resp.body.product.id
      properties.price      = number(resp.body.product.price)
      properties.currency   = resp.body.product.currency ?? "USD"
      properties.label      = "Clicked {click.target.innerText}"

track "Add to Cart Failed"
  id "cart.failed"
  when click = interaction.click(target.innerText ==~ "add to cart")
  then req   = network.request(cart_api) within 2s
  unless network.response(requestId == req.requestId and ok) within 5s
"""


def test_plan_is_deterministic_and_versioned() -> None:
    a, b = plan_of(RULES).dumps(), plan_of(RULES).dumps()
    assert a == b
    data = json.loads(a)
    assert data["format"] == "evrule-plan" and data["version"] == 1
    assert Plan.from_json(data).dumps() == a
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99 is not supported"):
        Plan.from_json(data)


def test_identical_predicates_are_shared_across_rules() -> None:
    plan = plan_of(RULES)
    first = [r.steps[0].atoms for r in plan.rules]
    assert first[0] == first[1]  # both rules start with the same atom, evaluated once
    texts = [json.dumps(a) for a in plan.atoms]
    assert len(texts) == len(set(texts))


def test_generated_module_is_deterministic(snapshot) -> None:
    src = generate(plan_of(RULES), "cart_rules")
    assert src == generate(plan_of(RULES), "cart_rules")
    # The compiled part, reviewed as a snapshot; LINEMAP's absolute line numbers move with the
    # embedded runtime and are tested on their own below.
    rules_part = src[src.index("# ---- compiled rules") : src.index("\nLINEMAP = {")]
    assert rules_part == snapshot


def test_generated_module_runs_with_only_the_standard_library(tmp_path: Path) -> None:
    module = tmp_path / "cart_rules.py"
    module.write_text(generate(plan_of(RULES), "cart_rules"), "utf-8")
    signals = [
        click("a1", 0, 1, "Add to Cart"),
        request("a1", 1, 2, "https://x/api/cart", "r1"),
        response(
            "a1", 2, 3, "https://x/api/cart", "r1", body={"product": {"id": "p1", "price": "5"}}
        ),
    ]
    script = (
        "import json, sys\n"
        "sys.path.insert(0, '.')\n"  # -I leaves the working folder off sys.path
        "import cart_rules\n"
        "assert 'evrule' not in sys.modules and 'lark' not in sys.modules\n"
        "m = cart_rules.create_matcher()\n"
        "events = m.feed_many(json.loads(sys.stdin.read())) + m.flush()\n"
        "print('\\n'.join(cart_rules.dumps(e) for e in events))\n"
    )
    # -I: isolated (no user site, no PYTHON* env), -S: no site-packages at all.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(signals),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = [dumps(e) for e in run_all(RULES, signals, "tables")]
    assert result.stdout.splitlines() == expected
    assert expected and json.loads(expected[0])["properties"]["price"] == 5


def test_generated_module_maps_back_to_rule_lines() -> None:
    module = evrule.api.python_module(plan_of(RULES), "cart_rules")
    source = generate(plan_of(RULES), "cart_rules").splitlines()
    price_line = next(i for i, line in enumerate(source, 1) if "properties', 'price'" in line)
    assert module.LINEMAP[price_line] == ("rules.evrule", 11)

    try:
        module._build_0([None, None, None], lambda message, line: None)
    except Exception as exc:  # a broken call on purpose: the traceback is inside the module
        assert module.rule_location(exc) is not None


HOSTILE = [
    "quote \" and \\\" and 'single'",
    "braces {not a hole} }} {{",
    "__import__('os').system('echo pwned')",
    "line\nbreak\r\nand\ttab",
    '"""; import os; """',
    "\\x00 \u2028 \u0000 ünïcödé 🎉",
    "{0.__class__}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_rule_strings_that_look_like_code_stay_data(text: str, tmp_path: Path) -> None:
    lit = json.dumps(text)
    brace_lit = json.dumps(text.replace("{", "{{").replace("}", "}}"))
    rules = f"""
track {brace_lit}
  id "hostile"
  when c = interaction.click(target.innerText == {lit} and target.id != {lit})
  map properties.text = {brace_lit}
      properties.glob = if(c.target.innerText glob {brace_lit}, "g", "n")
"""
    plan = plan_of(rules)
    source = generate(plan, "hostile")
    compile(source, "hostile.py", "exec")  # the module is valid Python whatever the text
    for backend in ("tables", "python"):
        (event,) = run_all(plan, [click("a1", 0, 1, text, id="x")], backend)
        assert event["event"] == text
        assert event["properties"]["text"] == text
    assert not (tmp_path / "pwned").exists()


def test_lazy_coalesce_and_if_agree() -> None:
    rules = """
track "Lazy"
  id "lazy"
  when c = interaction.click
  map properties.a = c.target.innerText ?? number("boom")
      properties.b = if(c.target.id exists, c.target.id, number("boom"))
"""
    for backend in ("tables", "python"):
        m = evrule.load(plan_of(rules), backend=backend)
        (event,) = m.feed(click("a1", 0, 1, "x", id="i"))
        assert event["properties"] == {"a": "x", "b": "i"}
        assert m.stats["warnings"] == 0, backend


def test_compiled_files_load_for_run(tmp_path: Path) -> None:
    plan = plan_of(RULES)
    (tmp_path / "plan.json").write_text(plan.dumps(), "utf-8")
    (tmp_path / "mod.py").write_text(generate(plan, "mod"), "utf-8")
    signals = [click("a1", 0, 1, "ADD TO CART"), request("a1", 1, 2, "https://x/api/cart", "r")]
    out = []
    for source in (tmp_path / "plan.json", tmp_path / "mod.py"):
        m = evrule.load(source)
        out.append([brief(e) for e in m.feed_many(signals) + m.flush()])
    assert out[0] == out[1] == [("Add to Cart Failed", "a1", [1, 2])]


def test_nav_signal_kinds_dispatch() -> None:
    rules = """
track "Any Interaction"
  id "any"
  when i = interaction

track "Submit"
  id "submit"
  when s = interaction.submit
"""
    submit = signal("interaction.submit", "a1", 0, 1, target={"formData": {}})
    change = signal("interaction.change", "a1", 1, 2, target={})
    for backend in ("tables", "python"):
        events = run_all(rules, [submit, change], backend)
        assert [brief(e) for e in events] == [
            ("Any Interaction", "a1", [1]),
            ("Submit", "a1", [1]),
            ("Any Interaction", "a1", [2]),
        ]
