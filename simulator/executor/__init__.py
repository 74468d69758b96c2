"""Pools, containers and the decisions that create them: Eudoxia's executor (spec §7).

Cut as Eudoxia's own package is: `assignment` (the decisions a policy returns and the results it
gets back), `container` (one allocation running its operators), `pool` (one machine, its exact
tick and the skipping of quiet ticks) and `executor` (all pools). Every name is importable from
``simulator.executor`` as before.

A pool advances in two ways. `ResourcePool.run_one_tick` is one tick exactly as Eudoxia runs it.
`ResourcePool.fast_forward` jumps over ticks in which nothing discrete can happen (no operator
starts or finishes, no OOM, no suspension completes): only counters move and memory grows, and
the pool's drifting ``consumed_ram_gb`` is replayed by adding the deltas one tick at a time, in
pool order, so its floating-point value is bit-identical to Eudoxia's (numpy's sequential
``cumsum`` in pure Python, a typed loop in the compiled module: `pool.ledger_row_sums`).
"""

from simulator.executor.assignment import Assignment, ExecutionResult, Suspend
from simulator.executor.container import Container, _container_deadline, _Phase
from simulator.executor.executor import Executor, pipelines_of
from simulator.executor.pool import ResourcePool

__all__ = [
    "Assignment",
    "Container",
    "ExecutionResult",
    "Executor",
    "ResourcePool",
    "Suspend",
    "_Phase",
    "_container_deadline",
    "pipelines_of",
]
