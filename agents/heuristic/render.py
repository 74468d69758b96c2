"""Render a `HeuristicConfig` as one readable Eudoxia policy file.

The file is the same code for every configuration: a header that says where it came from, a block
of constants holding the knob values, and the policy. An engineer (or an LLM coder) can read it
top to bottom and edit a constant without understanding the proposer.
"""

from __future__ import annotations

import re

from agents.errors import HeuristicError
from agents.heuristic.config import HeuristicConfig

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

_HEADER = '''"""Scheduling policy `{key}`: composed by the heuristic proposer (non-LLM).

policyforge's heuristic proposer (`--model heuristic`) wrote this file from a template of known
scheduling heuristics and chose the knob values below by local search on simulation feedback. No
language model was involved; it is the baseline an LLM-written policy must beat.

What it optimises: the most completed pipelines, with no priority class starved (a class with
arrivals but no completions fails the objective).

Knobs:
{knobs}

How it schedules, on every call:
  * queue: every pipeline with ready operators, ordered by QUEUE_ORDER (priority class first, or
    fewest unfinished operators first), with AGING_WEIGHT rank levels gained per 10 s of waiting;
  * sizing: RAM = estimate x RAM_HEADROOM when the estimator gives one, else the cluster's RAM
    shared among the unfinished pipelines, at most INITIAL_RAM_FRAC of the pool, so it follows
    the cluster's size and load (raised, when LEARN_CLASS_RAM, to RAM_HEADROOM x the class's
    largest OOM-killed allocation); CPUs per priority class (a class-level prior, not an oracle:
    the policy never reads an operator's segments);
  * OOM: the retry gets RAM_GROWTH x the killed allocation, capped at the pool, and waits until
    it fits; after MAX_ATTEMPTS (or an OOM with the whole pool) the pipeline is given up and
    recorded on `s.given_up`;
  * reservations: batch work never takes the last RESERVE_CPU_FRAC / RESERVE_RAM_FRAC of a pool;
  * pools: with 2+ pools and PARTITION_POOLS, the first pools serve only QUERY/INTERACTIVE;
  * preemption: with PREEMPT, batch containers are suspended at operator boundaries while
    queries wait; with PACK_PIPELINE, multi-operator containers run a whole pipeline.
It never allocates more than a pool has free, counting its own assignments in the same call.
"""
'''

_BODY = '''
import math

from eudoxia.executor.assignment import Assignment, Suspend
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init
from eudoxia.utils import Priority
from eudoxia.workload.runtime_status import ASSIGNABLE_STATES, OperatorState

HIGH_PRIORITY = (Priority.QUERY, Priority.INTERACTIVE)
CLASS_CPUS = {
    Priority.QUERY: QUERY_CPUS,
    Priority.INTERACTIVE: INTERACTIVE_CPUS,
    Priority.BATCH_PIPELINE: BATCH_CPUS,
}
LIVE_STATES = (OperatorState.ASSIGNED, OperatorState.RUNNING, OperatorState.SUSPENDING)


class PoolView:
    """A pool's free capacity minus what this call has already assigned there."""

    def __init__(self, pool, high):
        self.pool = pool
        self.high = high
        self.used_cpu = 0    # summed in assignment order, as the executor checks over-allocation
        self.used_ram = 0.0
        self.left_cpu = pool.avail_cpu_pool  # subtracted one by one, as the executor allocates
        self.left_ram = pool.avail_ram_pool

    def free_cpu(self):
        return self.pool.avail_cpu_pool - self.used_cpu

    def free_ram(self):
        return self.pool.avail_ram_pool - self.used_ram

    def take(self, cpu, ram):
        self.used_cpu += cpu
        self.used_ram += ram
        self.left_cpu -= cpu
        self.left_ram -= ram

    def full(self):
        return self.free_cpu() < 1 or self.free_ram() <= 0


@register_scheduler_init(key=POLICY_KEY)
def init(s):
    s.multi_op = bool(s.params["multi_operator_containers"])
    s.tps = float(s.params["ticks_per_second"])
    s.now = 0
    s.active = []        # unfinished pipelines, in arrival order
    s.op_ram = {}        # operator -> RAM (GB) for its next attempt (after an OOM or a suspension)
    s.attempts = {}      # operator -> OOM kills so far
    s.class_ram = {Priority.QUERY: 0.0, Priority.INTERACTIVE: 0.0, Priority.BATCH_PIPELINE: 0.0}
    s.given_up = []      # (pipeline_id, reason): pipelines abandoned on purpose
    s.left = None        # free (cpu, ram) per pool expected after the last call's assignments
    s.queries_blocked = False
    s.ram_share = 0.0    # the cluster's RAM per unfinished pipeline, as of this call


@register_scheduler(key=POLICY_KEY)
def scheduler(s, results, pipelines):
    if not results and not pipelines and not s.queries_blocked and s.left == free_now(s):
        return [], []  # nothing changed since the last call, so it would decide nothing new
    if results or pipelines:
        s.now = s.clock.now_ticks()  # read only when something happened, so quiet ticks stay cheap
    s.active.extend(pipelines)
    for r in results:
        if r.error == "OOM":
            record_oom(s, r)
    s.active = [p for p in s.active if still_wanted(s, p)]
    s.ram_share = sum(pool.max_ram_pool for pool in s.executor.pools) / max(1, len(s.active))
    views = pool_views(s)
    assignments = []
    blocked = fill(s, views, assignments)
    suspensions = []
    if PREEMPT and blocked:
        suspensions = preempt_for_queries(s, blocked, views)
    s.queries_blocked = bool(blocked) and PREEMPT and s.multi_op
    s.left = [(v.left_cpu, v.left_ram) for v in views]
    return suspensions, assignments


def free_now(s):
    return [(pool.avail_cpu_pool, pool.avail_ram_pool) for pool in s.executor.pools]


def fill(s, views, assignments):
    """Assign ready work in queue order; returns the (pipeline, ops) of queries left waiting."""
    blocked_queries = []
    order = sorted(s.active, key=lambda p: queue_key(s, p))  # stable: ties keep arrival order
    stop = False
    for p in order:
        if stop or all(v.full() for v in views):
            stop = True
            if p.priority != Priority.QUERY:
                continue  # nothing more fits; only note which queries wait (for preemption)
        for ops in ready_ops(s, p):
            if stop or not place(s, p, ops, views, assignments):
                if p.priority == Priority.QUERY:
                    blocked_queries.append((p, ops))
                if not BACKFILL:
                    stop = True
    return blocked_queries


def record_oom(s, r):
    """Grow the killed operators' next allocation; give up when retrying cannot help."""
    cap = pool_max_ram(s, r.pool_id, r.ram)
    grown = min(cap, r.ram * RAM_GROWTH)
    # the killed size is too small for some operator of this class: later ones start above it
    learned = min(cap, r.ram * RAM_HEADROOM)
    if LEARN_CLASS_RAM and learned > s.class_ram[r.priority]:
        s.class_ram[r.priority] = learned
    for op in r.ops:
        if op.state() == OperatorState.COMPLETED:
            continue
        tries = s.attempts.get(op, 0) + 1
        s.attempts[op] = tries
        s.op_ram[op] = grown
        p = op.pipeline
        if not gave_up(s, p):
            if r.ram >= cap:
                s.given_up.append((p.pipeline_id, "OOM with the whole pool"))
            elif tries >= MAX_ATTEMPTS:
                s.given_up.append((p.pipeline_id, "OOM on every attempt"))


def pool_max_ram(s, pool_id, fallback):
    for pool in s.executor.pools:
        if pool.pool_id == pool_id:
            return pool.max_ram_pool
    return fallback


def gave_up(s, p):
    for pipeline_id, _reason in s.given_up:
        if pipeline_id == p.pipeline_id:
            return True
    return False


def still_wanted(s, p):
    status = p.runtime_status()
    if status.is_pipeline_successful() or status.has_timed_out():
        return False
    return not gave_up(s, p)


def pool_views(s):
    pools = s.executor.pools
    n_high = 0
    if PARTITION_POOLS and len(pools) >= 2:
        n_high = min(len(pools) - 1, max(1, int(round(len(pools) * QUERY_POOL_FRAC))))
    return [PoolView(pool, i < n_high) for i, pool in enumerate(pools)]


def ready_ops(s, p):
    """Operator lists that can start now: one per ready operator, or the whole pipeline."""
    status = p.runtime_status()
    counts = status.state_counts
    if counts[OperatorState.PENDING] + counts[OperatorState.FAILED] == 0:
        return []
    if s.multi_op and PACK_PIPELINE:
        if any(counts[st] > 0 for st in LIVE_STATES):
            return []  # one container per pipeline at a time
        return [status.get_ops(ASSIGNABLE_STATES, require_parents_complete=False)]
    return [[op] for op in status.get_ops(ASSIGNABLE_STATES, require_parents_complete=True)]


def queue_key(s, p):
    status = p.runtime_status()
    arrival = status.arrival_tick if status.arrival_tick is not None else s.now
    waited_s = max(0.0, (s.now - arrival) / s.tps)
    lift = int(math.floor(AGING_WEIGHT * waited_s / 10.0))
    rank = p.priority.value
    remaining = len(status.operator_states) - status.state_counts[OperatorState.COMPLETED]
    # Aging: a pipeline gains a level per 10 s / AGING_WEIGHT waited, so one that waited long
    # enough overtakes newer work of a better class; among equals the better class goes first.
    if QUEUE_ORDER == "shortest_first":
        return (remaining - lift, rank)
    if QUEUE_ORDER == "priority_shortest":
        return (rank - lift, rank, remaining)
    return (rank - lift, rank)


def place(s, p, ops, views, assignments):
    """Assign ``ops`` to the best pool they fit in; False if they fit nowhere now."""
    for view in candidate_pools(p.priority, views):
        size = size_job(s, p.priority, ops, view)
        if size is None:
            continue
        cpu, ram = size
        assignments.append(Assignment(ops, cpu, ram, p.priority, view.pool.pool_id, p.pipeline_id))
        view.take(cpu, ram)
        return True
    return False


def candidate_pools(prio, views):
    """Own pools first (most free RAM first), then, for high priority, the batch pools."""
    high = prio in HIGH_PRIORITY
    partitioned = any(v.high for v in views)
    own = [v for v in views if v.high == high or not partitioned]
    spill = [v for v in views if high and partitioned and not v.high]
    own.sort(key=lambda v: -v.free_ram())
    spill.sort(key=lambda v: -v.free_ram())
    return own + spill


def size_job(s, prio, ops, view):
    """(cpu, ram) for ``ops`` in this pool, or None if they do not fit there now."""
    pool = view.pool
    if pool.max_ram_pool <= 0 or pool.max_cpu_pool < 1:
        return None
    ram = 0.0
    for op in ops:
        ram = max(ram, op_ram(s, op, prio, pool.max_ram_pool))
    ram = min(ram, pool.max_ram_pool)
    cpu = min(wanted_cpus(prio), int(math.floor(view.free_cpu())))
    if cpu < 1 or ram <= 0:
        return None
    if view.used_ram + ram > pool.avail_ram_pool or view.used_cpu + cpu > pool.avail_cpu_pool:
        return None
    if prio not in HIGH_PRIORITY:
        if view.free_ram() - ram < RESERVE_RAM_FRAC * pool.max_ram_pool:
            return None
        if view.free_cpu() - cpu < RESERVE_CPU_FRAC * pool.max_cpu_pool:
            return None
    return cpu, ram


def op_ram(s, op, prio, pool_ram):
    """RAM for the operator's next attempt in a pool of ``pool_ram`` GB."""
    if op in s.op_ram:
        return s.op_ram[op]  # a retry after an OOM, or a suspended container resuming
    estimate = op.estimate.mem_peak_gb
    if estimate is not None and estimate > 0:
        return estimate * RAM_HEADROOM
    # No estimate: a fair share of the whole cluster, so a first attempt is neither a fixed slice
    # of a large pool (few, oversized containers) nor larger than the load leaves room for.
    ram = min(INITIAL_RAM_FRAC * pool_ram, s.ram_share)
    if LEARN_CLASS_RAM:
        ram = max(ram, s.class_ram[prio])
    return ram


def wanted_cpus(prio):
    if CPU_MODE == "fixed":
        return FIXED_CPUS
    return CLASS_CPUS[prio]


def preempt_for_queries(s, blocked, views):
    """Suspend batch containers at operator boundaries until waiting queries' RAM is freed."""
    if not views:
        return []
    pool_ram = max(v.pool.max_ram_pool for v in views)
    needed = 0.0
    for _p, ops in blocked:
        needed += max(op_ram(s, op, Priority.QUERY, pool_ram) for op in ops)
    suspensions = []
    freed = 0.0  # RAM that suspensions already under way will give back counts too
    for view in views:
        for c in view.pool.suspending_containers:
            freed += c.assignment.ram
    for view in views:
        for c in view.pool.active_containers:
            if freed >= needed:
                return suspensions
            if c.priority == Priority.BATCH_PIPELINE and c.can_suspend_container():
                for op in c.operators:
                    if op.state() != OperatorState.COMPLETED:
                        s.op_ram[op] = c.assignment.ram  # resume at the same size
                suspensions.append(Suspend(c.container_id, c.pool_id))
                freed += c.assignment.ram
    return suspensions
'''


def _constants(config: HeuristicConfig, key: str) -> str:
    values = config.model_dump()
    lines = [f"POLICY_KEY = {key!r}"]
    lines += [f"{name.upper()} = {values[name]!r}" for name in HeuristicConfig.model_fields]
    return "\n".join(lines) + "\n"


def _knob_lines(config: HeuristicConfig) -> str:
    values = config.model_dump()
    return "\n".join(f"  {name} = {values[name]!r}" for name in HeuristicConfig.model_fields)


def render_policy(config: HeuristicConfig, key: str = "heuristic") -> str:
    """The policy file for ``config``, registering ``key``: readable, deterministic Python."""
    if not _KEY.match(key):
        raise HeuristicError(
            f"policy key {key!r} is not usable: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter"
        )
    header = _HEADER.format(key=key, knobs=_knob_lines(config))
    constants = "\n# --- knobs chosen by the heuristic proposer " + "-" * 49 + "\n"
    return header + _BODY.replace(
        "\nHIGH_PRIORITY =", constants + _constants(config, key) + "\nHIGH_PRIORITY =", 1
    )
