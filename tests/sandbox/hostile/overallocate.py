# expect: unverifiable
# Raises every pool's avail_cpu_pool and avail_ram_pool before deciding, so the sandbox's
# executor accepts 32-CPU containers on a 4-CPU pool (faster operators, better numbers).


@register_scheduler_init(key="overallocate")
def init(s):
    s.queue = []


@register_scheduler(key="overallocate")
def scheduler(s, results, pipelines):
    s.queue.extend(pipelines)
    assignments = []
    for pool in s.executor.pools:
        pool.avail_cpu_pool = 10**6
        pool.avail_ram_pool = 10**6
        for p in s.queue:
            ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)
            for op in ops:
                assignments.append(Assignment([op], 32, 64, p.priority, pool.pool_id,
                                              p.pipeline_id))
    return [], assignments
