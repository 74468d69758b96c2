"""`overbook`: one CPU per operator with the whole pool's RAM, relying on overcommit (§9.4)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from simulator.executor import Assignment
from simulator.scheduling import register_scheduler, register_scheduler_init
from simulator.workload import ASSIGNABLE_STATES

MAX_FAILURES = 3
log = logging.getLogger(__name__)


@register_scheduler_init(key="overbook")
def overbook_init(s: Any) -> None:
    """Operator queue and per-pipeline failure counts."""
    if not s.params.get("allow_memory_overcommit"):
        log.warning("overbook is meant for allow_memory_overcommit = true")
    s.op_queue = []
    s.pipeline_failures = defaultdict(int)
    s.avail_cpus = {}


@register_scheduler(key="overbook")
def overbook_scheduler(s: Any, results: list[Any], pipelines: list[Any]) -> tuple[list, list]:
    """Queue ready operators; start each with 1 CPU and the pool's full RAM."""
    if not pipelines and not results:
        return [], []
    touched = list(pipelines)
    for r in results:
        (op,) = r.ops
        touched.append(op.pipeline)
        if r.failed():
            s.pipeline_failures[op.pipeline.pipeline_id] += 1
    for p in touched:
        for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
            if op not in s.op_queue:
                s.op_queue.append(op)
    pools = s.executor.pools
    s.avail_cpus = {pool.pool_id: pool.avail_cpu_pool for pool in pools}
    assignments: list[Assignment] = []
    for index, op in enumerate(s.op_queue):
        p = op.pipeline
        if s.pipeline_failures[p.pipeline_id] >= MAX_FAILURES or p.runtime_status().has_timed_out():
            continue
        assert op.state() in ASSIGNABLE_STATES
        chosen = next((pool for pool in pools if s.avail_cpus[pool.pool_id] >= 1), None)
        if chosen is None:
            s.op_queue = s.op_queue[index:]
            return [], assignments
        s.avail_cpus[chosen.pool_id] -= 1
        assignments.append(
            Assignment([op], 1, chosen.max_ram_pool, p.priority, chosen.pool_id, p.pipeline_id)
        )
    s.op_queue = []
    return [], assignments
