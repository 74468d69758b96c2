# expect: unverifiable
# Iterates a set of pipeline ids (string hashes, so the order differs from process to process)
# and lets that order pick who runs first and with how many CPUs and how much RAM.


@register_scheduler_init(key="nondeterministic_set")
def init(s):
    s.by_id = {}
    s.waiting = set()


@register_scheduler(key="nondeterministic_set")
def scheduler(s, results, pipelines):
    for p in pipelines:
        s.by_id[p.pipeline_id] = p
        s.waiting.add(p.pipeline_id)
    assignments = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        for rank, pid in enumerate(s.waiting):
            p = s.by_id[pid]
            for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
                want_cpu, want_ram = 1 + rank % 2, 1 + rank % 3
                if want_cpu <= cpu and want_ram <= ram:
                    assignments.append(Assignment([op], want_cpu, want_ram, p.priority,
                                                  pool.pool_id, pid))
                    cpu, ram = cpu - want_cpu, ram - want_ram
    s.waiting = {pid for pid in s.waiting
                 if not s.by_id[pid].runtime_status().is_pipeline_successful()}
    return [], assignments
