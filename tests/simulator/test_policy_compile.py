"""A policy file's compiled code is kept per (name, source) in the process: loading the same
file again costs a lookup, and each load still runs its module afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import PolicyLoadError
from simulator.policy_loader import compile_policy, load_policy_file

POLICY = '''
COUNT = []

@register_scheduler_init(key="kept")
def init(s):
    COUNT.append(1)

@register_scheduler(key="kept")
def policy(s, results, pipelines):
    return [], []
'''


def test_the_same_source_compiles_once_and_each_load_gets_a_fresh_module(tmp_path: Path):
    path = tmp_path / "kept.py"
    path.write_text(POLICY)
    first, second = load_policy_file(path), load_policy_file(path)
    assert first.module is not second.module
    assert first.module.COUNT is not second.module.COUNT  # the module ran again
    assert first.func.__code__ is second.func.__code__  # from the one compiled code
    path.write_text(POLICY + "\nEXTRA = 1\n")
    third = load_policy_file(path)
    assert third.func.__code__ is not first.func.__code__  # another source: compiled anew


def test_the_same_source_under_another_name_is_compiled_for_that_name():
    a = compile_policy(POLICY, "a.py")[0]
    b = compile_policy(POLICY, "b.py")[0]
    assert (a.co_filename, b.co_filename) == ("a.py", "b.py")


def test_a_source_that_does_not_compile_raises_every_time():
    for _ in range(2):
        with pytest.raises(PolicyLoadError, match="syntax error"):
            compile_policy("def (:", "broken.py")
