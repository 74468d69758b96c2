"""Performance bounds (traces/bounds.py) are never beaten, are tight where they can be, and useful.

The validity property runs the real engine with every built-in policy and with random policies
(one of them exploits the quirks the relaxation has to allow for: fractional CPUs, and the
negative CPU time of ``log`` scaling below 1/e CPUs) and checks completions and latencies against
the bounds computed without simulating.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import textwrap
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from policyforge.commands.traces import bounds_command
from simulator.engine import SimulationResult, run_simulation
from simulator.errors import SimulatorError
from simulator.generator import generate_trace
from simulator.params import load_params
from simulator.trace_io import TraceOperator, TracePipeline, read_trace
from simulator.workload import OperatorState
from tests.simulator.test_engine_properties import RANDOM_POLICY, _params
from tests.simulator.test_engine_properties import traces as trace_strategy
from traces.bounds import Bounds, compute_bounds, max_jobs_by_deadline
from traces.suites import paper_params

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAPER = paper_params()

# Random single-op assignments with fractional CPUs and tight RAM; for log operators it sometimes
# picks the sliver of CPU that makes the operator take exactly one tick.
FRACTIONAL_POLICY = textwrap.dedent(
    """
    import math
    import random
    from eudoxia.executor.assignment import Assignment
    from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
    from eudoxia.workload.runtime_status import ASSIGNABLE_STATES

    @register_scheduler_init(key="random-fractional")
    def init(s):
        s.rng = random.Random({seed})
        s.queue = []

    def one_tick_log_cpu(seg, tl):
        io = int((seg.storage_read_gb / 20) / tl)
        if seg.cpu_scaling != "log" or io < 1 or seg.baseline_cpu_seconds <= 0:
            return None
        # int(cpu seconds / tl) = 1 - io: CPU time -(io - 0.5) ticks, below 1/e CPUs
        return math.exp(seg.baseline_cpu_seconds / (-(io - 0.5) * tl) - 1)

    @register_scheduler(key="random-fractional")
    def policy(s, results, pipelines):
        s.queue = [p for p in s.queue + list(pipelines)
                   if not p.runtime_status().is_pipeline_successful()]
        tl = s.executor.tick_length_secs
        out = []
        for pool in s.executor.pools:
            cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
            ready = [op for p in s.queue
                     for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, True)
                     if not any(op in a.ops for a in out)]
            s.rng.shuffle(ready)
            for op in ready:
                if cpu < 0.01 or (ram < 0.01 and not s.params["allow_memory_overcommit"]):
                    break
                seg = op.get_segments()[0]
                sliver = one_tick_log_cpu(seg, tl)
                if sliver is not None and sliver <= cpu and s.rng.random() < 0.7:
                    c, r = sliver, 20 * tl
                else:
                    whole = float(s.rng.randint(1, max(1, int(cpu))))
                    c = s.rng.choice([cpu, s.rng.uniform(0.05, cpu), whole])
                    r = seg.get_peak_memory_gb() * s.rng.choice([1.0, 1.0, 1.3]) + 0.001
                if not s.params["allow_memory_overcommit"]:
                    r = min(r, ram)
                c = min(c, cpu)
                out.append(Assignment([op], c, r, op.pipeline.priority, pool.pool_id,
                                      op.pipeline.pipeline_id))
                cpu -= c
                ram -= r
        return [], out
    """
)


def _run(params: dict[str, Any], trace: Any, policy: Any) -> SimulationResult | None:
    """The run, or None if it ended with a simulator error (a policy mistake, no container...)."""
    try:
        return run_simulation(params, trace, policy, keep_pipelines=True)
    except SimulatorError:
        return None


def _assert_never_beaten(result: SimulationResult, bounds: Bounds) -> None:
    assert len(result.pipelines) == bounds.arrivals, "run it with keep_pipelines=True"
    stats = result.stats
    completed_ops = sum(
        state is OperatorState.COMPLETED
        for p in result.pipelines
        for state in p.runtime_status().operator_states.values()
    )
    assert stats.pipelines_created == bounds.arrivals
    assert stats.pipelines_all.completion_count <= bounds.max_completed_pipelines
    assert completed_ops <= bounds.max_completed_operators
    assert stats.containers_completed <= bounds.max_completed_operators
    assert stats.throughput <= bounds.max_container_throughput + 1e-12
    assert_latency_scores_above_their_floors(result, bounds)
    tps = result.params["ticks_per_second"]
    for p in result.pipelines:
        status = p.runtime_status()
        if status.finish_tick is None:
            continue
        floor = bounds.min_latency_seconds[p.pipeline_id]
        assert floor is not None, f"{p.pipeline_id} completed although bounded as impossible"
        assert status.arrival_tick is not None
        latency = (status.finish_tick - status.arrival_tick) / tps
        assert latency >= floor - 1e-12, f"{p.pipeline_id}: latency {latency} < bound {floor}"


def assert_latency_scores_above_their_floors(result: SimulationResult, bounds: Bounds) -> None:
    """Both adjusted latencies and the unfinished pipelines are never below their floors."""
    stats = result.stats
    assert (stats.pipelines_all.arrival_count - stats.pipelines_all.completion_count
            >= bounds.min_unfinished_pipelines >= 0)
    plain = stats.adjusted_latency()
    if stats.pipelines_all.completion_count:
        assert bounds.min_adjusted_latency is not None
        assert plain >= bounds.min_adjusted_latency * (1 - 1e-9)
    penalised = stats.cli_adjusted_latency(float(result.params.get("max_job_seconds") or 0))
    if math.isfinite(penalised):
        assert bounds.min_adjusted_latency_penalised is not None
        assert penalised >= bounds.min_adjusted_latency_penalised * (1 - 1e-9) - 1e-9


def _policy_file(tmp_path_factory: Any, template: str, **fmt: Any) -> str:
    path = Path(tmp_path_factory.mktemp("pol")) / "policy.py"
    path.write_text(template.format(**fmt))
    return str(path)


# --- validity: no policy beats the bound -------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    tps=st.sampled_from([10, 100]),
    policy=st.sampled_from(
        ["naive", "priority", "priority-pool", "overbook", "random-fit", "random-fractional"]
    ),
    seed=st.integers(0, 10_000),
    overcommit=st.booleans(),
)
def test_no_policy_beats_the_bounds_on_random_traces_and_clusters(
    tmp_path_factory: Any, data: st.DataObject, tps: int, policy: str, seed: int, overcommit: bool
) -> None:
    extra: dict[str, Any] = {"allow_memory_overcommit": overcommit}
    if policy == "priority-pool":
        extra = {"num_pools": 2, "multi_operator_containers": True}
    elif policy == "overbook":
        extra = {"allow_memory_overcommit": True, "multi_operator_containers": False}
    elif policy == "random-fractional":
        extra["multi_operator_containers"] = False
    params = _params(cast(Any, data.draw), tps, **extra)
    trace = data.draw(trace_strategy(tps))
    runnable: str = policy
    if policy == "random-fit":
        runnable = _policy_file(
            tmp_path_factory,
            RANDOM_POLICY,
            seed=seed,
            clock_every=0,
            suspend_p=0.5,
            defer=False,
            aging=0,
            age_in="s",
        )
    elif policy == "random-fractional":
        runnable = _policy_file(tmp_path_factory, FRACTIONAL_POLICY, seed=seed)
    result = _run(params, trace, runnable)
    assume(result is not None)
    assert result is not None
    _assert_never_beaten(result, compute_bounds(trace, params))


@settings(max_examples=60, deadline=None)
@given(
    jobs=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 12)), max_size=7),
    per_tick=st.integers(1, 3),
)
def test_deadline_count_equals_brute_force(jobs: list[tuple[int, int]], per_tick: int) -> None:
    """Moore–Hodgson returns the largest set whose work released after τ fits after τ, for all τ."""

    def fits(subset: tuple[tuple[int, int], ...]) -> bool:
        return all(
            sum(w for r, w in subset if r >= tau) <= per_tick * (9 - tau + 1) for tau, _ in subset
        )

    best = max(
        (len(c) for k in range(len(jobs) + 1) for c in itertools.combinations(jobs, k) if fits(c)),
        default=0,
    )
    as_floats = [(r, float(w)) for r, w in jobs]
    assert max_jobs_by_deadline(as_floats, float(per_tick), 9) == best


# --- the relaxation's semantics, pinned by runs that meet the bound exactly --------------------


def _one_pipeline(*ops: TraceOperator, arrival: float = 0.0) -> list[TracePipeline]:
    return [TracePipeline("p1", arrival, "QUERY", list(ops))]


def _op(
    op_id: str,
    parents: list[str],
    baseline: float,
    scaling: str,
    storage: float,
    memory: float | None = None,
) -> TraceOperator:
    return TraceOperator(op_id, parents, baseline, scaling, memory, storage)


SMALL = {
    "duration": 20,
    "ticks_per_second": 10,
    "num_pools": 1,
    "cpus_per_pool": 8,
    "ram_gb_per_pool": 64,
}


def test_one_operator_on_an_empty_cluster_is_met_exactly_by_naive() -> None:
    # 50 GB read = 2.5 s = 25 ticks; linear3 with 8 CPUs: 6 s / 3 = 20 ticks; 45 ticks, latency 44
    trace = _one_pipeline(_op("a", [], 6.0, "linear3", 50.0), arrival=1.0)
    params = {**SMALL, "scheduler_algo": "naive"}
    bounds = compute_bounds(trace, params)
    assert bounds.min_latency_seconds == {"p1": 4.4}
    assert bounds.max_completed_pipelines == 1 == bounds.arrivals
    result = run_simulation(params, trace, "naive", keep_pipelines=True)
    assert result.stats.pipelines_all.completion_count == 1
    assert result.stats.pipelines_all.mean_latency_seconds == pytest.approx(4.4)
    _assert_never_beaten(result, bounds)


SAME_TICK_POLICY = textwrap.dedent(
    """
    @register_scheduler_init(key="same-tick")
    def init(s):
        pass

    @register_scheduler(key="same-tick")
    def policy(s, results, pipelines):
        out = []
        for p in pipelines:
            for op in p.values:  # parent first: its container is ticked first
                out.append(Assignment([op], 4, 10, p.priority, 0, p.pipeline_id))
        return [], out
    """
)


def test_a_child_can_start_in_the_tick_its_parent_finishes(tmp_path: Path) -> None:
    # a: 1 tick; b: 10 ticks, assigned in the same tick, starts once a completed within the tick
    trace = _one_pipeline(_op("a", [], 0.1, "const", 0.0), _op("b", ["a"], 1.0, "const", 0.0))
    bounds = compute_bounds(trace, SMALL)
    assert bounds.min_latency_seconds == {"p1": 0.9}  # 1 + 10 ticks - 2
    path = tmp_path / "same_tick.py"
    path.write_text(SAME_TICK_POLICY)
    result = run_simulation(SMALL, trace, str(path), keep_pipelines=True)
    assert result.stats.pipelines_all.mean_latency_seconds == pytest.approx(0.9)
    _assert_never_beaten(result, bounds)


def test_a_log_operator_on_a_sliver_of_cpu_can_finish_in_one_tick(tmp_path: Path) -> None:
    # 20 GB read = 10 ticks; at 8 CPUs log gives 5/(ln 8 + 1) s = 16 more ticks. At 0.002 CPUs
    # ln(n) + 1 < 0: the CPU part is -9 ticks and the whole operator takes 1 tick (2 GB).
    trace = _one_pipeline(_op("a", [], 5.0, "log", 20.0))
    bounds = compute_bounds(trace, SMALL)
    assert bounds.min_latency_seconds == {"p1": 0.0}
    path = tmp_path / "sliver.py"
    path.write_text(SAME_TICK_POLICY.replace("4, 10,", "0.002, 2.0,"))
    result = run_simulation(SMALL, trace, str(path), keep_pipelines=True)
    assert result.stats.pipelines_all.completion_count == 1
    assert result.stats.pipelines_all.mean_latency_seconds == 0.0


def test_an_operator_larger_than_a_pool_makes_its_pipeline_impossible() -> None:
    trace = _one_pipeline(_op("a", [], 1.0, "const", 5.0), _op("b", ["a"], 1.0, "const", 80.0))
    bounds = compute_bounds(trace, SMALL)
    assert bounds.min_latency_seconds == {"p1": None}
    assert bounds.max_completed_pipelines == 0
    assert bounds.max_completed_operators == 1  # a alone still fits


def test_pipelines_that_cannot_finish_before_the_end_are_not_counted() -> None:
    # 10 s of const work arriving at 15 s of a 20 s run
    trace = _one_pipeline(_op("a", [], 10.0, "const", 0.0), arrival=15.0)
    bounds = compute_bounds(trace, SMALL)
    assert bounds.min_latency_seconds == {"p1": 9.9}
    assert bounds.arrivals == 1
    assert bounds.max_completed_pipelines == 0 == bounds.max_completed_operators


def test_the_latency_floors_charge_what_can_never_complete_and_meet_naive_alone() -> None:
    # query p1: 4.4 s at the least (as above); batch p2 cannot fit a pool, so it never completes
    big = TracePipeline("p2", 0.0, "BATCH_PIPELINE", [_op("b", [], 1.0, "const", 80.0)])
    trace = [*_one_pipeline(_op("a", [], 6.0, "linear3", 50.0), arrival=1.0), big]
    bounds = compute_bounds(trace, {**SMALL, "max_job_seconds": 5})
    assert bounds.max_completed_pipelines == 1 and bounds.min_unfinished_pipelines == 1
    # penalised: weights 10 (query) and 1 (batch); p2 counts 2 x 5 s
    assert bounds.min_adjusted_latency_penalised == pytest.approx((10 * 4.4 + 1 * 10.0) / 11)
    # plain: 4.4 s divided by the best completion rate, 1 of 2
    assert bounds.min_adjusted_latency == pytest.approx(8.8)
    result = run_simulation({**SMALL, "max_job_seconds": 5}, trace, "naive")
    stats = result.stats
    assert stats.adjusted_latency() == pytest.approx(bounds.min_adjusted_latency)
    assert stats.cli_adjusted_latency(5) == pytest.approx(bounds.min_adjusted_latency_penalised)
    # no deadlines: both forms are Eudoxia's plain one, and so are their floors
    plain = compute_bounds(trace, SMALL)
    assert plain.min_adjusted_latency_penalised == plain.min_adjusted_latency == pytest.approx(8.8)


def test_no_pipeline_that_can_complete_leaves_no_latency_floor() -> None:
    trace = _one_pipeline(_op("a", [], 1.0, "const", 80.0))
    bounds = compute_bounds(trace, {**SMALL, "max_job_seconds": 5})
    assert bounds.min_adjusted_latency is None  # every policy's adjusted latency is infinite
    assert bounds.min_adjusted_latency_penalised == 10.0  # the one pipeline at 2 x 5 s
    assert bounds.min_unfinished_pipelines == 1
    assert bounds.scores()["min_unfinished_pipelines"] == 1
    assert "min_latency_seconds" not in bounds.scores()


# --- usefulness --------------------------------------------------------------------------------


def test_paper_setting_bound_is_far_below_the_arrivals_and_above_the_built_ins() -> None:
    trace = generate_trace(load_params(PAPER))
    bounds = compute_bounds(trace, PAPER)
    naive = run_simulation(PAPER, trace, "naive").stats.pipelines_all.completion_count
    priority = run_simulation(PAPER, trace, "priority").stats.pipelines_all.completion_count
    print(
        f"paper setting seed 10: bound {bounds.max_completed_pipelines} pipelines "
        f"({bounds.limits['pipelines']}), naive {naive}, priority {priority}, "
        f"arrivals {bounds.arrivals}; operators ≤ {bounds.max_completed_operators}"
    )
    assert bounds.arrivals == 630
    assert bounds.max_completed_pipelines <= 300
    assert (naive, priority) == (15, 71)
    assert priority <= bounds.max_completed_pipelines


# --- fixtures: built-ins and the cases' own policies never beat the bound ---------------------


def _fixture_runs() -> list[tuple[str, Path, str]]:
    runs = []
    cases = sorted((FIXTURES / "eudoxia").iterdir()) + sorted((FIXTURES / "spec_cases").iterdir())
    for case in cases:
        expected = case / "expected.json"
        if not expected.is_file() or "error_contains" in json.loads(expected.read_text()):
            continue
        params = load_params(case / "params.toml")
        policies = ["naive", "priority"]
        if params["num_pools"] == 2 and params["multi_operator_containers"]:
            policies.append("priority-pool")
        if params["allow_memory_overcommit"] and not params["multi_operator_containers"]:
            policies.append("overbook")
        if (case / "policy.py").is_file():
            policies.append(str(case / "policy.py"))
        runs += [(f"{case.parent.name}/{case.name}", case, p) for p in policies]
    return runs


def test_fixture_runs_exist() -> None:
    assert len({case for _, case, _ in _fixture_runs()}) >= 4 + 16


def test_built_ins_never_beat_the_bounds_on_the_fixtures() -> None:
    checked = 0
    for _name, case, policy in _fixture_runs():
        params_text = tomllib.loads((case / "params.toml").read_text())
        trace = read_trace(case / "trace.csv")
        result = _run(params_text, trace, policy)
        if result is None:
            continue
        _assert_never_beaten(result, compute_bounds(trace, params_text))
        checked += 1
    assert checked >= 40


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_json_has_the_bounds_per_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "eudoxia" / "naive_defaults_10m"
    assert bounds_command([str(case / "trace.csv"), str(case / "params.toml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = compute_bounds(read_trace(case / "trace.csv"), load_params(case / "params.toml"))
    assert out == json.loads(json.dumps(expected.to_dict()))
    for key in (
        "max_completed_pipelines",
        "max_completed_operators",
        "max_container_throughput",
        "min_latency_seconds",
        "arrivals",
    ):
        assert key in out
    assert set(out["min_latency_seconds"]) == {
        p.pipeline_id for p in read_trace(case / "trace.csv")
    }


def test_cli_table_names_each_bound(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "eudoxia" / "priority_defaults_10m"
    assert bounds_command([str(case / "trace.csv"), str(case / "params.toml")]) == 0
    out = capsys.readouterr().out
    assert "max completed pipelines" in out
    assert "max container throughput" in out
    assert "min latency s" in out
    bounds = compute_bounds(read_trace(case / "trace.csv"),
                            tomllib.loads((case / "params.toml").read_text()))
    assert f"min unfinished pipelines  {bounds.min_unfinished_pipelines} " in out
    assert f"min adjusted latency      {bounds.min_adjusted_latency:.3f} s" in out


@pytest.mark.parametrize("problem", ["missing trace", "bad params", "bad trace", "usage"])
def test_cli_errors_are_messages_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    case = FIXTURES / "eudoxia" / "naive_defaults_10m"
    trace, params = str(case / "trace.csv"), str(case / "params.toml")
    if problem == "missing trace":
        argv = [str(tmp_path / "nope.csv"), params]
    elif problem == "bad params":
        (tmp_path / "p.toml").write_text("num_pools = 'many'\n")
        argv = [trace, str(tmp_path / "p.toml")]
    elif problem == "bad trace":
        (tmp_path / "t.csv").write_text("pipeline_id,arrival_seconds\np1,x\n")
        argv = [str(tmp_path / "t.csv"), params]
    else:
        argv = [trace]
    assert bounds_command(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error:" in err


def test_bounds_do_not_depend_on_the_trace_order_of_equal_arrivals() -> None:
    """Sanity: shuffling pipelines that arrive together changes nothing."""
    trace = generate_trace(load_params({**PAPER, "duration": 60}))
    shuffled = list(trace)
    random.Random(1).shuffle(shuffled)
    shuffled.sort(key=lambda p: p.arrival_seconds)
    a = compute_bounds(trace, {**PAPER, "duration": 60}).to_dict()
    b = compute_bounds(shuffled, {**PAPER, "duration": 60}).to_dict()
    assert a == b
