"""The facts a policy's author needs are said once, correctly, and the same way everywhere."""

from __future__ import annotations

import math
import re

import pytest

from agents import prompts
from sandbox.static_checks import ALLOWED_STDLIB, check_policy_source
from simulator.workload import SCALING_FUNCS
from tools import api_reference
from tools.policy_facts import SCALING_FORMULAS, allowed_imports, imports_text
from tools.run_probe import BASE, STRESS


@pytest.mark.parametrize("name", sorted(SCALING_FUNCS))
def test_each_scaling_formula_is_the_simulators_function(name: str) -> None:
    formula = SCALING_FORMULAS[name]
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 12, 32):
        for b in (1.0, 7.5, 40.0):
            said = eval(formula, {"n": n, "b": b, "min": min, "sqrt": math.sqrt,  # noqa: S307
                                  "log": math.log})
            assert said == pytest.approx(float(SCALING_FUNCS[name](n, b)), rel=1e-12), (n, b)
    assert set(SCALING_FORMULAS) == set(SCALING_FUNCS)


def test_one_list_of_allowed_imports_in_the_prompt_and_the_reference() -> None:
    assert allowed_imports() == (*ALLOWED_STDLIB, "numpy")
    coder, reference = prompts.coder_system(), api_reference.reference_text()
    assert imports_text() in coder and imports_text() in reference
    for text in (coder, reference):  # no second, different list anywhere
        assert len(re.findall(r"(?i)allowed imports", text)) == 1
    for module in allowed_imports():
        report = check_policy_source(f"import {module}\n" + _MINIMAL, "policy.py")
        assert not [f for f in report.errors if f.rule != "registration"], module
    report = check_policy_source("import time\n" + _MINIMAL, "policy.py")
    assert report.errors  # a module outside the list is rejected


def test_the_coder_is_told_what_it_would_otherwise_guess() -> None:
    coder = prompts.coder_system()
    for needle in ("`starved_classes`", "linear3: b / min(n, 3)", "exp: b / 2**min(n, 4)",
                   "OOM", "Nothing is retried for you", "FAILED", "EVERY tick",
                   "if not results and not pipelines: return [], []", "run_probe",
                   "draft='current'"):
        assert needle in coder, needle
    for name, over in STRESS.items():
        assert name in coder
        for key, value in over.items():
            assert f"{key}={value}" in coder
    for key, value in BASE.items():
        assert f"{key}={value}" in coder


def test_the_reference_carries_the_same_facts_and_still_fits(ctx: object) -> None:
    text = api_reference.reference_text()
    assert len(text) <= api_reference.LIMIT
    assert "sqrt: b / sqrt(n)" in text and "`starved_classes`" in text and "EVERY tick" in text


_MINIMAL = '''
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init


@register_scheduler_init(key="k")
def init(s):
    pass


@register_scheduler(key="k")
def schedule(s, results, pipelines):
    return [], []
'''
