# expect: failed
# Reaches ctypes through numpy (np.ctypeslib, ndarray.ctypes): calls libc, then writes through a raw pointer.


@register_scheduler_init(key="numpy_ctypes")
def init(s):
    s.queue = []


@register_scheduler(key="numpy_ctypes")
def scheduler(s, results, pipelines):
    import numpy as np

    ctypes = np.ctypeslib.ctypes
    libc = ctypes.CDLL(None)
    uid = libc.getuid()
    buf = np.zeros(4, dtype=np.uint8)
    ctypes.memset(buf.ctypes.data, 0x41, 4)  # its own array: allowed, proves the pointer works
    ctypes.memset(buf.ctypes.data - (1 << 40), 0, 4096)  # far outside it: the worker crashes
    raise RuntimeError(f"uid {uid}, buffer {buf.tobytes()!r}, and still alive")
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
