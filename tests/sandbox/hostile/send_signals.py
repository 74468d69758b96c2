# expect: failed
# Sends SIGKILL to its parent (the runner) and to pid 1: the batch must still end with a clear reason.


@register_scheduler_init(key="send_signals")
def init(s):
    s.queue = []


@register_scheduler(key="send_signals")
def scheduler(s, results, pipelines):
    import os
    import signal

    outcomes = []
    for pid in (os.getppid(), 1):
        try:
            os.kill(pid, signal.SIGKILL)
            outcomes.append(f"kill({pid}): sent")
        except OSError as exc:
            outcomes.append(f"kill({pid}): {exc}")
    raise RuntimeError("; ".join(outcomes))
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
