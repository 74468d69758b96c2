"""A run frees itself by reference counting, and what its result is read for survives."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from simulator.engine import run_simulation
from simulator.errors import ReplayError
from simulator.generator import generate_trace
from simulator.params import load_params
from simulator.workload import Operator
from traces.bounds import bound_fractions, compute_bounds


def _params() -> dict[str, Any]:
    return load_params(
        {"duration": 120, "ticks_per_second": 100, "num_pipelines": 4, "random_seed": 3,
         "num_pools": 1, "cpus_per_pool": 32, "ram_gb_per_pool": 256}
    )


def _live_operators() -> int:
    return sum(type(o) is Operator for o in gc.get_objects())


@pytest.mark.parametrize("kind", ["run", "replay"])
def test_a_finished_run_leaves_no_operator_for_the_cyclic_collector(kind: str) -> None:
    params = _params()
    trace = generate_trace(params)
    operators = sum(len(p.operators) for p in trace)
    log = run_simulation(params, trace, "priority", record_decisions=True).decisions
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = _live_operators()
        if kind == "run":
            result = run_simulation(params, trace, "priority", record_decisions=True,
                                    keep_pipelines=True)
        else:
            result = run_simulation(params, trace, None, replay=log, keep_pipelines=True)
        del result
        left = _live_operators() - before
    finally:
        if was_enabled:
            gc.enable()
    # only operators still inside a container at the end may wait for the collector
    assert operators > 100
    assert left < operators // 10, f"{left} of {operators} operators were left to the collector"


def test_a_replays_pipelines_keep_ids_priorities_ticks_and_operator_states() -> None:
    params = _params()
    trace = generate_trace(params)
    run = run_simulation(params, trace, "priority", record_decisions=True, keep_pipelines=True)
    replay = run_simulation(params, trace, None, replay=run.decisions, keep_pipelines=True)
    assert [(p.pipeline_id, p.priority) for p in replay.pipelines] == [
        (p.pipeline_id, p.priority) for p in run.pipelines
    ]
    ticks = [(p.runtime_status().arrival_tick, p.runtime_status().finish_tick)
             for p in replay.pipelines]
    assert ticks == [(p.runtime_status().arrival_tick, p.runtime_status().finish_tick)
                     for p in run.pipelines]
    assert any(finish is not None for _, finish in ticks)
    assert [list(p.runtime_status().operator_states.values()) for p in replay.pipelines] == [
        list(p.runtime_status().operator_states.values()) for p in run.pipelines
    ]
    assert [len(list(p.values)) for p in replay.pipelines] == [len(p.operators) for p in trace]
    assert replay.pipeline_ticks == run.pipeline_ticks == [
        (p.pipeline_id, *t) for p, t in zip(run.pipelines, ticks, strict=True)]
    bounds = compute_bounds(trace, params)
    assert bound_fractions(replay, bounds) == bound_fractions(run, bounds)
    assert bound_fractions(replay, bounds)["latency"] is not None


def test_a_run_keeps_no_pipelines_unless_asked_and_always_their_ticks() -> None:
    params = _params()
    trace = generate_trace(params)
    result = run_simulation(params, trace, "priority")
    assert result.pipelines == []
    assert [pid for pid, _, _ in result.pipeline_ticks] == [p.pipeline_id for p in trace]
    finished = [(a, f) for _, a, f in result.pipeline_ticks if f is not None]
    assert len(finished) == result.stats.pipelines_all.completion_count
    assert all(f >= a for a, f in finished)


@pytest.mark.parametrize("ref", [[-1, 0], [0, -1], [0, 999], [99999, 0]])
def test_a_log_naming_an_operator_that_never_arrived_does_not_replay(ref: list[int]) -> None:
    params = _params()
    trace = generate_trace(params)
    log = run_simulation(params, trace, "priority", record_decisions=True).decisions
    assert log
    first = next(e for e in log if e["assignments"])
    first["assignments"][0]["ops"][0] = ref
    with pytest.raises(ReplayError, match="has not arrived"):
        run_simulation(params, trace, None, replay=log)
