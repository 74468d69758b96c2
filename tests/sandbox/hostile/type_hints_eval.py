# expect: failed
# Hides code in a string annotation that typing.get_type_hints evaluates.


@register_scheduler_init(key="type_hints_eval")
def init(s):
    s.queue = []


@register_scheduler(key="type_hints_eval")
def scheduler(s, results, pipelines):
    import typing

    loot = []

    def probe(x: "[loot.append(__import__('os').popen('id').read()), int][1]") -> None:
        pass

    typing.get_type_hints(probe, localns={"loot": loot})
    raise RuntimeError(f"the annotation ran: {loot}")
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
