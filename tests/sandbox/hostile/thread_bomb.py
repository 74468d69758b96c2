# expect: failed timeout
# Starts threads without end (each blocks forever): the pids limit (or the address space) stops it and the batch still ends in time.


@register_scheduler_init(key="thread_bomb")
def init(s):
    s.queue = []


@register_scheduler(key="thread_bomb")
def scheduler(s, results, pipelines):
    import threading

    started = 0
    while True:
        try:
            threading.Thread(target=threading.Event().wait, daemon=True).start()
            started += 1
        except RuntimeError:
            pass
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
