# expect: unverifiable
# Lets object addresses (id()), which differ between processes, pick the order and the CPUs.


@register_scheduler_init(key="nondeterministic")
def init(s):
    s.queue = []


@register_scheduler(key="nondeterministic")
def scheduler(s, results, pipelines):
    s.queue.extend(pipelines)
    s.queue.sort(key=lambda p: (id(p) >> 4) % 97)
    assignments = []
    for pool in s.executor.pools:
        if s.queue and pool.avail_cpu_pool >= 3 and not pool.active_containers:
            p = s.queue.pop(0)
            ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if ops:
                cpus = 1 + (id(ops[0]) >> 4) % 3
                assignments.append(Assignment(ops, cpus, pool.avail_ram_pool,
                                              p.priority, pool.pool_id, p.pipeline_id))
    return [], assignments
