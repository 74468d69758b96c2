# expect: failed
# Puts its whole environment in its error message (the host's must not be there).


@register_scheduler_init(key="env_canary")
def init(s):
    s.queue = []


@register_scheduler(key="env_canary")
def scheduler(s, results, pipelines):
    import os

    raise RuntimeError("environment: " + repr(dict(os.environ)))
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
