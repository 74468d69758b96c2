"""Performance bounds: what no valid policy can beat on a given trace and cluster.

`compute_bounds` gives (a) an upper bound on the pipelines any policy can complete within the
run (``max_completed_pipelines``), on the operators it can complete (``max_completed_operators``,
which also caps ``containers_completed``, since every successful container completes at least one
operator of its own, so also ``throughput × duration``), and (b) a lower bound on each pipeline's
latency (``min_latency_seconds``). Nothing here runs the simulator; the bounds come from a
relaxation of Eudoxia's executor (spec §5.2, §7):

**Cheapest run of one operator.** A policy chooses the CPUs ``n`` of the container, any real
number in ``(0, cpus_per_pool]`` (the engine accepts fractional CPUs). The operator then lasts
``T(n) = trunc((storage/20)/tick) + trunc(scaling(n, baseline)/tick)`` ticks, and a run needs
``T ≥ 1`` (zero-length work is an error). Every scaling function is non-increasing in ``n`` where
it is positive, so the fewest ticks are at ``n = cpus_per_pool`` — except ``log``: below ``1/e``
CPUs, ``baseline / (ln n + 1)`` is *negative*, the CPU ticks subtract from the IO ticks, and an
operator with any IO can be finished in one tick (a quirk Eudoxia shares; the bound takes it into
account, so ``log`` operators cost at least 1 tick and their first tick's memory). The container
must be allocated at least the operator's peak memory over the ticks it runs (the fixed
``memory_gb``, or the growth model's ``(i+1)·tick·20`` / ``storage_read_gb``), because memory above
the allocation is an OOM kill. Hence per operator: minimal ticks, minimal RAM·ticks (peak × ticks,
held for the whole run of the container) and minimal CPU·ticks (``n × T(n)``, which fractional
CPUs drive towards 0 except for ``linear3``/``linear7``, about ``baseline`` CPU-seconds, and
``squared``). With ``allow_memory_overcommit`` allocations are unchecked, so the RAM cost is the
memory the operator actually *consumes* (the pool OOM killer keeps the pool's consumption within
its RAM), without its last tick (a finishing container's memory is zeroed before the killer
looks), and an operator is impossible only if it must consume more than a pool before its last
tick. An operator whose peak cannot fit one pool can never complete, nor can its descendants.

**Minimal latency.** A pipeline is delivered at its arrival tick (Eudoxia's float rule) and can be
assigned at once. A child can start at the earliest in the tick its last parent finishes: in
separate containers the policy may assign the child while the parent still runs, and the pool
ticks the parent's (older) container first, so the parent is COMPLETED when the child's container
starts (inside one multi-operator container the child would start a tick later). So an operator's
earliest last tick is ``max(arrival, parents' earliest last ticks) + T − 1`` and the latency bound
is the critical path through the DAG with these earliest times minus the arrival tick (one
operator of ``k`` ticks gives ``k − 1``, Eudoxia's off-by-one). Resource contention is ignored.

**Counting.** A pipeline that cannot finish by the last tick, or that has an impossible
operator, is excluded. The others must do all their work inside ``[arrival tick, last tick]``,
and at every tick the cluster holds at most ``num_pools × ram_gb_per_pool`` GB (allocated, or
consumed with overcommit) and ``num_pools × cpus_per_pool`` CPUs. So for every set of completed
pipelines and every tick ``τ``, the minimal RAM·ticks of those arriving at or after ``τ`` fit in
the RAM·ticks of ``[τ, last]``; likewise for CPU·ticks. Read backwards in time this is a
single-machine schedule with deadlines, and Moore–Hodgson's algorithm gives the largest such set
exactly; the bound is the smaller of the RAM and CPU answers. Operators are counted the same way,
each released at its earliest start (its pipeline's dependencies ignored otherwise). What the
relaxation ignores, and so never over-counts: packing into pools, failures, suspensions, retries,
policy call timing, ``max_job_seconds`` deadlines (a pipeline can even complete after its
deadline, before the next whole-second timeout sweep) and waiting time between dependent
operators. Capacities get a relative slack of 1e-9 to absorb the engine's floating-point drift in
``avail_ram_pool`` / ``consumed_ram_gb``.

**Floors of the latency scores.** Eudoxia's adjusted latency weights each pipeline by its class
(query 10, interactive 5, batch 1). In its penalised form (``max_job_seconds > 0``: every
unfinished pipeline counts ``P = 2 × max_job_seconds``, nothing divided) the weights of all
arrivals are the denominator whatever the policy does, and each pipeline adds at least
``min(its latency bound, P)``; at most ``max_completed_pipelines`` complete, so the floor lets
exactly that many pipelines with the largest ``w × (P − latency bound)`` complete and charges the
others ``P`` (``min_adjusted_latency_penalised``). The plain form (divided by the completion
rate) is at least the smallest latency bound times arrivals over ``max_completed_pipelines``
(``min_adjusted_latency``; loose: it shows what cannot be beaten, not what can be reached).
``min_unfinished_pipelines`` is what no policy can avoid leaving unfinished: arrivals minus
``max_completed_pipelines`` (the floor of a per-pipeline penalty).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from simulator.stats import DEFAULT_WEIGHTS
from simulator.trace_io import TraceOperator, TracePipeline, delivery_ticks
from simulator.workload import DISK_SCAN_GB_SEC, SCALING_FUNCS, Priority

# Relative slack on capacities (floating-point drift of the engine's resource ledgers) and on
# the largest CPU count a container can get (avail_cpu_pool drifts with fractional CPUs).
SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Cluster:
    """What the bounds need from the params: the cluster, the clock and the run length."""

    num_pools: int
    cpus_per_pool: float
    ram_gb_per_pool: float
    ticks_per_second: float
    max_ticks: int
    overcommit: bool

    @property
    def tick_length(self) -> float:
        """Seconds per tick, computed exactly as the executor does."""
        return 1.0 / self.ticks_per_second

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cluster:
        """The cluster of a complete, validated params dict."""
        tps = params["ticks_per_second"]
        return cls(
            num_pools=params["num_pools"],
            cpus_per_pool=params["cpus_per_pool"],
            ram_gb_per_pool=params["ram_gb_per_pool"],
            ticks_per_second=tps,
            max_ticks=int(params["duration"] * tps),
            overcommit=bool(params["allow_memory_overcommit"]),
        )


@dataclass(frozen=True, slots=True)
class OperatorFloor:
    """The cheapest way any container can run one operator to completion."""

    ticks: int
    ram_ticks: float
    cpu_ticks: float


@dataclass(frozen=True, slots=True)
class ScheduledFloor:
    """An operator's floor placed in its pipeline: earliest first and last tick after arrival."""

    start_offset: int
    finish_offset: int
    floor: OperatorFloor


@dataclass(frozen=True, slots=True)
class PipelineFloor:
    """Per-pipeline relaxation: latency bound and resource floors of its completable operators."""

    pipeline_id: str
    arrival_tick: int
    min_latency_ticks: int | None  # None when some operator can never complete
    operators: list[ScheduledFloor]  # operators whose ancestors and themselves can complete

    @property
    def ram_ticks(self) -> float:
        """Minimal RAM·ticks of the whole pipeline."""
        return math.fsum(op.floor.ram_ticks for op in self.operators)

    @property
    def cpu_ticks(self) -> float:
        """Minimal CPU·ticks of the whole pipeline."""
        return math.fsum(op.floor.cpu_ticks for op in self.operators)


@dataclass(frozen=True)
class Bounds:
    """Upper bounds on completions and lower bounds on latency for one trace and cluster."""

    arrivals: int
    max_completed_pipelines: int
    max_completed_operators: int
    max_container_throughput: float
    min_latency_seconds: dict[str, float | None]
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    min_unfinished_pipelines: int = 0
    min_adjusted_latency: float | None = None  # None: no pipeline can complete
    min_adjusted_latency_penalised: float | None = None

    def scores(self) -> dict[str, Any]:
        """The per-trace figures (arrivals and every bound of a score), without the
        per-pipeline latencies and the limits: what a suite's baselines keep per case."""
        return {k: v for k, v in self.to_dict().items()
                if k not in ("min_latency_seconds", "limits")}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json`` output)."""
        return {
            "arrivals": self.arrivals,
            "max_completed_pipelines": self.max_completed_pipelines,
            "max_completed_operators": self.max_completed_operators,
            "max_container_throughput": self.max_container_throughput,
            "min_unfinished_pipelines": self.min_unfinished_pipelines,
            "min_adjusted_latency": self.min_adjusted_latency,
            "min_adjusted_latency_penalised": self.min_adjusted_latency_penalised,
            "min_latency_seconds": dict(self.min_latency_seconds),
            "limits": {k: dict(v) for k, v in self.limits.items()},
        }


# --- one operator ------------------------------------------------------------------------------


def _io_ticks(op: TraceOperator, tick_length: float) -> int:
    return int((op.storage_read_gb / DISK_SCAN_GB_SEC) / tick_length)


def _min_ticks(op: TraceOperator, tick_length: float, cpus: float) -> int | None:
    """Fewest ticks over CPU counts in (0, cpus]; None if every CPU count gives zero-length work."""
    io = _io_ticks(op, tick_length)
    b = op.baseline_cpu_seconds
    if op.cpu_scaling == "log" and io >= 1 and b > 0:
        return 1  # below 1/e CPUs the CPU time is negative and cancels IO ticks, down to 1
    import numpy as np

    with np.errstate(all="ignore"):
        cpu_seconds = float(SCALING_FUNCS[op.cpu_scaling](cpus * (1 + SLACK), b))
    ticks = io + int(cpu_seconds / tick_length) if math.isfinite(cpu_seconds) else 0
    if ticks >= 1:
        return ticks
    # const/exp never exceed the baseline, the others reach it only if it is positive
    never = b == 0 or (op.cpu_scaling in ("const", "exp") and int(b / tick_length) == 0)
    return None if io == 0 and never else 1


def _memory(op: TraceOperator, j: int, io: int, tick_length: float) -> float:
    """Memory in the operator's tick ``j`` (0-based), exactly as the executor computes it."""
    if op.memory_gb is not None:
        return op.memory_gb
    if j < io:
        return (j + 1) * tick_length * DISK_SCAN_GB_SEC
    return op.storage_read_gb


def _peak(op: TraceOperator, n: int, io: int, tick_length: float) -> float:
    """Highest memory over the operator's first ``n`` ticks (0.0 for none)."""
    if n <= 0:
        return 0.0
    if op.memory_gb is not None or n <= io:
        return _memory(op, n - 1, io, tick_length)
    ramp = _memory(op, io - 1, io, tick_length) if io >= 1 else 0.0
    return max(ramp, op.storage_read_gb)


def _memory_sum(op: TraceOperator, n: int, io: int, tick_length: float) -> float:
    """Memory summed over the operator's first ``n`` ticks (GB·ticks)."""
    if n <= 0:
        return 0.0
    if op.memory_gb is not None:
        return n * op.memory_gb
    m = min(n, io)
    return tick_length * DISK_SCAN_GB_SEC * m * (m + 1) / 2 + (n - m) * op.storage_read_gb


def _min_cpu_ticks(op: TraceOperator, tick_length: float, cpus: float) -> float:
    """A lower bound on ``n × T(n)`` over CPU counts n in (0, cpus] (fractional CPUs allowed).

    With ``trunc(x) > x − 1``: linear-k gives ``n·T > b/tick − min(k, cpus)``, squared gives
    ``n·T > b/(n·tick) − n ≥ b/(cpus·tick) − cpus``; the other shapes tend to 0 as n → 0.
    """
    b = op.baseline_cpu_seconds
    cpus = cpus * (1 + SLACK)
    if op.cpu_scaling in ("linear3", "linear7"):
        k = 3 if op.cpu_scaling == "linear3" else 7
        floor = b / tick_length - min(k, cpus)
    elif op.cpu_scaling == "squared":
        floor = b / (cpus * tick_length) - cpus
    else:
        return 0.0
    return max(0.0, floor * (1 - SLACK))


def operator_floor(op: TraceOperator, cluster: Cluster) -> OperatorFloor | None:
    """The cheapest run of ``op`` on ``cluster``; None if no container can ever complete it."""
    return _operator_floor(
        op.cpu_scaling,
        op.baseline_cpu_seconds,
        op.memory_gb,
        op.storage_read_gb,
        cluster,
    )


@lru_cache(maxsize=4096)
def _operator_floor(
    scaling: str,
    baseline: float,
    memory_gb: float | None,
    storage_gb: float,
    cluster: Cluster,
) -> OperatorFloor | None:
    op = TraceOperator("", [], baseline, scaling, memory_gb, storage_gb)
    tl = cluster.tick_length
    ticks = _min_ticks(op, tl, cluster.cpus_per_pool)
    if ticks is None:
        return None
    io = _io_ticks(op, tl)
    # Memory grows with the ticks run, so the fewest ticks also give the least memory.
    if cluster.overcommit:
        # Only the pool OOM killer limits memory; it never sees a finishing container's last tick.
        must_fit = _peak(op, ticks - 1, io, tl)
        ram_ticks = _memory_sum(op, ticks - 1, io, tl)
    else:
        must_fit = _peak(op, ticks, io, tl)
        ram_ticks = ticks * must_fit
    if must_fit > cluster.ram_gb_per_pool * (1 + SLACK):
        return None
    return OperatorFloor(ticks, ram_ticks, _min_cpu_ticks(op, tl, cluster.cpus_per_pool))


# --- one pipeline ------------------------------------------------------------------------------


def pipeline_floor(spec: TracePipeline, arrival_tick: int, cluster: Cluster) -> PipelineFloor:
    """Critical-path latency bound and the operators of ``spec`` that could ever complete."""
    finish: dict[str, int | None] = {}  # earliest last-tick offset; None: can never complete
    scheduled: list[ScheduledFloor] = []
    for op in spec.operators:
        floor = operator_floor(op, cluster)
        parents = [finish.get(p) for p in op.parents]
        if floor is None or any(f is None for f in parents):
            finish[op.operator_id] = None
            continue
        # a child's first tick can be its last parent's last tick (separate containers)
        start = max([f for f in parents if f is not None], default=0)
        finish[op.operator_id] = start + floor.ticks - 1
        scheduled.append(ScheduledFloor(start, start + floor.ticks - 1, floor))
    done = [f for f in finish.values() if f is not None]
    latency = max(done) if done and len(done) == len(finish) else None
    return PipelineFloor(spec.pipeline_id, arrival_tick, latency, scheduled)


# --- counting ----------------------------------------------------------------------------------


def max_jobs_by_deadline(jobs: list[tuple[int, float]], per_tick: float, last_tick: int) -> int:
    """Most jobs ``(release tick, work)`` whose work fits in ``[release, last_tick]`` together.

    Feasible sets are those where, for every release τ, the work released at or after τ fits in
    ``per_tick × (last_tick − τ + 1)``. Backwards in time that is one machine with deadlines, and
    Moore–Hodgson (latest release first; on overflow drop the largest job so far) is optimal.
    """
    kept: list[float] = []  # max-heap of work (negated)
    total = 0.0
    for release, work in sorted(jobs, key=lambda job: -job[0]):
        heapq.heappush(kept, -work)
        total += work
        if total > per_tick * (last_tick - release + 1) * (1 + SLACK):
            total += heapq.heappop(kept)
    return len(kept)


def compute_bounds(pipelines: list[TracePipeline], params: dict[str, Any]) -> Bounds:
    """Bounds for ``pipelines`` replayed on the cluster of ``params`` (a params dict).

    Missing params take Eudoxia's defaults; invalid ones raise ``ParamsError``. Pipelines that
    arrive after the run's last tick are not counted and get no latency entry.
    """
    from simulator.params import load_params

    full = load_params(params)
    cluster = Cluster.from_params(full)
    last = cluster.max_ticks - 1
    ticks = delivery_ticks(pipelines, cluster.ticks_per_second)
    floors = [
        pipeline_floor(spec, tick, cluster)
        for tick, spec in zip(ticks, pipelines, strict=True)
        if tick < cluster.max_ticks
    ]
    in_time = [
        f
        for f in floors
        if f.min_latency_ticks is not None and f.arrival_tick + f.min_latency_ticks <= last
    ]
    ram = cluster.num_pools * cluster.ram_gb_per_pool
    cpu = cluster.num_pools * cluster.cpus_per_pool
    pipelines_by = {
        "in_time": len(in_time),
        "ram_time": max_jobs_by_deadline(
            [(f.arrival_tick, f.ram_ticks) for f in in_time], ram, last
        ),
        "cpu_time": max_jobs_by_deadline(
            [(f.arrival_tick, f.cpu_ticks) for f in in_time], cpu, last
        ),
    }
    ops = [
        (f.arrival_tick + op.start_offset, op.floor)
        for f in floors
        for op in f.operators
        if f.arrival_tick + op.finish_offset <= last
    ]
    operators_by = {
        "in_time": len(ops),
        "ram_time": max_jobs_by_deadline([(r, o.ram_ticks) for r, o in ops], ram, last),
        "cpu_time": max_jobs_by_deadline([(r, o.cpu_ticks) for r, o in ops], cpu, last),
    }
    max_ops = min(operators_by.values())
    duration = cluster.max_ticks / cluster.ticks_per_second
    max_done = min(pipelines_by.values())
    tps = cluster.ticks_per_second
    priority = {p.pipeline_id: p.priority for p in pipelines}
    # (class weight, latency bound in seconds or None when it can never finish in time)
    weighted = [(DEFAULT_WEIGHTS[Priority[priority[f.pipeline_id]]],
                 None if f.min_latency_ticks is None or f.arrival_tick + f.min_latency_ticks > last
                 else f.min_latency_ticks / tps) for f in floors]
    plain = _min_adjusted_latency(weighted, max_done)
    deadline = float(full.get("max_job_seconds") or 0)
    return Bounds(
        arrivals=len(floors),
        max_completed_pipelines=max_done,
        min_unfinished_pipelines=len(floors) - max_done,
        min_adjusted_latency=plain,
        min_adjusted_latency_penalised=(
            _min_penalised_latency(weighted, max_done, 2 * deadline) if deadline > 0 else plain),
        max_completed_operators=max_ops,
        max_container_throughput=max_ops / duration if duration > 0 else 0.0,
        min_latency_seconds={
            f.pipeline_id: None
            if f.min_latency_ticks is None
            else f.min_latency_ticks / cluster.ticks_per_second
            for f in floors
        },
        limits={"pipelines": pipelines_by, "operators": operators_by},
    )


def _min_adjusted_latency(weighted: list[tuple[int, float | None]], max_done: int) -> float | None:
    """Floor of Eudoxia's plain adjusted latency (weighted mean latency over the completed,
    divided by the completion rate): the smallest latency bound x arrivals / most completions."""
    latencies = [lat for _, lat in weighted if lat is not None]
    if max_done <= 0 or not latencies:
        return None
    return min(latencies) * len(weighted) / max_done


def _min_penalised_latency(weighted: list[tuple[int, float | None]], max_done: int,
                           penalty: float) -> float | None:
    """Floor of the penalised adjusted latency: every arrival weighs in, the ``max_done``
    pipelines that gain most from completing complete at their latency bound, the rest count
    ``penalty``."""
    total = math.fsum(w for w, _ in weighted)
    if total <= 0:
        return None
    gains = sorted((w * (penalty - lat) for w, lat in weighted
                    if lat is not None and lat < penalty), reverse=True)
    return (math.fsum(w * penalty for w, _ in weighted) - math.fsum(gains[:max_done])) / total


# --- CLI ---------------------------------------------------------------------------------------


def bound_fractions(result: Any, bounds: Bounds) -> dict[str, float | None]:
    """A run's metrics as fractions of their bounds (1.0 = as good as any policy could be).

    ``latency`` is the mean over completed pipelines of min latency / achieved latency; the two
    adjusted latencies are their floors over the achieved figures.
    """
    stats = result.stats
    tps = result.params["ticks_per_second"]
    ratios = []
    for pipeline_id, arrival_tick, finish_tick in result.pipeline_ticks:
        lower = bounds.min_latency_seconds.get(pipeline_id)
        if finish_tick is None or arrival_tick is None or lower is None:
            continue
        achieved = (finish_tick - arrival_tick) / tps
        ratios.append(1.0 if achieved <= 0 else min(1.0, lower / achieved))

    def frac(value: float, bound: float) -> float | None:
        return value / bound if bound else None

    def floor_frac(floor: float | None, value: float) -> float | None:
        """A lower-is-better score against its floor (an endless latency is 0 % of it)."""
        if floor is None or math.isnan(value) or value <= 0:
            return None
        return floor / value

    mjs = float(result.params.get("max_job_seconds") or 0)
    return {
        "completed_pipelines": frac(
            stats.pipelines_all.completion_count, bounds.max_completed_pipelines
        ),
        "completed_containers": frac(stats.containers_completed, bounds.max_completed_operators),
        "throughput": frac(stats.throughput, bounds.max_container_throughput),
        "latency": sum(ratios) / len(ratios) if ratios else None,
        "adjusted_latency": floor_frac(bounds.min_adjusted_latency, stats.adjusted_latency()),
        "adjusted_latency_penalised": floor_frac(bounds.min_adjusted_latency_penalised,
                                                 stats.cli_adjusted_latency(mjs)),
    }


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f} s"


def format_bounds(bounds: Bounds, pipelines: list[TracePipeline], tps: float) -> str:
    """The human table: summary, then each arrived pipeline's arrival and latency bound."""
    lim_p, lim_o = bounds.limits["pipelines"], bounds.limits["operators"]
    lines = [
        f"arrivals                  {bounds.arrivals}",
        (
            f"max completed pipelines   {bounds.max_completed_pipelines:<8}"
            f"(can finish in time {lim_p['in_time']}, RAM·time {lim_p['ram_time']}, "
            f"CPU·time {lim_p['cpu_time']})"
        ),
        (
            f"max completed operators   {bounds.max_completed_operators:<8}"
            f"(can finish in time {lim_o['in_time']}, RAM·time {lim_o['ram_time']}, "
            f"CPU·time {lim_o['cpu_time']}; also caps containers completed)"
        ),
        f"max container throughput  {bounds.max_container_throughput:.4f} containers/s",
        (f"min unfinished pipelines  {bounds.min_unfinished_pipelines:<8}"
         "(arrivals no policy can complete)"),
        (f"min adjusted latency      {_seconds(bounds.min_adjusted_latency):<8}"
         f"(penalised form: {_seconds(bounds.min_adjusted_latency_penalised)})"),
        "",
        f"{'pipeline':<16}{'priority':<16}{'arrival s':>12}{'min latency s':>16}",
    ]
    ticks = dict(
        zip((p.pipeline_id for p in pipelines), delivery_ticks(pipelines, tps), strict=True)
    )
    priority = {p.pipeline_id: p.priority for p in pipelines}
    for pid, latency in bounds.min_latency_seconds.items():
        shown = "never" if latency is None else f"{latency:.3f}"
        lines.append(f"{pid:<16}{priority[pid]:<16}{ticks[pid] / tps:>12.3f}{shown:>16}")
    return "\n".join(lines)


