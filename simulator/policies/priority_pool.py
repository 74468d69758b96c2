"""`priority-pool`: pool 0 serves queries and interactive work, pool 1 batch (spec §9.3)."""

from __future__ import annotations

from typing import Any

from simulator.executor import Assignment
from simulator.policies.priority import pool_snapshot, track_suspensions
from simulator.scheduling import (
    RetryStats,
    WaitingQueueJob,
    register_scheduler,
    register_scheduler_init,
)
from simulator.workload import OperatorState, Priority


@register_scheduler_init(key="priority-pool")
def priority_pool_init(s: Any) -> None:
    """Needs exactly two pools."""
    assert s.executor.num_pools == 2, "Priority-by-pool scheduler requires 2 pools"
    s.qry_jobs = []
    s.interactive_jobs = []
    s.batch_ppln_jobs = []
    s.queues_by_prio = {
        Priority.QUERY: s.qry_jobs,
        Priority.INTERACTIVE: s.interactive_jobs,
        Priority.BATCH_PIPELINE: s.batch_ppln_jobs,
    }
    s.suspending = {}
    s.oom_failed_to_run = 0


def _size(s: Any, job: Any, st: dict[str, float]) -> tuple[float, float] | None:
    rs = job.retry_stats
    avail_cpu, avail_ram = st["avail_cpu"], st["avail_ram"]
    if rs is not None and rs.error is not None:
        cpu, ram = 2 * rs.old_cpu, 2 * rs.old_ram
        if cpu / st["total_cpu"] >= 0.5 or ram / st["total_ram"] >= 0.5:
            s.oom_failed_to_run += 1
            return None
        if cpu >= avail_cpu or ram >= avail_ram:
            cpu, ram = avail_cpu, avail_ram
        return cpu, ram
    if rs is not None and rs.old_cpu <= avail_cpu and rs.old_ram <= avail_ram:
        cpu, ram = rs.old_cpu, rs.old_ram
        if cpu == avail_cpu or ram == avail_ram:
            cpu, ram = avail_cpu, avail_ram
        return cpu, ram
    cpu = max(1, int(st["total_cpu"] / 10))
    ram = max(1, int(st["total_ram"] / 10))
    if cpu >= avail_cpu or ram >= avail_ram:
        cpu, ram = avail_cpu, avail_ram
    return cpu, ram


@register_scheduler(key="priority-pool")
def priority_pool_scheduler(s: Any, results: list[Any], pipelines: list[Any]) -> tuple[list, list]:
    """Whole pipelines per container; failures retried at double size in their class's pool."""
    for p in pipelines:
        s.queues_by_prio[p.priority].append(WaitingQueueJob(p.priority, p, list(p.values), None))
    for r in results:
        if r.failed():
            ops = [op for op in r.ops if op.state() != OperatorState.COMPLETED]
            assert ops, "failed result without unfinished operators"
            s.queues_by_prio[r.priority].append(
                WaitingQueueJob(
                    r.priority,
                    ops[0].pipeline,
                    ops,
                    RetryStats(r.ram, r.cpu, r.error, r.container_id, r.pool_id),
                )
            )
    track_suspensions(s)
    snapshot = pool_snapshot(s)
    assignments = []
    plan = ((0, (s.qry_jobs, s.interactive_jobs)), (1, (s.batch_ppln_jobs,)))
    for pool_id, queues in plan:
        st = snapshot[pool_id]
        for queue in queues:
            removed: set[int] = set()
            for job in queue:
                if job.pipeline.runtime_status().has_timed_out():
                    removed.add(id(job))
                    continue
                if st["avail_ram"] == 0 or st["avail_cpu"] == 0:
                    assert st["avail_ram"] == 0 and st["avail_cpu"] == 0, (
                        f"Avail RAM: {st['avail_ram']}, CPU: {st['avail_cpu']} "
                        f"invalid pool {pool_id}"
                    )
                    break
                removed.add(id(job))
                size = _size(s, job, st)
                if size is None:
                    continue
                cpu, ram = size
                assignments.append(
                    Assignment(job.ops, cpu, ram, job.priority, pool_id, job.pipeline.pipeline_id)
                )
                st["avail_cpu"] -= cpu
                st["avail_ram"] -= ram
            if removed:
                queue[:] = [job for job in queue if id(job) not in removed]
    return [], assignments
