# expect: timeout
# Sleeps 1.5 s in every call: each call is well under the batch limit, the batch is not.


@register_scheduler_init(key="slowloris")
def init(s):
    s.queue = []


@register_scheduler(key="slowloris")
def scheduler(s, results, pipelines):
    import time

    time.sleep(1.5)
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
