"""An oracle policy for `benchmarks/suites.py`: it reads every operator's true resource profile.

No real scheduler knows these figures, so this is never a baseline a user is offered; it only
shows how far a policy that knows the sizes gets, and so how loose each bound is. It runs in the
benchmark's own process (the static checks would refuse it on `noisy`, where only estimates are
allowed).

* RAM: exactly the operator's peak memory, so no container is ever OOM-killed.
* CPUs: where the operator's scaling stops paying (1 for const, 3 for linear3, 7 for linear7,
  4 otherwise), capped by what the pool has free.
* Order: weighted shortest remaining work first (remaining RAM-seconds over the class weight
  10 / 5 / 1 of Eudoxia's adjusted latency), which favours both completions and latency.
* Pipelines that cannot fit a pool, or that timed out, are dropped. It never reads the clock
  (a policy that does is called on every tick).
* Pool: the one with the least free RAM that still fits (best fit), one operator per container.
"""

from eudoxia.executor.assignment import Assignment
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.utils import Priority
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES, OperatorState

KNEE = {"const": 1, "linear3": 3, "linear7": 7}
WEIGHT = {Priority.QUERY: 10, Priority.INTERACTIVE: 5, Priority.BATCH_PIPELINE: 1}


@register_scheduler_init(key="oracle")
def init(s):
    s.active = []
    s.cost = {}  # operator -> its RAM-seconds (computed once)
    s.largest_pool = max(pool.max_ram_pool for pool in s.executor.pools)


def cpus_for(segment):
    return KNEE.get(segment.cpu_scaling, 4)


def ram_seconds(op):
    segment = op.get_segments()[0]
    seconds = segment.get_io_seconds() + segment.get_cpu_time(cpus_for(segment))
    return segment.get_peak_memory_gb() * seconds


def wanted(s, p):
    status = p.runtime_status()
    if status.is_pipeline_successful() or status.has_timed_out():
        return False
    return all(op.get_segments()[0].get_peak_memory_gb() <= s.largest_pool for op in p.values)


def remaining(s, p):
    total = 0.0
    for op in p.values:
        if op.state() != OperatorState.COMPLETED:
            if op not in s.cost:
                s.cost[op] = ram_seconds(op)
            total += s.cost[op]
    return total


@register_scheduler(key="oracle")
def schedule(s, results, pipelines):
    s.active = [p for p in s.active + list(pipelines) if wanted(s, p)]
    free = {pool.pool_id: [pool.avail_cpu_pool, pool.avail_ram_pool] for pool in s.executor.pools}
    out = []
    for p in sorted(s.active, key=lambda p: remaining(s, p) / WEIGHT[p.priority]):
        for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
            segment = op.get_segments()[0]
            ram = segment.get_peak_memory_gb()
            fits = [(left[1], pool_id) for pool_id, left in free.items()
                    if left[0] >= 1 and left[1] >= ram]
            if not fits:
                continue
            _, pool_id = min(fits)
            cpus = min(cpus_for(segment), int(free[pool_id][0]))
            out.append(Assignment([op], cpus, ram, p.priority, pool_id, p.pipeline_id))
            free[pool_id][0] -= cpus
            free[pool_id][1] -= ram
    return [], out
