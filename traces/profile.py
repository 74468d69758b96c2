"""What a workload asks of a cluster: arrivals, priority mix, DAG shapes, demand and offered load.

A workload profile reads only the trace (and, for offered load, the cluster in the params); it
runs no policy. Demand is in continuous seconds (the engine floors each phase to whole ticks):

* An operator on ``n`` CPUs runs ``io + cpu(n)`` seconds, ``io = storage_read_gb / 20`` (Eudoxia's
  disk scan rate) and ``cpu(n)`` its scaling function of ``baseline_cpu_seconds``. Its container
  holds ``n`` CPUs all that time, so it costs ``n * (io + cpu(n))`` CPU-seconds.
* "At 1 CPU" is that cost with ``n = 1`` (its run time and its CPU-seconds are the same number).
  "At best-case CPUs" uses the smallest ``n`` (at most ``cpus_per_pool``) that makes the
  operator fastest: its run time ``fastest_seconds`` is never above the 1-CPU run time, its
  CPU-seconds ``n * fastest_seconds`` often are (more CPUs, held for less time).
* A pipeline's figure is the sum of its operators' (run times: as if its operators ran one
  after another), its peak memory the largest of its operators'. The same definitions hold
  for every figure of every operator, pipeline and priority class.
* Peak memory is ``memory_gb`` if set, else ``storage_read_gb`` (the growth model's plateau); a
  container with less RAM is killed (OOM).
* Offered load compares what every delivered pipeline needs at the least with what the cluster
  has over the duration: CPU-seconds ``min over n of n * (io + cpu(n))`` and GB-seconds
  ``peak memory * fastest run time``, summed over operators, against
  ``num_pools * cpus_per_pool * duration`` and ``num_pools * ram_gb_per_pool * duration``.
  A load above 1.0 means no policy can complete everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from simulator.params import DEFAULTS
from simulator.trace_io import PRIORITY_NAMES, TraceOperator, TracePipeline, delivery_ticks
from simulator.workload import DISK_SCAN_GB_SEC, SCALING_FUNCS

DEFAULT_INTERVAL_SECONDS = 10.0
DAG_SHAPE_CLASSES = ("linear", "branch_in", "branch_out", "other")


@dataclass(frozen=True)
class Distribution:
    """Count, min, median, 95th percentile and max (numpy's linear percentiles); None if empty."""

    count: int
    min: float | None
    median: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """The distribution of ``values``."""
        if not values:
            return cls(0, None, None, None, None)
        arr = np.asarray(values, dtype=np.float64)
        return cls(
            len(values),
            float(arr.min()),
            float(np.percentile(arr, 50)),
            float(np.percentile(arr, 95)),
            float(arr.max()),
        )


@dataclass(frozen=True)
class OperatorDemand:
    """What one operator needs: see the module docstring for the definitions."""

    cpu_seconds_at_1_cpu: float
    best_cpus: int
    cpu_seconds_at_best_cpus: float
    fastest_seconds: float
    least_cpu_seconds: float
    peak_memory_gb: float

    @property
    def least_gb_seconds(self) -> float:
        """Peak memory held for the fastest run: the least RAM-time any container needs."""
        return self.peak_memory_gb * self.fastest_seconds


@dataclass(frozen=True)
class DagStructure:
    """Shape class, depth (operators on the longest chain) and width (widest level)."""

    shape: str
    depth: int
    width: int


@dataclass(frozen=True)
class PriorityDemand:
    """Per-pipeline demand distributions of one priority class (or ``ALL``)."""

    pipelines: int
    operators: Distribution
    cpu_seconds_at_1_cpu: Distribution
    cpu_seconds_at_best_cpus: Distribution
    peak_memory_gb: Distribution
    seconds_at_best_cpus: Distribution = field(default_factory=lambda: Distribution.of([]))


@dataclass(frozen=True)
class OfferedLoad:
    """Least demand of the delivered pipelines against the cluster's capacity over the duration."""

    duration_seconds: float
    num_pools: int
    cpus_total: float
    ram_gb_total: float
    pipelines_delivered: int
    pipelines_after_duration: int
    cpu_seconds_needed: float
    cpu_seconds_available: float
    cpu_load: float
    gb_seconds_needed: float
    gb_seconds_available: float
    memory_load: float
    operators_larger_than_a_pool: int
    cpu_seconds_needed_per_interval: list[float]
    gb_seconds_needed_per_interval: list[float]


@dataclass(frozen=True)
class WorkloadProfile:
    """The profile of one trace; ``to_dict()`` is its JSON form."""

    pipelines: int
    operators: int
    interval_seconds: float
    arrivals_per_interval: list[int]
    arrivals_per_interval_by_priority: dict[str, list[int]]
    arrival_batches: int
    first_arrival_seconds: float | None
    last_arrival_seconds: float | None
    priority_mix: dict[str, int]
    dag_shapes: dict[str, int]
    dag_size: Distribution
    dag_depth: Distribution
    dag_width: Distribution
    demand_by_priority: dict[str, PriorityDemand]
    load: OfferedLoad | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain numbers, lists and dicts; None where there is no value)."""
        return asdict(self)


# --- operators and DAGs ------------------------------------------------------------------------


def operator_demand(op: TraceOperator, max_cpus: int) -> OperatorDemand:
    """Demand of one operator when a container may have 1..``max_cpus`` CPUs."""
    return _demand(
        op.baseline_cpu_seconds, op.cpu_scaling, op.storage_read_gb, op.memory_gb, max_cpus
    )


@lru_cache(maxsize=4096)
def _demand(
    baseline: float, scaling: str, storage_gb: float, memory_gb: float | None, max_cpus: int
) -> OperatorDemand:
    io = storage_gb / DISK_SCAN_GB_SEC
    func = SCALING_FUNCS[scaling]
    runs = [io + float(func(n, baseline)) for n in range(1, max_cpus + 1)]
    fastest = min(runs)
    best = runs.index(fastest) + 1
    return OperatorDemand(
        cpu_seconds_at_1_cpu=runs[0],
        best_cpus=best,
        cpu_seconds_at_best_cpus=best * fastest,
        fastest_seconds=fastest,
        least_cpu_seconds=min(n * t for n, t in enumerate(runs, start=1)),
        peak_memory_gb=memory_gb if memory_gb is not None else storage_gb,
    )


def dag_shape(pipeline: TracePipeline) -> DagStructure:
    """Classify a pipeline's DAG: a chain is ``linear``; all-roots-into-one-sink is ``branch_in``;
    one root feeding all others is ``branch_out``; anything else is ``other``."""
    ops = pipeline.operators
    level: dict[str, int] = {}
    children: dict[str, int] = {op.operator_id: 0 for op in ops}
    for op in ops:  # parents always come on earlier rows
        level[op.operator_id] = 1 + max((level[p] for p in op.parents), default=0)
        for parent in op.parents:
            children[parent] += 1
    depth = max(level.values(), default=0)
    per_level = [0] * (depth + 1)
    for lv in level.values():
        per_level[lv] += 1
    width = max(per_level)
    roots = [op for op in ops if not op.parents]
    n = len(ops)
    if (
        len(roots) == 1
        and all(len(op.parents) <= 1 for op in ops)
        and max(children.values(), default=0) <= 1
    ):
        shape = "linear"
    elif n >= 3 and len(roots) == n - 1 and len(ops[-1].parents) == n - 1:
        shape = "branch_in"
    elif n >= 3 and len(roots) == 1 and all(op.parents == [ops[0].operator_id] for op in ops[1:]):
        shape = "branch_out"
    else:
        shape = "other"
    return DagStructure(shape, depth, width)


# --- the profile -------------------------------------------------------------------------------


def profile_workload(
    pipelines: list[TracePipeline],
    params: dict[str, Any] | None,
    *,
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
) -> WorkloadProfile:
    """Profile a trace; with ``params`` (complete, as ``load_params`` gives) add offered load."""
    if not interval_seconds > 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds!r}")
    max_cpus = max(1, int((params or DEFAULTS)["cpus_per_pool"]))
    demands = [[operator_demand(op, max_cpus) for op in p.operators] for p in pipelines]
    shapes = [dag_shape(p) for p in pipelines]
    arrivals = [p.arrival_seconds for p in pipelines]
    if params:  # the run's duration; later arrivals are never delivered
        bins = max(1, math.ceil(params["duration"] / interval_seconds))
    else:
        bins = int(max(arrivals, default=0.0) // interval_seconds) + 1
    by_priority = {name: [0] * bins for name in PRIORITY_NAMES}
    for p in pipelines:
        index = int(p.arrival_seconds // interval_seconds)
        if index < bins:
            by_priority[p.priority][index] += 1
    shape_counts = dict.fromkeys(DAG_SHAPE_CLASSES, 0)
    for s in shapes:
        shape_counts[s.shape] += 1
    return WorkloadProfile(
        pipelines=len(pipelines),
        operators=sum(len(p.operators) for p in pipelines),
        interval_seconds=interval_seconds,
        arrivals_per_interval=[sum(col) for col in zip(*by_priority.values(), strict=True)],
        arrivals_per_interval_by_priority=by_priority,
        arrival_batches=len(set(arrivals)),
        first_arrival_seconds=min(arrivals, default=None),
        last_arrival_seconds=max(arrivals, default=None),
        priority_mix={name: sum(p.priority == name for p in pipelines) for name in PRIORITY_NAMES},
        dag_shapes=shape_counts,
        dag_size=Distribution.of([len(p.operators) for p in pipelines]),
        dag_depth=Distribution.of([s.depth for s in shapes]),
        dag_width=Distribution.of([s.width for s in shapes]),
        demand_by_priority=_demand_by_priority(pipelines, demands),
        load=_offered_load(pipelines, demands, params, interval_seconds, bins) if params else None,
    )


def _demand_by_priority(
    pipelines: list[TracePipeline], demands: list[list[OperatorDemand]]
) -> dict[str, PriorityDemand]:
    out = {}
    for name in (*PRIORITY_NAMES, "ALL"):
        rows = [
            (p, d) for p, d in zip(pipelines, demands, strict=True) if name in ("ALL", p.priority)
        ]
        out[name] = PriorityDemand(
            pipelines=len(rows),
            operators=Distribution.of([len(p.operators) for p, _ in rows]),
            cpu_seconds_at_1_cpu=Distribution.of(
                [sum(o.cpu_seconds_at_1_cpu for o in d) for _, d in rows]
            ),
            cpu_seconds_at_best_cpus=Distribution.of(
                [sum(o.cpu_seconds_at_best_cpus for o in d) for _, d in rows]
            ),
            peak_memory_gb=Distribution.of(
                [max((o.peak_memory_gb for o in d), default=0.0) for _, d in rows]
            ),
            seconds_at_best_cpus=Distribution.of(
                [sum(o.fastest_seconds for o in d) for _, d in rows]
            ),
        )
    return out


def _offered_load(
    pipelines: list[TracePipeline],
    demands: list[list[OperatorDemand]],
    params: dict[str, Any],
    interval_seconds: float,
    bins: int,
) -> OfferedLoad:
    duration = float(params["duration"])
    pools = int(params["num_pools"])
    cpus, ram = pools * params["cpus_per_pool"], pools * params["ram_gb_per_pool"]
    # Delivered exactly as the engine delivers a trace: Eudoxia's float tick rule, before the end.
    last_tick = int(params["duration"] * params["ticks_per_second"])
    ticks = delivery_ticks(pipelines, params["ticks_per_second"])
    cpu_bins, gb_bins = [0.0] * bins, [0.0] * bins
    delivered = too_big = 0
    for p, ds, tick in zip(pipelines, demands, ticks, strict=True):
        if tick >= last_tick:
            continue
        delivered += 1
        index = min(int(p.arrival_seconds // interval_seconds), bins - 1)
        cpu_bins[index] += sum(o.least_cpu_seconds for o in ds)
        gb_bins[index] += sum(o.least_gb_seconds for o in ds)
        too_big += sum(o.peak_memory_gb > params["ram_gb_per_pool"] for o in ds)
    cpu_needed, gb_needed = sum(cpu_bins), sum(gb_bins)
    cpu_avail, gb_avail = cpus * duration, ram * duration
    return OfferedLoad(
        duration_seconds=duration,
        num_pools=pools,
        cpus_total=float(cpus),
        ram_gb_total=float(ram),
        pipelines_delivered=delivered,
        pipelines_after_duration=len(pipelines) - delivered,
        cpu_seconds_needed=cpu_needed,
        cpu_seconds_available=float(cpu_avail),
        cpu_load=cpu_needed / cpu_avail if cpu_avail else math.inf,
        gb_seconds_needed=gb_needed,
        gb_seconds_available=float(gb_avail),
        memory_load=gb_needed / gb_avail if gb_avail else math.inf,
        operators_larger_than_a_pool=too_big,
        cpu_seconds_needed_per_interval=cpu_bins,
        gb_seconds_needed_per_interval=gb_bins,
    )


# --- text and plot -----------------------------------------------------------------------------

_SPARKS = " ▁▂▃▄▅▆▇█"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _dist(d: Distribution) -> str:
    return f"{_num(d.min)} / {_num(d.median)} / {_num(d.p95)} / {_num(d.max)}"


def _sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return ""
    return "".join(_SPARKS[math.ceil(c / top * (len(_SPARKS) - 1))] for c in counts)


def format_profile(profile: WorkloadProfile, name: str = "trace") -> str:
    """A short human summary of a workload profile."""
    lines = [f"{name}: {profile.pipelines} pipelines, {profile.operators} operators"]
    if profile.pipelines:
        lines[0] += (
            f", arrivals {profile.first_arrival_seconds:g}-{profile.last_arrival_seconds:g} s "
            f"in {profile.arrival_batches} batches"
        )
    counts = profile.arrivals_per_interval
    lines.append(
        f"arrivals per {profile.interval_seconds:g} s (max {max(counts, default=0)}): "
        f"|{_sparkline(counts)}|"
    )
    total = max(profile.pipelines, 1)
    lines.append(
        "priority mix: "
        + ", ".join(f"{k} {v} ({100 * v / total:.1f}%)" for k, v in profile.priority_mix.items())
    )
    lines.append(
        "DAG shapes: "
        + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in profile.dag_shapes.items())
        + f"; operators {_dist(profile.dag_size)}, depth {_dist(profile.dag_depth)}, "
        f"width {_dist(profile.dag_width)} (min / median / p95 / max)"
    )
    lines.append("per pipeline, sums of its operators (min / median / p95 / max):")
    lines.append(
        f"  {'priority':<15}{'n':>5}  {'s (= CPU-s) at 1 CPU':<28}{'s at best CPUs':<28}"
        f"{'CPU-s at best CPUs':<28}peak GB"
    )
    for prio, d in profile.demand_by_priority.items():
        lines.append(
            f"  {prio:<15}{d.pipelines:>5}  {_dist(d.cpu_seconds_at_1_cpu):<28}"
            f"{_dist(d.seconds_at_best_cpus):<28}{_dist(d.cpu_seconds_at_best_cpus):<28}"
            f"{_dist(d.peak_memory_gb)}"
        )
    load = profile.load
    if load is None:
        lines.append("offered load: pass --params to compare the demand with a cluster")
    else:
        lines.append(
            f"offered load over {load.duration_seconds:g} s ({load.num_pools} pool(s), "
            f"{load.cpus_total:g} CPUs, {load.ram_gb_total:g} GB), {load.pipelines_delivered} "
            f"pipelines delivered: CPU {100 * load.cpu_load:.0f}% "
            f"({_num(load.cpu_seconds_needed)} of {_num(load.cpu_seconds_available)} CPU-s), "
            f"memory {100 * load.memory_load:.0f}% "
            f"({_num(load.gb_seconds_needed)} of {_num(load.gb_seconds_available)} GB-s)"
        )
        if load.pipelines_after_duration:
            lines.append(f"  {load.pipelines_after_duration} pipelines arrive after the end")
        if load.operators_larger_than_a_pool:
            lines.append(
                f"  {load.operators_larger_than_a_pool} operators need more memory than a pool has"
            )
    return "\n".join(lines)


def plot_workload_profile(profile: WorkloadProfile, out: str | Path, title: str = "") -> Path:
    """Arrivals over time by priority, the priority mix and demand vs capacity, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.1), width_ratios=(1, 1.6))
    ax_arr = fig.add_subplot(grid[0, :])
    ax_mix = fig.add_subplot(grid[1, 0])
    ax_load = fig.add_subplot(grid[1, 1])
    colours = {"QUERY": "tab:red", "INTERACTIVE": "tab:orange", "BATCH_PIPELINE": "tab:blue"}

    step = profile.interval_seconds
    starts = np.arange(len(profile.arrivals_per_interval)) * step
    bottom = np.zeros(len(starts))
    for prio, counts in profile.arrivals_per_interval_by_priority.items():
        ax_arr.bar(
            starts,
            counts,
            width=step,
            bottom=bottom,
            align="edge",
            color=colours[prio],
            label=prio.lower(),
            edgecolor="white",
            linewidth=0.3,
        )
        bottom += np.asarray(counts)
    ax_arr.set_xlabel("arrival time (s)")
    ax_arr.set_ylabel(f"pipelines per {step:g} s")
    ax_arr.set_title("arrivals over time")
    ax_arr.legend(loc="upper right", fontsize=8)

    names = list(profile.priority_mix)
    values = [profile.priority_mix[n] for n in names]
    bars = ax_mix.barh([n.lower() for n in names], values, color=[colours[n] for n in names])
    total = max(sum(values), 1)
    for bar, v in zip(bars, values, strict=True):
        ax_mix.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {v} ({100 * v / total:.0f}%)",
            va="center",
            fontsize=8,
        )
    ax_mix.set_xlim(0, max(values, default=1) * 1.35 + 1)
    ax_mix.set_xlabel("pipelines")
    ax_mix.set_title("priority mix")

    _plot_load(ax_load, profile)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_load(ax: Any, profile: WorkloadProfile) -> None:
    """Cumulative least demand in 'whole-cluster seconds' against the capacity line y = t."""
    load = profile.load
    ax.set_title("demand vs capacity")
    if load is None:
        ax.text(
            0.5,
            0.5,
            "no params given:\nrun with --params to compare\ndemand with capacity",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return
    starts = np.arange(len(load.cpu_seconds_needed_per_interval)) * profile.interval_seconds
    xs = np.concatenate((starts, [load.duration_seconds]))
    for label, needed, total, colour in (
        (
            f"CPU needed ({100 * load.cpu_load:.0f}% of capacity)",
            load.cpu_seconds_needed_per_interval,
            load.cpus_total,
            "tab:purple",
        ),
        (
            f"memory needed ({100 * load.memory_load:.0f}% of capacity)",
            load.gb_seconds_needed_per_interval,
            load.ram_gb_total,
            "tab:green",
        ),
    ):
        cumulative = np.cumsum(needed) / (total if total else 1.0)
        ax.step(
            xs,
            np.concatenate((cumulative, cumulative[-1:])),
            where="post",
            label=label,
            color=colour,
        )
    ax.plot(
        [0, load.duration_seconds],
        [0, load.duration_seconds],
        color="grey",
        linestyle=":",
        label="cluster capacity",
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cumulative demand (whole-cluster seconds)")
    ax.legend(loc="upper left", fontsize=8)


# --- CLI -------------------------------------------------------------------------------------


