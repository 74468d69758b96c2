# expect: failed
# Returns 42 instead of (suspensions, assignments).


@register_scheduler_init(key="return_int")
def init(s):
    s.queue = []


@register_scheduler(key="return_int")
def scheduler(s, results, pipelines):
    return 42
    s.queue.extend(pipelines)
    assignments = []
    for pool in s.executor.pools:
        if s.queue and pool.avail_cpu_pool > 0 and not pool.active_containers:
            p = s.queue.pop(0)
            ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if ops:
                assignments.append(Assignment(ops, pool.avail_cpu_pool, pool.avail_ram_pool,
                                              p.priority, pool.pool_id, p.pipeline_id))
    return [], assignments
