"""`priority`: per-priority FIFO queues, 10 % slices, OOM retry at double size, preemption.

Spec §9.2."""

from __future__ import annotations

from typing import Any

from simulator.executor import Assignment, Suspend
from simulator.scheduling import (
    RetryStats,
    WaitingQueueJob,
    get_pool_with_max_avail_ram,
    register_scheduler,
    register_scheduler_init,
)
from simulator.workload import ASSIGNABLE_STATES, OperatorState, Priority


@register_scheduler_init(key="priority")
def priority_init(s: Any) -> None:
    """Three FIFO queues and the suspension bookkeeping."""
    s.multi_operator_containers = s.params["multi_operator_containers"]
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


def track_suspensions(s: Any) -> None:
    """Remember work being suspended and requeue it once its suspension finished."""
    for pool in s.executor.pools:
        for c in pool.suspending_containers:
            ops = [op for op in c.operators if op.state() != OperatorState.COMPLETED]
            assert ops, "suspending container has no unfinished operators"
            s.suspending[c.container_id] = WaitingQueueJob(
                priority=c.priority,
                p=ops[0].pipeline,
                ops=ops,
                retry_stats=RetryStats(
                    old_ram=c.assignment.ram,
                    old_cpu=c.assignment.cpu,
                    error=None,
                    container_id=c.container_id,
                    pool_id=c.pool_id,
                ),
            )
    for pool in s.executor.pools:
        for c in pool.suspended_containers:
            if c.container_id in s.suspending:
                job = s.suspending.pop(c.container_id)
                s.queues_by_prio[job.priority].append(job)


def pool_snapshot(s: Any) -> list[dict[str, float]]:
    """Free and total CPU/RAM per pool, updated locally as the call assigns."""
    return [
        {
            "avail_cpu": pool.avail_cpu_pool,
            "avail_ram": pool.avail_ram_pool,
            "total_cpu": pool.max_cpu_pool,
            "total_ram": pool.max_ram_pool,
        }
        for pool in s.executor.pools
    ]


def _enqueue_touched(s: Any, results: list[Any], pipelines: list[Any]) -> None:
    touched: dict[str, Any] = {}
    for p in pipelines:
        touched.setdefault(p.pipeline_id, p)
    for r in results:
        for op in r.ops:
            touched.setdefault(op.pipeline.pipeline_id, op.pipeline)
    retry_info: dict[Any, RetryStats] = {}
    for r in results:
        if r.failed():
            for op in r.ops:
                if op.state() != OperatorState.COMPLETED:
                    retry_info[op] = RetryStats(
                        old_ram=r.ram,
                        old_cpu=r.cpu,
                        error=r.error,
                        container_id=r.container_id,
                        pool_id=r.pool_id,
                    )
    if not touched:
        return
    queued = {id(op) for queue in s.queues_by_prio.values() for job in queue for op in job.ops}
    multi = s.multi_operator_containers
    for p in touched.values():
        candidates = [
            op
            for op in p.runtime_status().get_ops(
                ASSIGNABLE_STATES, require_parents_complete=not multi
            )
            if id(op) not in queued
        ]
        if not candidates:
            continue
        queue = s.queues_by_prio[p.priority]
        if multi:
            queue.append(WaitingQueueJob(p.priority, p, candidates, retry_info.get(candidates[0])))
        else:
            for op in candidates:
                queue.append(WaitingQueueJob(p.priority, p, [op], retry_info.get(op)))


def _size(s: Any, job: Any, st: dict[str, float]) -> tuple[float, float] | None:
    rs = job.retry_stats
    if rs is not None and rs.error is not None:
        cpu, ram = 2 * rs.old_cpu, 2 * rs.old_ram
        if cpu > st["avail_cpu"] or ram > st["avail_ram"]:
            return None
        if cpu / st["total_cpu"] >= 0.5 or ram / st["total_ram"] >= 0.5:
            s.oom_failed_to_run += 1
            return None
        return cpu, ram
    if rs is not None and rs.old_cpu < st["avail_cpu"] and rs.old_ram < st["avail_ram"]:
        return rs.old_cpu, rs.old_ram
    cpu = max(1, int(st["total_cpu"] / 10))
    ram = max(1, int(st["total_ram"] / 10))
    if cpu >= st["avail_cpu"] or ram >= st["avail_ram"]:
        cpu, ram = st["avail_cpu"], st["avail_ram"]
    return cpu, ram


def _preempt_for_queries(s: Any) -> list[Suspend]:
    wanted = len(s.qry_jobs)
    pools = s.executor.pools
    iters = [iter(pool.active_containers) for pool in pools]
    exhausted = [False] * len(pools)
    selected: list[Any] = []
    i = 0
    while len(selected) < wanted and not all(exhausted):
        c = next((c for c in iters[i] if c.priority != Priority.QUERY), None)
        if c is None:
            exhausted[i] = True
        elif c.can_suspend_container():
            selected.append(c)
        i = (i + 1) % len(pools)
    return [Suspend(c.container_id, c.pool_id) for c in selected]


@register_scheduler(key="priority")
def priority_scheduler(s: Any, results: list[Any], pipelines: list[Any]) -> tuple[list, list]:
    """Serve queries, then interactive, then batch; preempt batch for waiting queries."""
    _enqueue_touched(s, results, pipelines)
    track_suspensions(s)
    snapshot = pool_snapshot(s)
    assignments = []
    for queue in (s.qry_jobs, s.interactive_jobs, s.batch_ppln_jobs):
        removed: set[int] = set()
        for job in queue:
            if job.pipeline.runtime_status().has_timed_out():
                removed.add(id(job))
                continue
            pool_id = get_pool_with_max_avail_ram(s, snapshot)
            if pool_id == -1:
                break
            removed.add(id(job))
            st = snapshot[pool_id]
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
    suspensions = _preempt_for_queries(s) if s.qry_jobs else []
    return suspensions, assignments
