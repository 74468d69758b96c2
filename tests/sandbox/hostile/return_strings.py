# expect: failed
# Returns a list of strings instead of (suspensions, assignments).


@register_scheduler_init(key="return_strings")
def init(s):
    s.queue = []


@register_scheduler(key="return_strings")
def scheduler(s, results, pipelines):
    return ["suspend everything", "assign everything"]
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
