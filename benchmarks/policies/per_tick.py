"""A per-tick policy for the simulator benchmark (written for it; not a tuned scheduler).

It has the shape that forces an exact simulator to call it on every tick: it reads the clock on
every call (batch work waits until it has aged, and waiting time orders the queue), and it fetches
every waiting pipeline's ready operators with ``get_ops`` on every call. Containers hold all of a
pipeline's ready operators; an OOM-killed container's operators come back with twice the RAM.
"""

from eudoxia.executor.assignment import Assignment
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.utils import Priority
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES, OperatorState

BATCH_AGE_SECONDS = 2.0


@register_scheduler_init(key="per-tick")
def init(s):
    s.waiting = []
    s.ram_for = {}  # operator -> RAM of its next container (after an OOM)


@register_scheduler(key="per-tick")
def per_tick(s, results, pipelines):
    now = s.clock.now_seconds()
    s.waiting.extend(pipelines)
    for r in results:
        if r.failed():
            for op in r.ops:
                s.ram_for[op] = 2 * r.ram
    keep = []
    for p in s.waiting:
        status = p.runtime_status()
        if status.is_pipeline_successful() or status.has_timed_out():
            continue
        keep.append(p)
    s.waiting = keep

    def rank(p):
        waited = now - p.runtime_status().arrival_tick / s.params["ticks_per_second"]
        return (p.priority.value, -waited)

    free = [[pool.avail_cpu_pool, pool.avail_ram_pool] for pool in s.executor.pools]
    assignments = []
    for p in sorted(s.waiting, key=rank):
        status = p.runtime_status()
        ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)
        if not ops:
            continue
        if p.priority == Priority.BATCH_PIPELINE:
            waited = now - status.arrival_tick / s.params["ticks_per_second"]
            busy = status.state_counts[OperatorState.RUNNING] > 0
            if waited < BATCH_AGE_SECONDS or busy:
                continue
        ram = max(s.ram_for.get(op, 16.0) for op in ops)
        cpu = 8 if p.priority != Priority.BATCH_PIPELINE else 4
        if not s.params["multi_operator_containers"]:
            ops = ops[:1]
        for pool_id, (avail_cpu, avail_ram) in enumerate(free):
            if avail_cpu >= cpu and avail_ram >= ram:
                assignments.append(Assignment(ops, cpu, ram, p.priority, pool_id, p.pipeline_id))
                free[pool_id] = [avail_cpu - cpu, avail_ram - ram]
                break
    return [], assignments
