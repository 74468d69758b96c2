"""A built-in that cannot run says what it needs: priority-pool on a 4-pool cluster."""

from __future__ import annotations

from simulator.generator import generate_trace
from simulator.params import load_params
from tools.builtins import failure_text
from traces.builtin_runs import BuiltinRun, run_builtin


def test_priority_pool_on_four_pools_says_it_needs_exactly_two() -> None:
    params = load_params({"duration": 5, "num_pools": 4, "num_pipelines": 2, "random_seed": 3})
    run = run_builtin(params, generate_trace(params), "priority-pool")
    assert run.stats is None and "requires 2 pools" in (run.error or "")
    text = failure_text(run, dict(params))
    assert text == "priority-pool needs exactly 2 pools; this cluster has 4 (it cannot run here)"
    assert failure_text(run, dict(params), detail=True) == text


def test_other_failures_keep_the_simulators_words() -> None:
    run = BuiltinRun(None, None, "Overallocated CPU in pool 0", "tick 5: Overallocated CPU")
    assert failure_text(run) == "Overallocated CPU in pool 0"
    assert failure_text(run, detail=True) == "tick 5: Overallocated CPU"
    assert failure_text(BuiltinRun(None)) == "no result"
