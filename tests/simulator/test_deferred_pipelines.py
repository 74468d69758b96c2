"""A trace pipeline's operators are built on first read, and look as if built at arrival.

Most pipelines of a saturated run wait, time out or stay queued, and no one reads their
operators: building them only when read is most of a `naive` run's time saved. Everything a
policy, the engine or a reader of the result can see must be the same as with operators built at
arrival.
"""

from __future__ import annotations

import pytest

from simulator.engine import build_pipeline, run_simulation
from simulator.generator import generate_trace
from simulator.params import load_params
from simulator.trace_io import TraceOperator, TracePipeline
from simulator.workload import OperatorState, Pipeline, Priority
from traces.suites import paper_params

SPEC = TracePipeline(
    "p1",
    0.0,
    "QUERY",
    [
        TraceOperator("a", [], 1.0, "const", None, 1.0),
        TraceOperator("b", ["a"], 2.0, "linear3", 4.0, 0.0),
        TraceOperator("c", ["a"], 1.0, "const", None, 2.0),
        TraceOperator("d", ["b", "c"], 1.0, "sqrt", 1.0, 0.0),
    ],
)


def _eager(spec: TracePipeline) -> Pipeline:
    p = build_pipeline(spec, 3)
    p.values  # noqa: B018 - built now
    return p


def test_nothing_is_built_until_read_and_counts_need_no_operators() -> None:
    p = build_pipeline(SPEC, 3)
    status = p.runtime_status()
    assert not p.built
    assert status.state_counts[OperatorState.PENDING] == 4
    assert not status.is_pipeline_successful()
    assert not p.built, "counting states built the operators"
    assert not status.has_timed_out()
    assert not p.built


def test_operators_built_late_equal_operators_built_at_arrival() -> None:
    late, eager = build_pipeline(SPEC, 3), _eager(SPEC)
    late_status = late.runtime_status()
    # the status exists before the operators; its tables are made on first read
    assert not late.built
    ops = late_status.get_ops(OperatorState.PENDING)
    assert late.built
    assert [op._ref for op in ops] == [op._ref for op in eager.values] == [
        (3, 0), (3, 1), (3, 2), (3, 3)
    ]
    assert [op._ref for op in late_status.get_ops(OperatorState.PENDING, True)] == [(3, 0)]
    for a, b in zip(late.values, eager.values, strict=True):
        assert a.pipeline is late and b.pipeline is eager
        assert [p._ref for p in a.parents] == [p._ref for p in b.parents]
        assert [c._ref for c in a.children] == [c._ref for c in b.children]
        sa, sb = a.values[0], b.values[0]
        assert (sa.baseline_cpu_seconds, sa.cpu_scaling, sa.memory_gb, sa.storage_read_gb) == (
            sb.baseline_cpu_seconds, sb.cpu_scaling, sb.memory_gb, sb.storage_read_gb)
    assert list(late_status.operator_states.values()) == [OperatorState.PENDING] * 4
    assert late_status._blocked == {op: len(op.parents) for op in late.values}


@pytest.mark.parametrize("keep", [True, False])
def test_detach_builds_only_what_is_kept(keep: bool) -> None:
    p = build_pipeline(SPEC, 0)
    status = p.runtime_status()
    p.detach(keep)
    assert p.built is keep
    assert status.pipeline is None
    if keep:  # a kept pipeline is read after the run: states and operators are there
        assert list(status.operator_states.values()) == [OperatorState.PENDING] * 4
        assert all(op.pipeline is None and not op.parents for op in p.values)


def test_a_kept_run_reads_every_pipeline_and_equals_its_statistics() -> None:
    params = load_params(dict(paper_params(), duration=120))
    trace = generate_trace(params)
    kept = run_simulation(params, trace, "naive", keep_pipelines=True)
    dropped = run_simulation(params, trace, "naive")
    assert str(kept.stats) == str(dropped.stats)
    assert len(kept.pipelines) == len(trace)
    assert all(p.built for p in kept.pipelines)
    completed = sum(p.runtime_status().is_pipeline_successful() for p in kept.pipelines)
    assert completed == kept.stats.pipelines_all.completion_count
    for p, spec in zip(kept.pipelines, trace, strict=True):
        assert len(p.runtime_status().operator_states) == len(spec.operators)


def test_a_build_that_fails_leaves_no_half_built_pipeline() -> None:
    calls = []

    def broken(p: Pipeline) -> None:
        calls.append(1)
        p.new_operator()
        raise RuntimeError("boom")

    p = Pipeline.deferred("p", Priority.QUERY, 2, broken)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="boom"):
            p.values  # noqa: B018
        assert not p.built
    assert calls == [1, 1]
