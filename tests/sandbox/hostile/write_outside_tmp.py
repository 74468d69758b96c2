# expect: failed
# Writes marker files into /etc, /, the simulator package and the checkout above it (the test
# checks that none appears on the host).


@register_scheduler_init(key="write_outside_tmp")
def init(s):
    s.queue = []


@register_scheduler(key="write_outside_tmp")
def scheduler(s, results, pipelines):
    import os

    import simulator

    package = os.path.dirname(os.path.abspath(simulator.__file__))
    targets = [
        "/etc/policyforge-hostile-marker",
        os.path.join(package, "policyforge_hostile_marker.py"),
        os.path.join(os.path.dirname(package), "policyforge-hostile-marker"),
        "/policyforge-hostile-marker",
    ]
    outcomes = []
    for path in targets:
        try:
            with open(path, "w") as fh:
                fh.write("written by a hostile policy\n")
            outcomes.append(f"{path}: WRITTEN")
        except OSError as exc:
            outcomes.append(f"{path}: {exc}")
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
