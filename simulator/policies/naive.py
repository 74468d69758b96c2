"""`naive`: FIFO, one pipeline at a time gets a whole free pool; never retries (spec §9.1)."""

from __future__ import annotations

from typing import Any

from simulator.executor import Assignment
from simulator.scheduling import register_scheduler, register_scheduler_init
from simulator.workload import ASSIGNABLE_STATES, OperatorState


@register_scheduler_init(key="naive")
def naive_init(s: Any) -> None:
    """Empty FIFO queue."""
    s.waiting_queue = []
    s.multi_operator_containers = s.params["multi_operator_containers"]


@register_scheduler(key="naive")
def naive_scheduler(s: Any, results: list[Any], pipelines: list[Any]) -> tuple[list, list]:
    """Give each free pool wholly to the next pipeline with assignable work."""
    if not pipelines and not results:
        return [], []
    s.waiting_queue.extend(pipelines)
    requeue = []
    assignments = []
    for pool_id in range(s.executor.num_pools):
        pool = s.executor.pools[pool_id]
        avail_cpu, avail_ram = pool.avail_cpu_pool, pool.avail_ram_pool
        if avail_cpu <= 0 or avail_ram <= 0:
            continue
        while s.waiting_queue:
            p = s.waiting_queue.pop(0)
            status = p.runtime_status()
            if (
                status.is_pipeline_successful()
                or status.state_counts[OperatorState.FAILED] > 0
                or status.has_timed_out()
            ):
                continue
            requeue.append(p)
            if s.multi_operator_containers:
                ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=False)
            else:
                ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if not ops:
                continue
            assignments.append(
                Assignment(ops, avail_cpu, avail_ram, p.priority, pool_id, p.pipeline_id)
            )
            break
    s.waiting_queue.extend(requeue)
    return [], assignments
