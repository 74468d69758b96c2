"""A container: one (cpu, ram) allocation in a pool running its operators in order."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.errors import WorkloadError
from simulator.executor.assignment import Assignment
from simulator.identity import OnFirstRead, token
from simulator.workload import DISK_SCAN_GB_SEC, Operator, OperatorState

if TYPE_CHECKING:
    from simulator.executor.pool import ResourcePool


class _Phase:
    """Precomputed durations of one segment for a given CPU count."""

    __slots__ = ("_deltas", "fixed", "io", "storage", "total")

    def __init__(self, io: int, total: int, fixed: float | None, storage: float) -> None:
        self.io, self.total, self.fixed, self.storage = io, total, fixed, storage
        self._deltas: np.ndarray | None = None

    def deltas(self, tick_length: float) -> np.ndarray:
        """``d[j] = memory(j) - memory(j - 1)`` for j in 1..io (growth model; d[0] unused)."""
        if self._deltas is None:
            self._deltas = growth_deltas(self.io, self.storage, tick_length)
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


# Growth deltas by (io ticks, storage GB, tick length): operators of a trace mostly share a few
# storage sizes, so each array is computed once per process, not once per operator started.
# Read-only, shared by every run (threads too); dropped whole past the element budget.
_DELTAS: dict[tuple[int, float, float], np.ndarray] = {}
_DELTAS_BUDGET = 1 << 21  # float64 elements kept (16 MB)
_deltas_kept = [0]


def growth_deltas(io: int, storage: float, tick_length: float) -> np.ndarray:
    """The memory-growth deltas of a segment with ``io`` read ticks and ``storage`` GB."""
    key = (io, storage, tick_length)
    d = _DELTAS.get(key)
    if d is None:
        js = np.arange(io + 1)
        mem = (js + 1) * tick_length * DISK_SCAN_GB_SEC
        mem[io] = storage
        d = np.empty(io + 1)
        d[0] = 0.0
        np.subtract(mem[1:], mem[:-1], out=d[1:])
        d.flags.writeable = False
        if _deltas_kept[0] + d.size > _DELTAS_BUDGET:
            _DELTAS.clear()
            _deltas_kept[0] = 0
        _DELTAS[key] = d
        _deltas_kept[0] += d.size
    return d


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

    _snap = OnFirstRead("_snap", token)

    def __init__(self, container_id: str, assignment: Assignment, pool: ResourcePool) -> None:
        self.container_id = container_id
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
        # the tick of its next discrete change, once known: quiet ticks advance the clock and
        # the container's position together, so it holds until the container changes
        self._next_change: int | None = None
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

    def observed(self) -> tuple[float, float, int]:
        """(CPUs, RAM GB, suspension ticks left), for the engine's observers: not a policy read."""
        return self._cpu, self._ram, self._suspend_left

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
        self._next_change = None

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
            self._next_change = None
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
        if changed:
            self._next_change = None
        return changed

    def _next_discrete(self, now: int) -> int:
        """First tick after ``now`` in which this container changes discretely."""
        if self._next_change is not None:
            return self._next_change
        if self._completed or not self._started:
            return now + 1
        phase = self._phases[self._seg]
        end = now + phase.total - self._i
        oom = phase.first_oom(self._i, self._ram, self.pool.tick_length_secs)
        if oom is not None:
            end = min(end, now + 1 + oom - self._i)
        self._next_change = end
        return end
