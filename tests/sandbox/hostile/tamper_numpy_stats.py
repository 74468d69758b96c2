# expect: unverifiable
# Patches numpy's mean and percentile (which the statistics use) in its own process, so every
# latency it reports is zero.


@register_scheduler_init(key="tamper_numpy_stats")
def init(s):
    s.queue = []
    import numpy

    numpy.mean = lambda *args, **kwargs: 0.0
    numpy.percentile = lambda *args, **kwargs: 0.0


@register_scheduler(key="tamper_numpy_stats")
def scheduler(s, results, pipelines):
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
