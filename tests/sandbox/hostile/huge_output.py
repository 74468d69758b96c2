# expect: failed
# Floods the runner's own stdout (found through /proc) past the output cap; where that is closed
# to it, sends a 40 MB result through its own result pipe for the runner to pass on.


@register_scheduler_init(key="huge_output")
def init(s):
    s.queue = []


@register_scheduler(key="huge_output")
def scheduler(s, results, pipelines):
    import os

    chunk = b"x" * (1 << 20)
    try:
        with open(f"/proc/{os.getppid()}/fd/1", "wb", buffering=0) as out:
            for _ in range(200):
                out.write(chunk)
    except OSError:
        pass
    flood = b'{"status": "error", "error": {"message": "' + b"y" * (40 << 20) + b'"}}'
    for fd in range(3, 16):
        try:
            os.write(fd, flood)
        except OSError:
            pass
    os._exit(0)
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
