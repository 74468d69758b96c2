"""The executor: every pool of the cluster; routes a tick's decisions to pools by ``pool_id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.clock import ReadTracker, SimClock
from simulator.executor.assignment import Assignment, ExecutionResult, Suspend
from simulator.executor.pool import ResourcePool
from simulator.identity import token
from simulator.workload import Operator, Pipeline

if TYPE_CHECKING:
    from collections.abc import Sequence


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
