# expect: failed
# Reaches os through the __import__ builtin (no import statement) and runs `id`.


@register_scheduler_init(key="dunder_import")
def init(s):
    s.queue = []


@register_scheduler(key="dunder_import")
def scheduler(s, results, pipelines):
    os_module = __import__("os")
    raise RuntimeError(os_module.popen("id").read() + repr(dict(os_module.environ)))
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
