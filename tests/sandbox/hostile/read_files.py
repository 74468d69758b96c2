# expect: failed
# Reads /etc/passwd and the host's canary file and puts them in its error message.


@register_scheduler_init(key="read_files")
def init(s):
    s.queue = []


@register_scheduler(key="read_files")
def scheduler(s, results, pipelines):
    found = []
    for path in ("/etc/passwd", "/tmp/policyforge-canary.txt"):
        try:
            with open(path) as fh:
                found.append(fh.read())
        except OSError as exc:
            found.append(f"{path}: {exc}")
    raise RuntimeError("exfiltrated: " + " | ".join(found))
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
