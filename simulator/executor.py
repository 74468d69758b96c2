"""Pools, containers and the decisions that create them: Eudoxia's executor (spec §7).

A pool advances in two ways. `ResourcePool.run_one_tick` is one tick exactly as Eudoxia runs it.
`ResourcePool.fast_forward` jumps over ticks in which nothing discrete can happen (no operator
starts or finishes, no OOM, no suspension completes): only counters move and memory grows, and
the pool's drifting ``consumed_ram_gb`` is replayed with numpy's sequential ``cumsum`` so its
floating-point value is bit-identical to adding the deltas one tick at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.clock import ReadTracker, SimClock
from simulator.errors import PolicyDecisionError, WorkloadError
from simulator.identity import token
from simulator.workload import (
    DISK_SCAN_GB_SEC,
    Operator,
    OperatorState,
    Pipeline,
    Priority,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


class Assignment:
    """A request to start a container with ``ops`` in ``pool_id``; moves the ops to ASSIGNED."""

    def __init__(
        self,
        ops: list[Operator],
        cpu: float,
        ram: float,
        priority: Priority,
        pool_id: int,
        pipeline_id: str,
        container_id: str | None = None,
        is_resume: bool = False,
        force_run: bool = False,
    ) -> None:
        assert len(ops) > 0, "assignments cannot have zero operators"
        assert cpu > 0, f"must assign positive CPU allocation, got {cpu}"
        assert ram > 0, f"must assign positive RAM allocation, got {ram}"
        self.ops = ops
        self.cpu = cpu
        self.ram = ram
        self.priority = priority
        self.pool_id = pool_id
        self.pipeline_id = pipeline_id
        self.container_id = container_id
        self.is_resume = is_resume
        self.force_run = force_run
        self._snap = token()
        for op in ops:
            op.transition(OperatorState.ASSIGNED)

    def __repr__(self) -> str:
        return (
            f"Assignment: allocate container with {self.cpu} CPUs, {self.ram}GB RAM "
            f"for pipeline {self.pipeline_id}"
        )


class Suspend:
    """A request to suspend a container at an operator boundary."""

    def __init__(self, container_id: str, pool_id: int) -> None:
        self.container_id = container_id
        self.pool_id = pool_id
        self._snap = token()

    def __repr__(self) -> str:
        return f"Suspend(container_id={self.container_id!r}, pool_id={self.pool_id!r})"


class ExecutionResult:
    """What a finished (or killed) container reports to the policy the next tick."""

    def __init__(
        self,
        ops: list[Operator],
        cpu: float,
        ram: float,
        priority: Priority,
        pool_id: int,
        container_id: str | None = None,
        error: str | None = None,
    ) -> None:
        self.ops = ops
        self.cpu = cpu
        self.ram = ram
        self.priority = priority
        self.pool_id = pool_id
        self.container_id = container_id
        self.error = error
        self._snap = token()

    def failed(self) -> bool:
        """True when the container was killed (OOM or timeout)."""
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ops": [str(op.id) for op in self.ops],
            "cpu": self.cpu,
            "ram": self.ram,
            "priority": self.priority.name,
            "pool_id": self.pool_id,
            "container_id": self.container_id,
            "error": self.error,
        }

    def __repr__(self) -> str:
        return (
            f"ExecutionResult(container_id={self.container_id!r}, pool_id={self.pool_id}, "
            f"error={self.error!r})"
        )


class _Phase:
    """Precomputed durations of one segment for a given CPU count."""

    __slots__ = ("_deltas", "fixed", "io", "storage", "total")

    def __init__(self, io: int, total: int, fixed: float | None, storage: float) -> None:
        self.io, self.total, self.fixed, self.storage = io, total, fixed, storage
        self._deltas: np.ndarray | None = None

    def deltas(self, tick_length: float) -> np.ndarray:
        """``d[j] = memory(j) - memory(j - 1)`` for j in 1..io (growth model; d[0] unused)."""
        if self._deltas is None:
            js = np.arange(self.io + 1)
            mem = (js + 1) * tick_length * DISK_SCAN_GB_SEC
            mem[self.io] = self.storage
            d = np.empty(self.io + 1)
            d[0] = 0.0
            np.subtract(mem[1:], mem[:-1], out=d[1:])
            self._deltas = d
        return self._deltas

    def memory(self, j: int, tick_length: float) -> float:
        """Memory in the segment's tick ``j`` (0-based)."""
        if self.fixed is not None:
            return self.fixed
        if j < self.io:
            return (j + 1) * tick_length * DISK_SCAN_GB_SEC
        return self.storage

    def first_oom(self, i: int, ram: float, tick_length: float) -> int | None:
        """First tick index ``j >= i`` whose memory exceeds ``ram``, or None."""
        if self.fixed is not None:
            return i if self.fixed > ram and i < self.total else None
        if i < self.io:
            step = tick_length * DISK_SCAN_GB_SEC
            j = max(i, int(ram / step) - 2)
            while j > i and (j * tick_length * DISK_SCAN_GB_SEC) > ram:
                j -= 1
            while j < self.io and (j + 1) * tick_length * DISK_SCAN_GB_SEC <= ram:
                j += 1
            if j < self.io:
                return j
        j = max(i, self.io)
        if j < self.total and self.storage > ram:
            return j
        return None


def _container_deadline(ops: list[Operator]) -> float:
    """Earliest tick at which ``has_timed_out()`` can hold for a pipeline of ``ops``."""
    best = math.inf
    for op in ops:
        p = op.pipeline
        if p is None:
            continue
        st = p.runtime_status()
        if st.max_job_ticks > 0 and st.arrival_tick is not None and st.clock is not None:
            best = min(best, st.arrival_tick + st.max_job_ticks)
    return best


class Container:
    """A running allocation of (cpu, ram) in a pool that executes its operators in order."""

    def __init__(self, container_id: str, assignment: Assignment, pool: ResourcePool) -> None:
        self.container_id = container_id
        self._snap = token()
        self.assignment = assignment
        self.pool = pool
        self.operators = assignment.ops
        self.pool_id = pool.pool_id
        self.priority = assignment.priority
        self.error: str | None = None
        self._cpu = assignment.cpu
        self._ram = assignment.ram
        self._op_idx = 0
        self._phases: list[_Phase] = []
        self._seg = 0
        self._i = 0
        self._started = False
        self._mem = 0.0
        self._can_suspend = False
        self._completed = False
        self._suspended = False
        self._elapsed = 0
        self._suspend_left = 0
        # the first tick any of its pipelines can time out (their statuses never change it)
        self._deadline = _container_deadline(self.operators)

    # --- what policies call ----------------------------------------------------------------

    def is_completed(self) -> bool:
        """Finished (successfully or killed)."""
        return self._completed

    def is_suspended(self) -> bool:
        """Suspension finished."""
        return self._suspended

    def can_suspend_container(self) -> bool:
        """True only in the policy call right after a non-final operator finished."""
        return self._can_suspend

    def get_current_memory_usage(self) -> float:
        """Memory in use now (GB)."""
        self.pool._tracker.reads += 1
        return self._mem

    def ticks_elapsed(self) -> int:
        """Ticks this container has run."""
        self.pool._tracker.reads += 1
        return self._elapsed

    @property
    def suspend_ticks(self) -> int:
        """Remaining ticks of an ongoing suspension."""
        self.pool._tracker.reads += 1
        return self._suspend_left

    def get_pipeline_id(self) -> str:
        """The pipeline of its operators, "no_pipeline" or "multiple_pipelines"."""
        ids = {op.pipeline.pipeline_id for op in self.operators if op.pipeline is not None}
        if not ids:
            return "no_pipeline"
        return ids.pop() if len(ids) == 1 else "multiple_pipelines"

    def kill(self, error: str) -> None:
        """Fail every unfinished operator and finish the container with ``error``."""
        assert not self._completed, "container already completed"
        for op in self.operators[self._op_idx :]:
            op.transition(OperatorState.FAILED)
        self._completed = True
        self.error = error
        self._set_mem(0.0)
        self._can_suspend = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form (REST shape)."""
        return {
            "container_id": self.container_id,
            "pipeline_id": self.get_pipeline_id(),
            "operator_ids": [str(op.id) for op in self.operators],
            "cpu": self._cpu,
            "ram_gb": self._ram,
            "current_memory_gb": self._mem,
            "priority": self.priority.name,
        }

    def __repr__(self) -> str:
        return (
            f"<Container {self.container_id} pool {self.pool_id} cpu={self._cpu} ram={self._ram}>"
        )

    # --- engine side -------------------------------------------------------------------------

    def _set_mem(self, new: float) -> None:
        self.pool._consumed += new - self._mem
        self._mem = new

    def _start_op(self) -> None:
        op = self.operators[self._op_idx]
        op.transition(OperatorState.RUNNING)
        tl = self.pool.tick_length_secs
        phases = []
        for seg in op.values:
            io = int(seg.get_io_seconds() / tl)
            cpu = int(seg.get_cpu_time(self._cpu) / tl)
            if io + cpu <= 0:
                raise WorkloadError(
                    f"operator {op._ref[1]} of pipeline "
                    f"{op.pipeline.pipeline_id if op.pipeline else '?'}"
                    f" has no work at {self.pool.ticks_per_second} ticks/s with {self._cpu} CPUs "
                    "(zero-length segment; Eudoxia crashes here with StopIteration)",
                    tick=self.pool.clock._ticks,
                    container_id=self.container_id,
                )
            phases.append(_Phase(io, io + cpu, seg.memory_gb, seg.storage_read_gb))
        if not phases:
            raise WorkloadError(
                "operator has no segments",
                tick=self.pool.clock._ticks,
                container_id=self.container_id,
            )
        self._phases = phases
        self._seg = 0
        self._i = 0
        self._started = True

    def _tick(self) -> bool:
        """One exact container tick; returns True if something discrete changed."""
        if self._completed:
            return False
        changed = False
        if not self._started:
            self._start_op()
            changed = True
        phase = self._phases[self._seg]
        j = self._i
        # phase.memory(j) and _set_mem, inlined (this runs once per container and tick)
        pool = self.pool
        if phase.fixed is not None:
            new = phase.fixed
        elif j < phase.io:
            new = (j + 1) * pool.tick_length_secs * DISK_SCAN_GB_SEC
        else:
            new = phase.storage
        pool._consumed += new - self._mem
        self._mem = new
        if new > self._ram:
            self._elapsed += 1
            return True
        self._can_suspend = False
        j += 1
        if j == phase.total:
            self._i = 0
            self._seg += 1
            changed = True
            if self._seg == len(self._phases):
                self.operators[self._op_idx].transition(OperatorState.COMPLETED)
                self._op_idx += 1
                self._started = False
                if self._op_idx == len(self.operators):
                    self._completed = True
                    self._set_mem(0.0)
                else:
                    self._can_suspend = True
        else:
            self._i = j
        self._elapsed += 1
        return changed

    def _next_discrete(self, now: int) -> int:
        """First tick after ``now`` in which this container changes discretely."""
        if self._completed:
            return now + 1
        if not self._started:
            return now + 1
        phase = self._phases[self._seg]
        end = now + phase.total - self._i
        oom = phase.first_oom(self._i, self._ram, self.pool.tick_length_secs)
        if oom is not None:
            end = min(end, now + 1 + oom - self._i)
        return end


class ResourcePool:
    """One machine: CPU and RAM capacity, live, suspending and suspended containers."""

    def __init__(
        self,
        clock: SimClock,
        pool_id: int,
        cpu_pool: float,
        ram_pool: float,
        ticks_per_second: float,
        multi_operator_containers: bool = True,
        allow_memory_overcommit: bool = False,
        tracker: ReadTracker | None = None,
        id_source: list[int] | None = None,
    ) -> None:
        self.clock = clock
        self._snap = token()
        self.pool_id = pool_id
        self.max_cpu_pool = cpu_pool
        self.max_ram_pool = ram_pool
        self.avail_cpu_pool = cpu_pool
        self.avail_ram_pool = ram_pool
        self.ticks_per_second = ticks_per_second
        self.tick_length_secs = 1.0 / ticks_per_second
        self.multi_operator_containers = multi_operator_containers
        self.allow_memory_overcommit = allow_memory_overcommit
        self.active_containers: list[Container] = []
        self.suspending_containers: list[Container] = []
        self.suspended_containers: list[Container] = []
        self.num_completed = 0
        self.container_tick_times: list[int] = []
        self._consumed: float = 0.0
        self._tracker = tracker or ReadTracker()
        self._ids = id_source if id_source is not None else [0]
        self._mjt = 0
        self._next_deadline = math.inf  # no live container can time out before this tick
        self._ff_plan: tuple[np.ndarray, int, int] | None = None

    @property
    def consumed_ram_gb(self) -> float:
        """Memory in use in the pool, tracked incrementally as Eudoxia does (it drifts)."""
        self._tracker.reads += 1
        return self._consumed

    @consumed_ram_gb.setter
    def consumed_ram_gb(self, value: float) -> None:
        self._consumed = value

    def get_consumed_ram_gb(self) -> float:
        """Same as ``consumed_ram_gb``."""
        return self.consumed_ram_gb

    def get_allocated_ram_gb(self) -> float:
        """Capacity minus what is available (live and suspending allocations)."""
        return self.max_ram_pool - self.avail_ram_pool

    def get_container_by_id(self, container_id: str) -> Container | None:
        """A live container of this pool by id, or None."""
        for c in self.active_containers:
            if c.container_id == container_id:
                return c
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (REST shape)."""
        return {
            "pool_id": self.pool_id,
            "max_cpu": self.max_cpu_pool,
            "max_ram_gb": self.max_ram_pool,
            "avail_cpu": self.avail_cpu_pool,
            "avail_ram_gb": self.avail_ram_pool,
            "consumed_ram_gb": self._consumed,
            "active_containers": [c.to_dict() for c in self.active_containers],
            "suspending_containers": [c.to_dict() for c in self.suspending_containers],
            "suspended_containers": [c.to_dict() for c in self.suspended_containers],
        }

    def status_report(self) -> str:
        """One-line summary."""
        return (
            f"pool {self.pool_id}: cpu {self.avail_cpu_pool}/{self.max_cpu_pool} "
            f"ram {self.avail_ram_pool}/{self.max_ram_pool} consumed {self._consumed}"
        )

    # --- validation (Eudoxia's messages) -----------------------------------------------------

    def verify_valid_suspend(self, suspensions: Sequence[Suspend]) -> list[Container]:
        """The containers to suspend; PolicyDecisionError if any cannot be."""
        targets: list[Container] = []
        seen: set[str] = set()
        for s in suspensions:
            c = self.get_container_by_id(s.container_id)
            if c is None or s.container_id in seen:
                raise PolicyDecisionError(
                    f"Suspend of container {s.container_id!r}: no such live container in pool "
                    f"{self.pool_id} (Eudoxia fails here with AttributeError: 'NoneType' object "
                    "has no attribute 'can_suspend_container')",
                    tick=self.clock._ticks,
                    decision=repr(s),
                )
            seen.add(s.container_id)
            if not c._can_suspend:
                raise PolicyDecisionError(
                    "Container cannot be suspended right now",
                    tick=self.clock._ticks,
                    decision=repr(s),
                )
            targets.append(c)
        return targets

    def verify_valid_assignment(self, assignments: Sequence[Assignment]) -> None:
        """PolicyDecisionError if the assignments over-allocate the pool."""
        cpu = sum(a.cpu for a in assignments)
        if cpu > self.avail_cpu_pool:
            raise PolicyDecisionError(
                "Overallocated CPU in assignment",
                tick=self.clock._ticks,
                decision=f"pool {self.pool_id}: {cpu} CPUs requested, {self.avail_cpu_pool} "
                f"available; {list(assignments)!r}",
            )
        if not self.allow_memory_overcommit:
            ram = sum(a.ram for a in assignments)
            if ram > self.avail_ram_pool:
                raise PolicyDecisionError(
                    "Overallocated RAM in assignment",
                    tick=self.clock._ticks,
                    decision=f"pool {self.pool_id}: {ram} GB requested, {self.avail_ram_pool} "
                    f"available; {list(assignments)!r}",
                )

    # --- one exact tick ----------------------------------------------------------------------

    def run_one_tick(
        self, suspensions: Sequence[Suspend], assignments: Sequence[Assignment]
    ) -> list[ExecutionResult]:
        """One pool tick in Eudoxia's exact order (spec §7.3)."""
        results, _ = self._tick(suspensions, assignments)
        return results

    def _tick(
        self, suspensions: Sequence[Suspend], assignments: Sequence[Assignment]
    ) -> tuple[list[ExecutionResult], bool]:
        changed = False
        tl = self.tick_length_secs
        if suspensions:
            for c in self.verify_valid_suspend(suspensions):
                c._suspend_left = int((c.assignment.ram / DISK_SCAN_GB_SEC) / tl)
                for op in c.operators[c._op_idx :]:
                    op.transition(OperatorState.SUSPENDING)
                self.active_containers.remove(c)
                self.suspending_containers.append(c)
            changed = True
        if assignments:
            self.verify_valid_assignment(assignments)
            for a in assignments:
                if not self.multi_operator_containers and len(a.ops) != 1:
                    raise PolicyDecisionError(
                        "Assignment must have exactly 1 operator when multi_operator_containers "
                        "is False",
                        tick=self.clock._ticks,
                        decision=repr(a),
                    )
                self._ids[0] += 1
                c = Container(f"c{self._ids[0]}", a, self)
                self.avail_cpu_pool -= a.cpu
                self.avail_ram_pool -= a.ram
                self.active_containers.append(c)
                if c._deadline < self._next_deadline:
                    self._next_deadline = c._deadline
            changed = True
        if self.suspending_containers:
            done = []
            for c in self.suspending_containers:
                c._suspend_left -= 1
                if c._suspend_left == 0:
                    for op in c.operators[c._op_idx :]:
                        op.transition(OperatorState.PENDING)
                    self.avail_cpu_pool += c._cpu
                    self.avail_ram_pool += c._ram
                    done.append(c)
            for c in done:
                self.suspending_containers.remove(c)
                self.suspended_containers.append(c)
                c._suspended = True
                changed = True
        active = self.active_containers
        ticked = False  # a container changed discretely (an over-allocation always does)
        for c in active:
            if c._tick():
                ticked = True
        if ticked:
            changed = True
            for c in active:
                if not c._completed and c._mem > c._ram:
                    c.kill("OOM")
        if self._consumed > self.max_ram_pool:
            victims = [c for c in active if not c._completed and c._mem > 0]
            victims.sort(key=lambda c: c._mem * (c._mem / c._ram), reverse=True)
            for c in victims:
                if self._consumed <= self.max_ram_pool:
                    break
                c.kill("OOM")
                changed = True
        if self._mjt > 0 and self.clock._ticks >= self._next_deadline:
            now = self.clock._ticks
            nxt = math.inf
            for c in active:
                if (
                    c._deadline <= now
                    and not c._completed
                    and any(
                        op.pipeline is not None and op.pipeline.runtime_status().has_timed_out()
                        for op in c.operators
                    )
                ):
                    c.kill("timeout")
                    changed = True
                elif not c._completed and c._deadline < nxt:
                    nxt = c._deadline
            self._next_deadline = nxt
        results: list[ExecutionResult] = []
        if changed and any(c._completed for c in active):
            keep = []
            for c in active:
                if c._completed:
                    self.avail_cpu_pool += c._cpu
                    self.avail_ram_pool += c._ram
                    if c.error is None:
                        self.num_completed += 1
                    result = ExecutionResult(
                        c.operators,
                        c._cpu,
                        c._ram,
                        c.priority,
                        self.pool_id,
                        c.container_id,
                        c.error,
                    )
                    result._ticks = c._elapsed  # type: ignore[attr-defined]
                    results.append(result)
                    self.container_tick_times.append(c._elapsed)
                else:
                    keep.append(c)
            self.active_containers = keep
            self._consumed = sum(c._mem for c in keep)
            changed = True
        return results, changed

    # --- skipping quiet ticks ----------------------------------------------------------------

    def next_discrete(self, now: int) -> int | None:
        """First tick after ``now`` with a discrete change in this pool (None: never)."""
        best: int | None = None
        for c in self.active_containers:
            t = c._next_discrete(now)
            if best is None or t < best:
                best = t
        for c in self.suspending_containers:
            if c._suspend_left > 0:
                t = now + c._suspend_left
                if best is None or t < best:
                    best = t
        return best

    def plan_fast_forward(self, k: int) -> tuple[int | None, float | None]:
        """Memory ledger for the next ``k`` quiet ticks.

        Returns (the first tick offset in 0..k-1 at which the pool-level OOM killer would fire,
        or None; the pool's ``consumed_ram_gb`` after the k ticks, or None if it does not move).
        Only ticks where some container's memory changes are summed; the others add +0.0.
        """
        tl = self.tick_length_secs
        columns = []
        bound = self._consumed
        for c in self.active_containers:
            phase = c._phases[c._seg]
            if phase.fixed is not None or c._i > phase.io:
                continue
            n = min(k, phase.io - c._i + 1)
            columns.append(phase.deltas(tl)[c._i : c._i + n])
            bound += min(phase.storage, c._ram) - c._mem
        self._ff_plan = None
        if not columns:
            victims = any(c._mem > 0 for c in self.active_containers)
            return (0 if victims and self._consumed > self.max_ram_pool else None), None
        rows = max(len(col) for col in columns)
        m = len(columns)
        if m == 1:
            flat = np.empty(rows + 1)
            flat[1:] = columns[0]
        else:
            grid = np.zeros((rows, m))
            for i, col in enumerate(columns):
                grid[: len(col), i] = col
            flat = np.empty(rows * m + 1)
            flat[1:] = grid.ravel()
        flat[0] = self._consumed
        sums = np.cumsum(flat)
        self._ff_plan = (sums, m, rows)
        margin = 1e-9 * max(1.0, abs(self.max_ram_pool)) + 4e-16 * sums.size * max(1.0, bound)
        if bound + margin > self.max_ram_pool:
            over = np.flatnonzero(sums[m::m] > self.max_ram_pool)
            if over.size:
                return int(over[0]), float(sums[-1])
            if sums[-1] > self.max_ram_pool and rows < k:
                return rows, float(sums[-1])
        return None, float(sums[-1])

    def fast_forward(self, k: int) -> None:
        """Advance ``k`` quiet ticks, as planned by the last `plan_fast_forward` (k ≤ planned)."""
        if k <= 0:
            return
        tl = self.tick_length_secs
        for c in self.active_containers:
            c._i += k
            c._elapsed += k
            c._mem = c._phases[c._seg].memory(c._i - 1, tl)
            c._can_suspend = False
        for c in self.suspending_containers:
            c._suspend_left -= k
        if self._ff_plan is not None:
            sums, m, rows = self._ff_plan
            self._consumed = float(sums[-1] if k >= rows else sums[k * m])
            self._ff_plan = None


class Executor:
    """All pools; routes decisions to pools by ``pool_id`` (unknown ids are ignored)."""

    def __init__(
        self,
        clock: SimClock,
        num_pools: int,
        cpus_per_pool: float,
        ram_gb_per_pool: float,
        ticks_per_second: float,
        allow_memory_overcommit: bool = False,
        tracker: ReadTracker | None = None,
        **kwargs: Any,
    ) -> None:
        self.clock = clock
        self._snap = token()
        self.num_pools = num_pools
        self.cpus_per_pool = cpus_per_pool
        self.ram_gb_per_pool = ram_gb_per_pool
        self.ticks_per_second = ticks_per_second
        self.tick_length_secs = 1.0 / ticks_per_second
        self._tracker = tracker or ReadTracker()
        ids = [0]
        self.pools = [
            ResourcePool(
                clock,
                i,
                cpus_per_pool,
                ram_gb_per_pool,
                ticks_per_second,
                kwargs.get("multi_operator_containers", True),
                allow_memory_overcommit,
                tracker=self._tracker,
                id_source=ids,
            )
            for i in range(num_pools)
        ]

    def get_pool_id_with_max_avail_ram(self) -> int:
        """First pool index with the strictly largest available RAM."""
        best = 0
        for i, pool in enumerate(self.pools):
            if pool.avail_ram_pool > self.pools[best].avail_ram_pool:
                best = i
        return best

    def num_completed(self) -> int:
        """Containers that finished successfully, over all pools."""
        return sum(p.num_completed for p in self.pools)

    def container_tick_times(self) -> list[int]:
        """Run times of harvested containers, pool by pool."""
        out: list[int] = []
        for p in self.pools:
            out.extend(p.container_tick_times)
        return out

    def get_total_ram_gb(self) -> float:
        """Total RAM of the cluster."""
        return self.num_pools * self.ram_gb_per_pool

    def get_allocated_ram_gb(self) -> float:
        """RAM allocated over all pools."""
        return sum(p.get_allocated_ram_gb() for p in self.pools)

    def get_consumed_ram_gb(self) -> float:
        """RAM in use over all pools."""
        return sum(p.get_consumed_ram_gb() for p in self.pools)

    def run_one_tick(
        self, suspensions: Sequence[Suspend], assignments: Sequence[Assignment]
    ) -> list[ExecutionResult]:
        """One tick of every pool in order (spec §7.1)."""
        results, _ = self._tick(suspensions, assignments)
        return results

    def _tick(
        self, suspensions: Sequence[Suspend], assignments: Sequence[Assignment]
    ) -> tuple[list[ExecutionResult], bool]:
        results: list[ExecutionResult] = []
        changed = False
        for pool in self.pools:
            pid = pool.pool_id
            sus = [s for s in suspensions if s.pool_id == pid] if suspensions else ()
            asg = [a for a in assignments if a.pool_id == pid] if assignments else ()
            r, ch = pool._tick(sus, asg)
            if r:
                results.extend(r)
            changed = changed or ch
        return results, changed


def pipelines_of(ops: list[Operator]) -> list[Pipeline]:
    """Distinct pipelines of ``ops`` in first-seen order."""
    seen: dict[int, Pipeline] = {}
    for op in ops:
        if op.pipeline is not None:
            seen.setdefault(id(op.pipeline), op.pipeline)
    return list(seen.values())
