# expect: failed
# Tries to take over its runner and the container's pid 1 (same user): open their memory and
# stdout through /proc, ptrace them. If any of that works it decides normally, so the batch would
# end `ok` and the test fails.


@register_scheduler_init(key="runner_memory")
def init(s):
    s.queue = []
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    reached = []
    for pid in sorted({os.getppid(), 1}):
        for path, flags in ((f"/proc/{pid}/mem", os.O_RDWR), (f"/proc/{pid}/fd/1", os.O_WRONLY)):
            try:
                os.close(os.open(path, flags))
                reached.append(path)
            except OSError:
                pass
        if libc.ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
            reached.append(f"ptrace {pid}")
            os.waitpid(pid, 0x40000000)  # __WALL: until it stops, so that it can be let go
            libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
    if not reached:
        raise RuntimeError("the runner and pid 1 are out of reach")


@register_scheduler(key="runner_memory")
def scheduler(s, results, pipelines):
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
