"""Realistic candidate policies, as an LLM coder would write them, for the sandbox tests.

Each is the full text of a policy file. They use only what a policy may use (allowed imports,
the eudoxia paths or the provided names) and read no information a real scheduler lacks, so the
static checks pass them with no finding, and they run to completion in the simulator (all but
`SMALL_CLUSTERS_ONLY`, which raises on the largest cluster of `scales` on purpose).
"""

# Eudoxia style: the template's imports, one operator per container, FIFO.
FIFO = '''\
"""FIFO: one operator at a time per pool, oldest pipeline first."""
from typing import List, Tuple

from eudoxia.executor.assignment import Assignment, ExecutionResult, Suspend
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.workload import OperatorState, Pipeline
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES


@register_scheduler_init(key="fifo")
def fifo_init(s):
    s.queue: List[Pipeline] = []


@register_scheduler(key="fifo")
def fifo_scheduler(
    s, results: List[ExecutionResult], pipelines: List[Pipeline]
) -> Tuple[List[Suspend], List[Assignment]]:
    s.queue.extend(pipelines)
    if not s.queue:
        return [], []
    assignments = []
    for pool in s.executor.pools:
        if pool.avail_cpu_pool <= 0 or pool.avail_ram_pool <= 0 or pool.active_containers:
            continue
        while s.queue:
            pipeline = s.queue[0]
            status = pipeline.runtime_status()
            if status.is_pipeline_successful() or status.state_counts[OperatorState.FAILED]:
                s.queue.pop(0)
                continue
            ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if ops:
                assignments.append(Assignment(ops, pool.avail_cpu_pool, pool.avail_ram_pool,
                                              pipeline.priority, pool.pool_id,
                                              pipeline.pipeline_id))
            break
    return [], assignments
'''

# Priorities first (query, interactive, batch), FIFO within a priority, through a heap.
PRIORITY_HEAP = '''\
import heapq
import itertools
from dataclasses import dataclass, field

from eudoxia.executor.assignment import Assignment
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.utils import Priority
from eudoxia.workload import Pipeline
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES

RANK = {Priority.QUERY: 0, Priority.INTERACTIVE: 1, Priority.BATCH_PIPELINE: 2}
CPU_SHARE = 0.25


@dataclass(order=True)
class Entry:
    rank: int
    seq: int
    pipeline: Pipeline = field(compare=False)


@register_scheduler_init(key="priority-heap")
def init(s):
    s.heap = []
    s.seq = itertools.count()
    s.ram_scale = {}


@register_scheduler(key="priority-heap")
def schedule(s, results, pipelines):
    for p in pipelines:
        heapq.heappush(s.heap, Entry(RANK[p.priority], next(s.seq), p))
    for r in results:
        if r.failed():
            # an OOM or timeout: retry the pipeline later, at its rank, with twice the memory
            p = r.ops[0].pipeline
            s.ram_scale[p.pipeline_id] = s.ram_scale.get(p.pipeline_id, 1.0) * 2
            heapq.heappush(s.heap, Entry(RANK[r.priority], next(s.seq), p))
    assignments = []
    waiting = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        while s.heap and cpu >= 1 and ram > 0:
            entry = heapq.heappop(s.heap)
            status = entry.pipeline.runtime_status()
            if status.is_pipeline_successful():
                continue
            ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if not ops:
                waiting.append(entry)
                continue
            want_cpu = max(1, int(pool.max_cpu_pool * CPU_SHARE))
            use_cpu = min(cpu, want_cpu)
            scale = s.ram_scale.get(entry.pipeline.pipeline_id, 1.0)
            use_ram = min(ram, scale * pool.max_ram_pool * use_cpu / pool.max_cpu_pool)
            assignments.append(Assignment(ops, use_cpu, use_ram, entry.pipeline.priority,
                                          pool.pool_id, entry.pipeline.pipeline_id))
            cpu -= use_cpu
            ram -= use_ram
            waiting.append(entry)
    for entry in waiting:
        heapq.heappush(s.heap, entry)
    return [], assignments
'''

# Right-sizing: memory from the estimator when there is one, doubled after an OOM.
RIGHT_SIZING = '''\
import math
from collections import deque
from typing import Dict, List

import numpy as np

from eudoxia.executor.assignment import Assignment, ExecutionResult
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.workload import Pipeline
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES

HEADROOM = 1.2
DEFAULT_GB = 8.0


@register_scheduler_init(key="right-size")
def init(s):
    s.queue = deque()
    s.ram_for_op: Dict[object, float] = {}
    s.seen_gb: List[float] = []


def ram_for(s, op) -> float:
    """Memory to give ``op``: estimate plus headroom, or what the last try needed, doubled."""
    if op in s.ram_for_op:
        return s.ram_for_op[op]
    estimate = op.estimate.mem_peak_gb
    if estimate is not None:
        return math.ceil(estimate * HEADROOM)
    if s.seen_gb:
        return float(np.percentile(np.asarray(s.seen_gb), 90))
    return DEFAULT_GB


@register_scheduler(key="right-size")
def schedule(s, results: List[ExecutionResult], pipelines: List[Pipeline]):
    s.queue.extend(pipelines)
    for r in results:
        if r.failed():
            for op in r.ops:
                s.ram_for_op[op] = r.ram * 2
            s.queue.appendleft(r.ops[0].pipeline)
        else:
            s.seen_gb.append(r.ram)
    assignments = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        skipped = deque()
        while s.queue and cpu >= 2:
            p = s.queue.popleft()
            status = p.runtime_status()
            if status.is_pipeline_successful():
                continue
            ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            need = min(ram_for(s, ops[0]), pool.max_ram_pool) if ops else 0.0
            if not ops or need > ram:
                skipped.append(p)
                continue
            assignments.append(Assignment(ops, 2, need, p.priority, pool.pool_id,
                                          p.pipeline_id))
            cpu -= 2
            ram -= need
            skipped.append(p)
        s.queue.extendleft(reversed(skipped))
    return [], assignments
'''

# The paper's style: no imports at all, the names are provided by the loader.
NO_IMPORTS = '''\
@register_scheduler_init(key="query-first")
def init(s):
    s.waiting = {Priority.QUERY: [], Priority.INTERACTIVE: [], Priority.BATCH_PIPELINE: []}
    s.share = {}  # pipeline_id -> fraction of a pool it gets; doubled after each OOM


@register_scheduler(key="query-first")
def scheduler(s, results, pipelines):
    for p in pipelines:
        s.waiting[p.priority].append(p)
    for r in results:
        if r.failed():
            pid = r.ops[0].pipeline.pipeline_id
            s.share[pid] = min(1.0, s.share.get(pid, 0.25) * 2)
    suspensions, assignments = [], []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        for prio in (Priority.QUERY, Priority.INTERACTIVE, Priority.BATCH_PIPELINE):
            queue = s.waiting[prio]
            for p in list(queue):
                if p.runtime_status().is_pipeline_successful():
                    queue.remove(p)
                    continue
                ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)
                share = s.share.get(p.pipeline_id, 0.25)
                cpu_share = pool.max_cpu_pool * share
                ram_share = pool.max_ram_pool * share
                if not ops or cpu < cpu_share or ram < ram_share:
                    continue
                assignments.append(Assignment(ops[:1], cpu_share, ram_share, p.priority,
                                              pool.pool_id, p.pipeline_id))
                cpu -= cpu_share
                ram -= ram_share
    return suspensions, assignments
'''

GOOD_POLICIES = {"fifo": FIFO, "priority-heap": PRIORITY_HEAP, "right-size": RIGHT_SIZING,
                 "query-first": NO_IMPORTS}

# Packs a few operators per pool at fixed sizes, oldest pipeline first, and gives up on a pool of
# more than 1000 CPUs: on `scales` its run fails on x16 (1024 CPUs) only.
SMALL_CLUSTERS_ONLY = '''\
"""Fixed-size FIFO that refuses clusters it was not written for."""


@register_scheduler_init(key="small_clusters")
def init(s):
    s.queue = []


@register_scheduler(key="small_clusters")
def schedule(s, results, pipelines):
    if any(pool.max_cpu_pool > 1000 for pool in s.executor.pools):
        raise ValueError("this policy cannot schedule a pool of more than 1000 CPUs")
    s.queue.extend(pipelines)
    assignments = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        waiting = []
        while s.queue and cpu >= 8 and ram >= 125:
            pipeline = s.queue.pop(0)
            status = pipeline.runtime_status()
            if status.is_pipeline_successful() or status.state_counts[OperatorState.FAILED]:
                continue  # done, or out of memory at this size: given up
            ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            waiting.append(pipeline)
            if ops:
                assignments.append(Assignment(ops, 8, 125, pipeline.priority, pool.pool_id,
                                              pipeline.pipeline_id))
                cpu, ram = cpu - 8, ram - 125
        s.queue = waiting + s.queue
    return [], assignments
'''
