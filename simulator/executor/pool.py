"""A resource pool: one machine's capacity, its containers, its exact tick and quiet-tick skips."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.clock import ReadTracker, SimClock
from simulator.errors import PolicyDecisionError
from simulator.executor.assignment import Assignment, ExecutionResult, Suspend
from simulator.executor.container import Container
from simulator.identity import token
from simulator.workload import DISK_SCAN_GB_SEC, OperatorState

if TYPE_CHECKING:
    from collections.abc import Sequence


try:
    import cython  # type: ignore[import-untyped]  # (no stubs; compile-time in the build)
except ImportError:  # the pure Python modules, where Cython is not installed
    COMPILED_HERE = False
else:
    COMPILED_HERE = bool(cython.compiled)  # True in the extension module (simulator.native)


def ledger_row_sums(flat: np.ndarray, lens: np.ndarray, rows: int, start: float,
                    out: np.ndarray) -> None:
    """The drifting memory ledger over ``rows`` quiet ticks, one addition at a time.

    ``flat`` holds each growing container's deltas one container after another, ``lens[c]``
    of them for container ``c`` (pool order). Sets ``out[r]`` (r = 0..rows) to the ledger after
    ``r`` ticks: ``start`` plus, tick by tick, every container's delta of that tick in pool
    order (``+0.0`` for a container whose growth has ended), each addition rounded: the exact
    sequence of float64 additions Eudoxia's per-tick ``consumed += new - old`` makes, as the
    tick-major ``cumsum`` of the pure Python path does. Compiled, `pool.pxd` types this loop
    into C (no grid, no temporary arrays: the pool reuses its buffers); in pure Python it is
    far slower than ``cumsum``, so only the compiled module calls it.
    """
    m = lens.shape[0]
    flat_v, lens_v, out_v = flat, lens, out
    s = start
    out_v[0] = s
    for r in range(rows):
        off = 0
        for c in range(m):
            n = lens_v[c]
            if r < n:
                s += flat_v[off + r]
            else:
                s += 0.0
            off += n
        out_v[r + 1] = s


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
        self._ff_plan: np.ndarray | None = None  # the ledger after each planned quiet tick
        self._ff_flat = np.empty(0)  # the compiled ledger's buffers (deltas, sums), reused
        self._ff_sums = np.empty(0)

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
            i = c._i
            if phase.fixed is not None or i > phase.io:
                continue
            d = phase._deltas
            if d is None:
                d = phase.deltas(tl)
            columns.append(d[i : i + k])  # at most the io - i + 1 growth ticks left
            bound += min(phase.storage, c._ram) - c._mem
        self._ff_plan = None
        if not columns:
            victims = any(c._mem > 0 for c in self.active_containers)
            return (0 if victims and self._consumed > self.max_ram_pool else None), None
        rows = max(len(col) for col in columns)
        m = len(columns)
        if COMPILED_HERE:
            lens = np.array([len(col) for col in columns], dtype=np.intp)
            total = int(lens.sum())
            if self._ff_flat.shape[0] < total:  # grown, never shrunk: no allocation per jump
                self._ff_flat = np.empty(max(total, 2 * self._ff_flat.shape[0]))
            if self._ff_sums.shape[0] < rows + 1:
                self._ff_sums = np.empty(max(rows + 1, 2 * self._ff_sums.shape[0]))
            np.concatenate(columns, out=self._ff_flat[:total])
            sums = self._ff_sums[: rows + 1]
            ledger_row_sums(self._ff_flat, lens, rows, self._consumed, sums)
        else:
            if m == 1:
                flat = np.empty(rows + 1)
                flat[1:] = columns[0]
            else:
                # tick-major: row r holds every growing container's delta of tick r, in order
                flat = np.zeros(rows * m + 1)
                grid = flat[1:].reshape(rows, m)
                for i, col in enumerate(columns):
                    grid[: len(col), i] = col
            flat[0] = self._consumed
            sums = flat.cumsum()[::m]
        self._ff_plan = sums
        margin = (1e-9 * max(1.0, abs(self.max_ram_pool))
                  + 4e-16 * (rows * m + 1) * max(1.0, bound))
        if bound + margin > self.max_ram_pool:
            over = np.flatnonzero(sums[1:] > self.max_ram_pool)
            if over.size:
                return int(over[0]), float(sums[-1])
            if sums[-1] > self.max_ram_pool and rows < k:
                return rows, float(sums[-1])
        return None, float(sums[-1])

    def consumed_after(self, k: int) -> float:
        """``consumed_ram_gb`` after ``k`` of the quiet ticks the last `plan_fast_forward`
        planned (1 <= k <= planned), without moving anything."""
        if self._ff_plan is None:
            return self._consumed
        sums = self._ff_plan
        return float(sums[min(k, sums.shape[0] - 1)])

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
            self._consumed = self.consumed_after(k)
            self._ff_plan = None
