# expect: failed
# Lists the home directories and reads SSH keys and the host's home canary file (the test puts it in its own home).


@register_scheduler_init(key="read_home")
def init(s):
    s.queue = []


@register_scheduler(key="read_home")
def scheduler(s, results, pipelines):
    import glob
    import os

    found = []
    for home in ["/root", *glob.glob("/home/*"), os.path.expanduser("~")]:
        try:
            found.append(f"{home}: {sorted(os.listdir(home))}")
        except OSError as exc:
            found.append(f"{home}: {exc}")
        for path in (*glob.glob(f"{home}/.ssh/*"), f"{home}/.policyforge-home-canary"):
            try:
                with open(path) as fh:
                    found.append(f"{path}: {fh.read()}")
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
