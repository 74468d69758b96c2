# expect: unverifiable
# Lets hash() of a string (seeded differently in every process: PYTHONHASHSEED is random) pick
# the order, the CPUs and the RAM of every assignment.


@register_scheduler_init(key="nondeterministic_hash")
def init(s):
    s.queue = []


@register_scheduler(key="nondeterministic_hash")
def scheduler(s, results, pipelines):
    s.queue.extend(pipelines)
    s.queue.sort(key=lambda p: hash(p.pipeline_id))
    assignments = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        for p in list(s.queue):
            for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
                want_cpu = 1 + hash(f"{p.pipeline_id}/{len(s.queue)}") % 2
                want_ram = 1 + hash(p.pipeline_id + "ram") % 4
                if want_cpu <= cpu and want_ram <= ram:
                    assignments.append(Assignment([op], want_cpu, want_ram, p.priority,
                                                  pool.pool_id, p.pipeline_id))
                    cpu, ram = cpu - want_cpu, ram - want_ram
            if p.runtime_status().is_pipeline_successful():
                s.queue.remove(p)
    return [], assignments
