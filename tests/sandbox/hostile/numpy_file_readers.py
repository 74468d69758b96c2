# expect: failed
# Reads /etc/passwd with np.loadtxt and the host's canary file with np.fromfile.


@register_scheduler_init(key="numpy_file_readers")
def init(s):
    s.queue = []


@register_scheduler(key="numpy_file_readers")
def scheduler(s, results, pipelines):
    import numpy as np

    found = []
    try:
        found.append(repr(np.loadtxt("/etc/passwd", dtype=str, delimiter=":", comments=None)[:5]))
    except (OSError, ValueError) as exc:
        found.append(f"loadtxt: {exc}")
    try:
        found.append(np.fromfile("/tmp/policyforge-canary.txt", dtype=np.uint8).tobytes().decode())
    except (OSError, ValueError) as exc:
        found.append(f"fromfile: {exc}")
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
