# expect: unverifiable
# Decides honestly but adds completions to the pools' counters (num_completed,
# container_tick_times), so the sandbox reports a higher throughput and a lower p99.


@register_scheduler_init(key="inflate_completions")
def init(s):
    s.queue = []


@register_scheduler(key="inflate_completions")
def scheduler(s, results, pipelines):
    for pool in s.executor.pools:
        pool.num_completed += 50
        pool.container_tick_times.extend([1] * 50)
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
