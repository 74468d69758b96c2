"""Eudoxia's own regression cases, the paper's performance case, and run isolation."""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from simulator import simulate
from simulator.engine import run_simulation
from simulator.params import load_params
from traces.suites import paper_params

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eudoxia"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())
PAPER = paper_params()


def assert_same(expected: Any, actual: Any, path: str = "") -> None:
    """Eudoxia's comparator: same keys at every level, floats isclose 1e-9, NaN equals NaN."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(expected) == set(actual), f"{path}: keys differ"
        for key in expected:
            assert_same(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, float) or isinstance(actual, float):
        if math.isnan(expected):
            assert math.isnan(actual), path
        else:
            assert math.isclose(expected, actual, rel_tol=1e-9), f"{path}: {expected} != {actual}"
    else:
        assert expected == actual, f"{path}: {expected!r} != {actual!r}"


def same(a: Any, b: Any) -> bool:
    """Bit-identical statistics (NaN equal to NaN): compare their JSON text."""
    return json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize("case", CASES)
def test_eudoxia_regression_case_statistics_match_exactly(case: str) -> None:
    d = FIXTURES / case
    expected = json.loads((d / "expected.json").read_text())
    adjusted = expected.pop("adjusted_latency")
    stats = simulate(str(d / "params.toml"), trace=str(d / "trace.csv"))
    assert_same(expected, stats.to_dict())
    assert math.isclose(stats.adjusted_latency(), adjusted, rel_tol=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_tick_by_tick_reference_matches_eudoxia_too(case: str) -> None:
    d = FIXTURES / case
    expected = json.loads((d / "expected.json").read_text())
    expected.pop("adjusted_latency")
    result = run_simulation(str(d / "params.toml"), str(d / "trace.csv"), event_driven=False)
    assert_same(expected, result.stats.to_dict())


@pytest.mark.parametrize("case", CASES)
def test_builtins_need_no_state_comparison_to_skip_exactly(case: str) -> None:
    """Built-ins skip on trust; comparing their state as for user policies changes nothing."""
    from simulator.engine import Simulation, workload_arrivals
    from simulator.policy_loader import resolve_policy

    d = FIXTURES / case
    params = load_params(d / "params.toml")
    arrivals = workload_arrivals(params, d / "trace.csv")
    trusted = Simulation(params, arrivals, resolve_policy(None, params)).run()
    checked = Simulation(
        params, arrivals, resolve_policy(None, params), quiet_idempotent=False
    ).run()
    assert same(trusted.stats, checked.stats)
    # checking is conservative (it backs off after busy calls), so it can only add ticks
    assert trusted.counters.full_ticks <= checked.counters.full_ticks


def test_paper_setting_naive_matches_eudoxia_figures() -> None:
    s = simulate(dict(PAPER, scheduler_algo="naive"))
    assert (s.pipelines_created, s.containers_completed, s.assignments, s.failures) == (
        630,
        148,
        148,
        0,
    )
    assert s.pipelines_all.completion_count == 15
    assert s.pipelines_all.mean_latency_seconds == 239.98413333333332
    assert s.pipelines_all.p99_latency_seconds == 438.3346199999999
    assert s.p99_latency == 6.75
    assert round(s.cli_adjusted_latency(0), 2) == 10079.33


def test_paper_setting_priority_matches_eudoxia_figures() -> None:
    s = simulate(dict(PAPER, scheduler_algo="priority"))
    assert (s.containers_completed, s.assignments, s.failures, s.suspensions) == (454, 1399, 935, 0)
    assert s.failure_error_counts == {"OOM": 935}
    assert s.pipelines_all.completion_count == 71
    assert s.pipelines_all.mean_latency_seconds == 10.693774647887324
    assert s.pipelines_all.p99_latency_seconds == 59.16869999999996
    assert s.pipelines_query.mean_latency_seconds == 7.183603174603175
    assert s.pipelines_query.p99_latency_seconds == 8.68262
    assert s.pipelines_interactive.mean_latency_seconds == 38.336375
    assert s.pipelines_interactive.p99_latency_seconds == 67.21317
    assert round(s.cli_adjusted_latency(0), 2) == 80.24


def test_generated_and_replayed_paper_trace_agree_for_this_case(tmp_path: Path) -> None:
    from simulator.generator import generate_trace
    from simulator.trace_io import write_trace

    params = load_params(dict(PAPER, scheduler_algo="priority"))
    write_trace(generate_trace(params), tmp_path / "paper.csv")
    replayed = simulate(params, trace=str(tmp_path / "paper.csv"))
    assert same(replayed, simulate(params))


def test_doubling_ticks_per_second_does_not_double_the_work() -> None:
    """Cost follows events: the engine's full ticks barely change with 10x the tick rate."""
    from simulator.generator import generate_trace

    base = load_params(dict(PAPER, scheduler_algo="priority"))
    trace = generate_trace(base)
    slow = run_simulation(base, trace)
    fast = run_simulation(dict(base, ticks_per_second=10_000), trace)
    assert fast.counters.full_ticks < 1.3 * slow.counters.full_ticks
    assert slow.counters.full_ticks < 0.01 * 600_000


def test_each_run_is_self_contained(tmp_path: Path) -> None:
    d = FIXTURES / "naive_defaults_10m"
    policy = tmp_path / "fifo.py"
    policy.write_text(
        textwrap.dedent(
            """
            from eudoxia.scheduler.decorators import register_scheduler_init, register_scheduler
            from eudoxia.executor.assignment import Assignment
            from eudoxia.workload.runtime_status import ASSIGNABLE_STATES

            SEEN = []

            @register_scheduler_init(key="fifo")
            def init(s):
                s.queue = []

            @register_scheduler(key="fifo")
            def fifo(s, results, pipelines):
                s.queue.extend(pipelines)
                out = []
                for pool in s.executor.pools:
                    for c in pool.active_containers:
                        SEEN.append(c.container_id)
                    if s.queue and pool.avail_cpu_pool > 0 and not pool.active_containers:
                        p = s.queue.pop(0)
                        ops = p.runtime_status().get_ops(ASSIGNABLE_STATES)
                        out.append(Assignment(ops, pool.avail_cpu_pool, pool.avail_ram_pool,
                                              p.priority, pool.pool_id, p.pipeline_id))
                return [], out
            """
        )
    )
    first = run_simulation(
        str(d / "params.toml"), str(d / "trace.csv"), str(policy), record_decisions=True
    )
    second = run_simulation(
        str(d / "params.toml"), str(d / "trace.csv"), str(policy), record_decisions=True
    )
    assert same(first.stats, second.stats)
    assert first.decisions == second.decisions
    assert first.pipeline_ticks[0][1] == 0  # the first pipeline arrives at tick 0
    assert not any(name == "eudoxia" or name.startswith("eudoxia.") for name in sys.modules)


def test_container_ids_start_at_c1_in_every_run(tmp_path: Path) -> None:
    from simulator.engine import Simulation, workload_arrivals
    from simulator.policy_loader import load_policy_file

    d = FIXTURES / "naive_defaults_10m"
    policy = tmp_path / "spy.py"
    policy.write_text(
        textwrap.dedent(
            """
            SEEN = []

            @register_scheduler_init(key="spy")
            def init(s):
                s.queue = []

            @register_scheduler(key="spy")
            def spy(s, results, pipelines):
                SEEN.extend(r.container_id for r in results)
                s.queue.extend(pipelines)
                pool = s.executor.pools[0]
                if s.queue and not pool.active_containers:
                    p = s.queue.pop(0)
                    ops = p.runtime_status().get_ops(ASSIGNABLE_STATES)
                    return [], [Assignment(ops, 8, 100, p.priority, 0, p.pipeline_id)]
                return [], []
            """
        )
    )
    params = load_params(d / "params.toml")
    seen = []
    for _ in range(2):
        loaded = load_policy_file(policy)
        Simulation(params, workload_arrivals(params, d / "trace.csv"), loaded).run()
        assert loaded.module is not None
        seen.append(list(loaded.module.SEEN))
    assert seen[0][:3] == ["c1", "c2", "c3"]
    assert seen[0] == seen[1]
