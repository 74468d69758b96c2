# expect: failed
# Tries the host's loopback (a port the test listens on) and the Docker socket.


@register_scheduler_init(key="open_socket")
def init(s):
    s.queue = []


@register_scheduler(key="open_socket")
def scheduler(s, results, pipelines):
    import socket

    outcomes = []
    for family, address in ((socket.AF_INET, ("127.0.0.1", 47613)),
                            (socket.AF_UNIX, "/var/run/docker.sock")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(address)
                sock.sendall(b"policyforge hostile policy was here")
                outcomes.append(f"{address}: CONNECTED")
        except OSError as exc:
            outcomes.append(f"{address}: {exc}")
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
