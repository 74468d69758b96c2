# expect: failed
# Sends to the host's loopback over UDP and TCP and to an abstract Unix socket (the test listens on all three), and resolves a name.


@register_scheduler_init(key="import_socket")
def init(s):
    s.queue = []


@register_scheduler(key="import_socket")
def scheduler(s, results, pipelines):
    import socket

    outcomes = []
    attempts = (
        (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 47614)),
        (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 47613)),
        (socket.AF_UNIX, socket.SOCK_STREAM, "\0policyforge-hostile-canary"),
    )
    for family, kind, address in attempts:
        try:
            with socket.socket(family, kind) as sock:
                sock.settimeout(1)
                sock.connect(address)
                sock.sendall(b"policyforge hostile policy was here")
                outcomes.append(f"{address!r}: SENT")
        except OSError as exc:
            outcomes.append(f"{address!r}: {exc}")
    try:
        outcomes.append(repr(socket.getaddrinfo("example.com", 80)))
    except OSError as exc:
        outcomes.append(f"dns: {exc}")
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
