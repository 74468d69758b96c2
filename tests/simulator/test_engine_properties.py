"""The event-driven engine equals plain tick-by-tick stepping, and replay equals the original run.

Random small traces and clusters, run with the built-in policies and with random policies that
assign, suspend, read the clock and rebuild their queues. Every field of the statistics (the
memory means included) must be identical, as must the decision logs and any error.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine import run_simulation
from simulator.errors import SimulatorError
from simulator.trace_io import TraceOperator, TracePipeline

SCALINGS = ("const", "log", "sqrt", "linear3", "linear7", "squared", "exp")
PRIORITIES = ("QUERY", "INTERACTIVE", "BATCH_PIPELINE")

RANDOM_POLICY = textwrap.dedent(
    """
    import random
    from eudoxia.executor.assignment import Assignment, Suspend
    from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
    from eudoxia.workload.runtime_status import ASSIGNABLE_STATES

    SEED = {seed}
    CLOCK_EVERY = {clock_every}
    SUSPEND_P = {suspend_p}
    DEFER = {defer}
    AGING = {aging}
    AGE_IN = "{age_in}"  # where the age is kept: on s, in a class, a closure, on a pipeline
    OVERBOOK = 0  # more RAM than the pool has, in pools' sizes (OVERBOOK_POLICY sets it)


    class Ages:
        n = 0


    def _counter():
        n = 0

        def bump(reset):
            nonlocal n
            n = 0 if reset else n + 1
            return n

        return bump


    bump = _counter()


    def grow_older(s, reset):
        if AGE_IN == "class":
            Ages.n = 0 if reset else Ages.n + 1
            return Ages.n
        if AGE_IN == "closure":
            return bump(reset)
        if AGE_IN == "pipeline" and s.queue:  # on a simulator object
            head = s.queue[0]
            head.pf_age = 0 if reset else head.__dict__.get("pf_age", 0) + 1
            return head.pf_age
        s.age = 0 if reset else s.age + 1
        return s.age

    @register_scheduler_init(key="random-fit")
    def init(s):
        s.rng = random.Random(SEED)
        s.queue = []
        s.calls_with_work = 0
        s.age = 0

    @register_scheduler(key="random-fit")
    def policy(s, results, pipelines):
        s.queue = s.queue + list(pipelines)
        # rebuild the queue every call (equal by value when nothing changed)
        s.queue = [p for p in s.queue if not p.runtime_status().is_pipeline_successful()]
        if AGING:
            # age by call count: act only every AGING-th call after new work arrives
            if grow_older(s, bool(pipelines)) % AGING != AGING - 1:
                return [], []
        if DEFER and (pipelines or results):
            return [], []  # act only on the next tick with no new input
        if CLOCK_EVERY and s.queue and s.clock.now_ticks() % CLOCK_EVERY != 0:
            return [], []
        suspensions = []
        for pool in s.executor.pools:
            for c in pool.active_containers:
                if c.can_suspend_container() and s.rng.random() < SUSPEND_P:
                    suspensions.append(Suspend(c.container_id, pool.pool_id))
        assignments = []
        for pool in s.executor.pools:
            cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
            if OVERBOOK and s.params["allow_memory_overcommit"]:
                # promise more RAM than the pool has: the pool's OOM killer must step in
                ram = max(ram, 0) + OVERBOOK * pool.max_ram_pool
            ready = [
                op
                for p in s.queue
                for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, True)
                if not any(op in a.ops for a in assignments)
            ]
            while ready and cpu >= 1 and ram >= 1:
                op = ready.pop(s.rng.randrange(len(ready)))
                ops = [op]
                if s.params["multi_operator_containers"] and s.rng.random() < 0.7:
                    # the whole rest of the pipeline in one container, in DAG order
                    ops = [
                        o
                        for o in op.pipeline.runtime_status().get_ops(ASSIGNABLE_STATES)
                        if not any(o in a.ops for a in assignments)
                    ]
                    ready = [o for o in ready if o not in ops]
                c = s.rng.randint(1, int(cpu))
                r = s.rng.uniform(1, ram)
                assignments.append(
                    Assignment(ops, c, r, op.pipeline.priority, pool.pool_id,
                               op.pipeline.pipeline_id)
                )
                cpu -= c
                ram -= r
                s.calls_with_work += 1
        return suspensions, assignments
    """
)

OVERBOOK_POLICY = RANDOM_POLICY.replace("OVERBOOK = 0 ", "OVERBOOK = {overbook} ", 1)


@st.composite
def traces(draw: st.DrawFn, tps: int) -> list[TracePipeline]:
    n = draw(st.integers(1, 12))
    arrivals = sorted(draw(st.lists(st.integers(0, 8 * tps), min_size=n, max_size=n)))
    out = []
    for i, tick in enumerate(arrivals):
        n_ops = draw(st.integers(1, 5))
        shape = draw(st.sampled_from(("linear", "in", "out")))
        ops = []
        for j in range(n_ops):
            if j == 0:
                parents: list[str] = []
            elif shape == "linear":
                parents = [f"op{j}"]
            elif shape == "out":
                parents = ["op1"]
            else:
                parents = [] if j < n_ops - 1 else [f"op{k}" for k in range(1, n_ops)]
            fixed = draw(st.one_of(st.none(), st.sampled_from([2.0, 10.0, 30.0, 70.0])))
            ops.append(
                TraceOperator(
                    f"op{j + 1}",
                    parents,
                    draw(st.sampled_from([0.5, 1.0, 2.0, 5.0])),
                    draw(st.sampled_from(SCALINGS)),
                    fixed,
                    draw(st.sampled_from([1.0, 5.0, 20.0, 35.0, 55.0])),
                )
            )
        seconds = tick / tps + draw(st.sampled_from([0.0, 0.0001]))
        out.append(TracePipeline(f"p{i + 1}", seconds, draw(st.sampled_from(PRIORITIES)), ops))
    return out


def _params(draw: st.DrawFn, tps: int, **extra: Any) -> dict[str, Any]:
    params = {
        "duration": draw(st.sampled_from([10, 15, 20])),
        "ticks_per_second": tps,
        "num_pools": draw(st.integers(1, 3)),
        "cpus_per_pool": draw(st.sampled_from([4, 8, 16])),
        "ram_gb_per_pool": draw(st.sampled_from([40, 64, 128])),
        "multi_operator_containers": draw(st.booleans()),
        "allow_memory_overcommit": False,
        "max_job_seconds": draw(st.sampled_from([0, 0, 4, 7.5])),
    }
    params.update(extra)
    return params


def _outcome(params: dict[str, Any], trace: Any, policy: Any, **kw: Any) -> tuple[str, Any]:
    try:
        result = run_simulation(params, trace, policy, record_decisions=True, **kw)
    except SimulatorError as exc:
        return "error", (type(exc).__name__, exc.message, getattr(exc, "tick", None))
    stats = result.stats._asdict()
    stats = {k: (v._asdict() if hasattr(v, "_asdict") else v) for k, v in stats.items()}
    return "ok", (json.dumps(stats, sort_keys=True, default=str), result.decisions)


def _check_equivalent(params: dict[str, Any], trace: Any, policy: Any) -> None:
    event = _outcome(params, trace, policy)
    tick = _outcome(params, trace, policy, event_driven=False)
    assert event == tick
    if event[0] == "ok":
        decisions = event[1][1]
        replayed = _outcome(params, trace, None, replay=decisions)
        assert replayed[0] == "ok"
        assert replayed[1][0] == event[1][0]


POLICY_CHOICES = st.sampled_from(["naive", "priority", "priority-pool", "overbook"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), tps=st.sampled_from([10, 100]), policy=POLICY_CHOICES)
def test_event_engine_equals_tick_stepping_for_builtin_policies(
    data: st.DataObject, tps: int, policy: str
) -> None:
    extra: dict[str, Any] = {}
    if policy == "priority-pool":
        extra = {"num_pools": 2, "multi_operator_containers": True}
    if policy == "overbook":
        extra = {"allow_memory_overcommit": True, "multi_operator_containers": False}
    params = _params(data.draw, tps, **extra)
    trace = data.draw(traces(tps))
    _check_equivalent(params, trace, policy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    tps=st.sampled_from([10, 100]),
    seed=st.integers(0, 10_000),
    clock_every=st.sampled_from([0, 0, 3, 17]),
    suspend_p=st.sampled_from([0.0, 0.5, 1.0]),
    overcommit=st.booleans(),
    defer=st.booleans(),
    aging=st.sampled_from([0, 0, 4]),
    age_in=st.sampled_from(["s", "class", "closure", "pipeline"]),
)
def test_event_engine_equals_tick_stepping_for_random_policies(
    tmp_path_factory: Any,
    data: st.DataObject,
    tps: int,
    seed: int,
    clock_every: int,
    suspend_p: float,
    overcommit: bool,
    defer: bool,
    aging: int,
    age_in: str,
) -> None:
    path = Path(tmp_path_factory.mktemp("pol")) / "random_fit.py"
    path.write_text(
        RANDOM_POLICY.format(
            seed=seed,
            clock_every=clock_every,
            suspend_p=suspend_p,
            defer=defer,
            aging=aging,
            age_in=age_in,
        )
    )
    params = _params(data.draw, tps, allow_memory_overcommit=overcommit)
    trace = data.draw(traces(tps))
    _check_equivalent(params, trace, str(path))


@st.composite
def short_traces(draw: st.DrawFn, tps: int) -> list[TracePipeline]:
    """Pipelines arriving within the first second, with operators of tens of milliseconds."""
    n = draw(st.integers(1, 6))
    arrivals = sorted(draw(st.lists(st.integers(0, tps), min_size=n, max_size=n)))
    out = []
    for i, tick in enumerate(arrivals):
        n_ops = draw(st.integers(1, 4))
        ops = [
            TraceOperator(
                f"op{j + 1}",
                [f"op{j}"] if j else [],
                draw(st.sampled_from([0.01, 0.05, 0.2])),
                draw(st.sampled_from(SCALINGS)),
                draw(st.one_of(st.none(), st.sampled_from([2.0, 30.0, 70.0]))),
                draw(st.sampled_from([0.5, 3.0, 20.0, 45.0])),
            )
            for j in range(n_ops)
        ]
        out.append(TracePipeline(f"p{i + 1}", tick / tps, draw(st.sampled_from(PRIORITIES)), ops))
    return out


def _short_params(draw: st.DrawFn, tps: int, **extra: Any) -> dict[str, Any]:
    params = _params(draw, tps, **extra)
    params["duration"] = draw(st.sampled_from([1, 2]))
    params["max_job_seconds"] = draw(st.sampled_from([0, 0, 0.5, 1.25]))
    return params


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), policy=POLICY_CHOICES)
def test_event_engine_equals_tick_stepping_at_10000_ticks_per_second(
    data: st.DataObject, policy: str
) -> None:
    tps = 10_000
    extra: dict[str, Any] = {}
    if policy == "priority-pool":
        extra = {"num_pools": 2, "multi_operator_containers": True}
    if policy == "overbook":
        extra = {"allow_memory_overcommit": True, "multi_operator_containers": False}
    params = _short_params(data.draw, tps, **extra)
    _check_equivalent(params, data.draw(short_traces(tps)), policy)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    seed=st.integers(0, 10_000),
    clock_every=st.sampled_from([0, 0, 50]),
    suspend_p=st.sampled_from([0.0, 0.5]),
    overbook=st.sampled_from([0, 2]),
)
def test_random_policies_at_10000_ticks_per_second(
    tmp_path_factory: Any,
    data: st.DataObject,
    seed: int,
    clock_every: int,
    suspend_p: float,
    overbook: int,
) -> None:
    path = Path(tmp_path_factory.mktemp("pol")) / "random_fit.py"
    path.write_text(
        OVERBOOK_POLICY.format(
            seed=seed,
            clock_every=clock_every,
            suspend_p=suspend_p,
            defer=False,
            aging=0,
            age_in="s",
            overbook=overbook,
        )
    )
    tps = 10_000
    params = _short_params(data.draw, tps, allow_memory_overcommit=bool(overbook))
    _check_equivalent(params, data.draw(short_traces(tps)), str(path))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    tps=st.sampled_from([10, 100, 1000]),
    seed=st.integers(0, 10_000),
    suspend_p=st.sampled_from([0.0, 0.5]),
    overbook=st.sampled_from([1, 3]),
)
def test_overcommit_and_the_pool_oom_killer(
    tmp_path_factory: Any,
    data: st.DataObject,
    tps: int,
    seed: int,
    suspend_p: float,
    overbook: int,
) -> None:
    """Random policies that promise more RAM than a pool has, so the pool's OOM killer fires."""
    path = Path(tmp_path_factory.mktemp("pol")) / "random_fit.py"
    path.write_text(
        OVERBOOK_POLICY.format(
            seed=seed,
            clock_every=0,
            suspend_p=suspend_p,
            defer=False,
            aging=0,
            age_in="s",
            overbook=overbook,
        )
    )
    params = _params(data.draw, tps, allow_memory_overcommit=True)
    if tps == 1000:
        params["duration"] = 4
        trace = data.draw(short_traces(tps))
    else:
        trace = data.draw(traces(tps))
    _check_equivalent(params, trace, str(path))


def test_the_overbooking_policy_reaches_the_pool_oom_killer(tmp_path: Path) -> None:
    """The overcommit property test exercises the pool-level killer, not only container OOMs."""
    from simulator import executor

    path = tmp_path / "random_fit.py"
    path.write_text(
        OVERBOOK_POLICY.format(
            seed=3, clock_every=0, suspend_p=0.0, defer=False, aging=0, age_in="s", overbook=3
        )
    )
    ops = [TraceOperator("op1", [], 2.0, "const", None, 35.0)]
    trace = [TracePipeline(f"p{i}", 0.0, "BATCH_PIPELINE", ops) for i in range(8)]
    params = {
        "duration": 10,
        "ticks_per_second": 100,
        "num_pools": 1,
        "cpus_per_pool": 16,
        "ram_gb_per_pool": 64,
        "multi_operator_containers": False,
        "allow_memory_overcommit": True,
        "max_job_seconds": 0,
    }
    fired: list[float] = []
    original = executor.Container.kill

    def spy(self: Any, error: str) -> None:
        if error == "OOM" and self._mem <= self._ram:  # within its own RAM: the pool's killer
            fired.append(self._mem)
        original(self, error)

    executor.Container.kill = spy  # type: ignore[method-assign]
    try:
        result = run_simulation(params, trace, str(path))
    finally:
        executor.Container.kill = original  # type: ignore[method-assign]
    assert result.stats.failures > 0
    assert fired, "the pool's OOM killer never fired"
    _check_equivalent(params, trace, str(path))
