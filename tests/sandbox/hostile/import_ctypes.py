# expect: failed
# Calls libc through ctypes: getuid, system("id"), setuid(0), unshare(CLONE_NEWUSER).


@register_scheduler_init(key="import_ctypes")
def init(s):
    s.queue = []


@register_scheduler(key="import_ctypes")
def scheduler(s, results, pipelines):
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    got = {
        "getuid": libc.getuid(),
        "system": libc.system(b"id > /dev/null"),
        "setuid0": libc.setuid(0),
        "unshare_user": libc.unshare(0x10000000),
        "errno": ctypes.get_errno(),
    }
    raise RuntimeError(f"libc: {got}")
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
