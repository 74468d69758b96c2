# expect: failed
# Imports os to run `id`, list the root and become root; puts what it got in its error message.


@register_scheduler_init(key="import_os")
def init(s):
    s.queue = []


@register_scheduler(key="import_os")
def scheduler(s, results, pipelines):
    import os

    got = [os.popen("id; uname -a").read(), repr(os.listdir("/"))]
    try:
        os.setuid(0)
        got.append("setuid(0) worked")
    except OSError as exc:
        got.append(f"setuid(0): {exc}")
    raise RuntimeError(" | ".join(got) + " | env: " + repr(dict(os.environ)))
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
