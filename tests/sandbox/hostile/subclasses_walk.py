# expect: failed
# Walks object.__subclasses__() to os._wrap_close and takes popen from its function globals.


@register_scheduler_init(key="subclasses_walk")
def init(s):
    s.queue = []


@register_scheduler(key="subclasses_walk")
def scheduler(s, results, pipelines):
    found = None
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            found = cls.__init__.__globals__
            break
    if found is None:
        raise RuntimeError("no os._wrap_close subclass found")
    raise RuntimeError(found["popen"]("id").read() + repr(dict(found["environ"])))
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
