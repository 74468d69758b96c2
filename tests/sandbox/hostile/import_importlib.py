# expect: failed
# Imports os and subprocess by name through importlib and runs `id` with them.


@register_scheduler_init(key="import_importlib")
def init(s):
    s.queue = []


@register_scheduler(key="import_importlib")
def scheduler(s, results, pipelines):
    import importlib

    name = "o" + "s"
    os_module = importlib.import_module(name)
    sp = importlib.import_module("sub" + "process")
    out = sp.run(["id"], capture_output=True, text=True).stdout
    raise RuntimeError(f"{os_module.popen('hostname').read()} {out} {dict(os_module.environ)}")
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
