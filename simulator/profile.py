"""Where a run's time and capacity went: the profile behind ``simulate --profile``.

Recorded by the engine only when asked for (it costs nothing otherwise): per-second samples of
allocated and used capacity, the wait before each pipeline first ran, OOM kills and the CPU time
they wasted, suspensions and what they held, capacity left idle while ready work waited, and a
timeline per pipeline. The agents' profiling tool and the review report read this.

`RunProfiler` is a `simulator.observer.RunObserver`: it sees the run only through that
interface and the untracked ``observed*`` accessors, never the engine's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.executor.assignment import ticks_run
from simulator.workload import ASSIGNABLE_STATES, OperatorState, Priority

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simulator.executor import Assignment, ExecutionResult, Suspend
    from simulator.observer import ObservedRun
    from simulator.workload import Pipeline


@dataclass
class _PipelineTrack:
    pipeline_id: str
    priority: str
    arrival_tick: int
    operators: int
    first_start_tick: int | None = None
    finish_tick: int | None = None
    containers: int = 0
    failures: int = 0
    timed_out: bool = False


@dataclass
class RunProfiler:
    """Collects the profile during a run; `to_dict()` gives the JSON-ready result."""

    tps: float
    seconds: list[float] = field(default_factory=list)
    cpu_allocated: list[float] = field(default_factory=list)
    ram_allocated: list[float] = field(default_factory=list)
    ram_used: list[float] = field(default_factory=list)
    cpu_idle_while_ready: list[float] = field(default_factory=list)
    ready_ops: list[int] = field(default_factory=list)
    queued_by_priority: dict[str, list[int]] = field(default_factory=dict)
    tracks: dict[int, _PipelineTrack] = field(default_factory=dict)
    oom_kills: int = 0
    oom_cpu_seconds: float = 0.0
    oom_gb_seconds: float = 0.0
    timeout_kills: int = 0
    timeout_cpu_seconds: float = 0.0
    suspensions: int = 0
    suspension_cpu_seconds: float = 0.0
    suspension_gb_seconds: float = 0.0
    # Pipelines with ready work among the outstanding ones, kept up to date from the statuses
    # that changed since the last sample (each status adds itself to `_dirty` on a transition).
    _dirty: set[Any] = field(default_factory=set)
    _ready: dict[int, str] = field(default_factory=dict)
    _ready_counts: dict[str, int] = field(default_factory=dict)
    _left: set[int] = field(default_factory=set)
    _queued: list[tuple[str, list[int]]] = field(default_factory=list)

    def on_arrival(self, p: Pipeline, tick: int) -> None:
        """A pipeline was delivered."""
        status = p.runtime_status()
        self.tracks[id(p)] = _PipelineTrack(
            p.pipeline_id, p.priority.name, tick, status.observed_operators()
        )
        status.watch(self._dirty)

    def on_leave(self, p: Pipeline) -> None:
        """A pipeline completed or timed out: it no longer counts as waiting."""
        self._left.add(id(p))
        name = self._ready.pop(id(p), None)
        if name is not None:
            self._ready_counts[name] -= 1

    def on_tick(
        self,
        sim: ObservedRun,
        tick: int,
        sus: list[Suspend],
        asg: list[Assignment],
        results: list[ExecutionResult],
    ) -> None:
        """Decisions made and results produced in one full tick."""
        tl = 1.0 / self.tps
        for a in asg:
            seen: set[int] = set()
            for op in a.ops:
                p = op.pipeline
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                track = self.tracks.get(id(p))
                if track is not None:
                    track.containers += 1
                    if track.first_start_tick is None:
                        track.first_start_tick = tick
        for s in sus:
            pool = next((p for p in sim.executor.pools if p.pool_id == s.pool_id), None)
            c = pool.get_container_by_id(s.container_id) if pool else None
            target = c or _find_suspending(sim, s)
            if target is not None:
                self.suspensions += 1
                cpu, ram, left = target.observed()
                held = left * tl
                self.suspension_cpu_seconds += cpu * held
                self.suspension_gb_seconds += ram * held
        for r in results:
            ticks = ticks_run(r)
            if r.error == "OOM":
                self.oom_kills += 1
                self.oom_cpu_seconds += r.cpu * ticks * tl
                self.oom_gb_seconds += r.ram * ticks * tl
            elif r.error == "timeout":
                self.timeout_kills += 1
                self.timeout_cpu_seconds += r.cpu * ticks * tl
            if r.error is not None:
                for p in {id(op.pipeline): op.pipeline for op in r.ops}.values():
                    track = self.tracks.get(id(p))
                    if track is not None:
                        track.failures += 1

    def on_sample(self, sim: ObservedRun, tick: int, consumed: Sequence[float]) -> None:
        """Once per simulated second (the ticks Eudoxia samples memory)."""
        pools = sim.executor.pools
        self.seconds.append(tick / self.tps)
        cpu: float = 0  # each summed in pool order from the int 0, as sum() would
        ram: float = 0
        free: float = 0
        for pool in pools:
            avail = pool.avail_cpu_pool
            cpu += pool.max_cpu_pool - avail
            ram += pool.max_ram_pool - pool.avail_ram_pool
            free += max(0, avail)
        self.cpu_allocated.append(float(cpu))
        self.ram_allocated.append(float(ram))
        self.ram_used.append(float(sum(consumed)))
        ready_map, counts, left = self._ready, self._ready_counts, self._left
        for status in self._dirty:
            p = status.pipeline
            key = id(p)
            if key in left:
                continue
            name = p.priority.name
            if _has_ready_work(p):
                if key not in ready_map:
                    ready_map[key] = name
                    counts[name] = counts.get(name, 0) + 1
            elif key in ready_map:
                del ready_map[key]
                counts[name] -= 1
        self._dirty.clear()
        ready = len(ready_map)
        self.ready_ops.append(ready)
        if not self._queued:  # made at the first sample, in priority order
            self._queued = [(pr.name, self.queued_by_priority.setdefault(pr.name, []))
                            for pr in Priority]
        for name, counts_of in self._queued:
            counts_of.append(counts.get(name, 0))
        self.cpu_idle_while_ready.append(float(free) if ready else 0.0)

    def finish(self, sim: ObservedRun) -> None:
        """Final states of the pipelines."""
        for p in sim.pipelines:
            track = self.tracks.get(id(p))
            if track is None:
                continue
            status = p.runtime_status()
            track.finish_tick = status.finish_tick
            track.timed_out = status.finish_tick is None and status.has_timed_out()

    def to_dict(self, sim: ObservedRun) -> dict[str, Any]:
        """The profile as JSON-ready data."""
        tps = self.tps
        cpu_total = float(sim.params["num_pools"] * sim.params["cpus_per_pool"])
        ram_total = float(sim.params["num_pools"] * sim.params["ram_gb_per_pool"])
        end_tick = sim.max_ticks - 1
        waits: dict[str, list[float]] = {pr.name: [] for pr in Priority}
        never: dict[str, int] = {pr.name: 0 for pr in Priority}
        timelines = []
        for track in self.tracks.values():
            start = track.first_start_tick
            if start is None:
                never[track.priority] += 1
                waits[track.priority].append((end_tick - track.arrival_tick) / tps)
            else:
                waits[track.priority].append((start - track.arrival_tick) / tps)
            status = (
                "completed"
                if track.finish_tick is not None
                else "timed_out"
                if track.timed_out
                else "unfinished"
            )
            timelines.append(
                {
                    "pipeline_id": track.pipeline_id,
                    "priority": track.priority,
                    "operators": track.operators,
                    "arrival_s": track.arrival_tick / tps,
                    "first_start_s": None if start is None else start / tps,
                    "finish_s": None if track.finish_tick is None else track.finish_tick / tps,
                    "latency_s": None
                    if track.finish_tick is None
                    else (track.finish_tick - track.arrival_tick) / tps,
                    "containers": track.containers,
                    "failures": track.failures,
                    "status": status,
                }
            )
        queueing = {}
        for name, values in waits.items():
            arr = np.asarray(values, dtype=float)
            queueing[name] = {
                "pipelines": int(arr.size),
                "never_started": never[name],
                "mean_wait_s": float(arr.mean()) if arr.size else None,
                "p95_wait_s": float(np.percentile(arr, 95)) if arr.size else None,
                "longest_wait_s": float(arr.max()) if arr.size else None,
            }
        seconds = len(self.seconds)
        return {
            "utilisation": {
                "seconds": self.seconds,
                "cpu_allocated": self.cpu_allocated,
                "ram_allocated_gb": self.ram_allocated,
                "ram_used_gb": self.ram_used,
                "cpu_idle_while_ready": self.cpu_idle_while_ready,
                "pipelines_with_ready_work": self.ready_ops,
                "queued_pipelines_by_priority": self.queued_by_priority,
                "cpu_total": cpu_total,
                "ram_total_gb": ram_total,
                "mean_cpu_allocated_fraction": _mean(self.cpu_allocated) / cpu_total
                if cpu_total
                else None,
                "mean_ram_allocated_fraction": _mean(self.ram_allocated) / ram_total
                if ram_total
                else None,
                "mean_ram_used_fraction": _mean(self.ram_used) / ram_total if ram_total else None,
            },
            "queueing": queueing,
            "oom": {
                "kills": self.oom_kills,
                "wasted_cpu_seconds": self.oom_cpu_seconds,
                "wasted_gb_seconds": self.oom_gb_seconds,
            },
            "timeouts": {
                "kills": self.timeout_kills,
                "wasted_cpu_seconds": self.timeout_cpu_seconds,
            },
            "suspensions": {
                "count": self.suspensions,
                "held_cpu_seconds": self.suspension_cpu_seconds,
                "held_gb_seconds": self.suspension_gb_seconds,
            },
            "idle_capacity": {
                "cpu_seconds_idle_while_work_ready": float(sum(self.cpu_idle_while_ready)),
                "seconds_with_ready_work": int(sum(1 for r in self.ready_ops if r)),
                "seconds_sampled": seconds,
            },
            "pipelines": timelines,
        }


def _has_ready_work(p: Pipeline) -> bool:
    """Whether some operator is assignable with all its parents completed."""
    status = p.runtime_status()
    if not p.built:  # every operator PENDING: the roots are ready (not built for this)
        return status.observed_operators() > 0
    counts = status.state_counts
    if counts[OperatorState.PENDING] == 0 and counts[OperatorState.FAILED] == 0:
        return False
    # get_ops keeps its answer until the pipeline's next transition (most samples hit it)
    return bool(status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True))


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def _find_suspending(sim: ObservedRun, s: Suspend) -> Any:
    for pool in sim.executor.pools:
        for c in pool.suspending_containers:
            if c.container_id == s.container_id:
                return c
    return None


__all__ = ["OperatorState", "RunProfiler"]
