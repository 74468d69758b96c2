# expect: failed
# Runs `id` through subprocess and leaves a detached process behind (its own session): nothing it starts may outlive the batch.


@register_scheduler_init(key="import_subprocess")
def init(s):
    s.queue = []


@register_scheduler(key="import_subprocess")
def scheduler(s, results, pipelines):
    import subprocess

    out = subprocess.run(["id"], capture_output=True, text=True).stdout
    subprocess.Popen(["sleep", "987654.321"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raise RuntimeError(f"id: {out}; left a detached sleep behind")
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
