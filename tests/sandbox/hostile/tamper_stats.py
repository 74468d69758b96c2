# expect: unverifiable
# Patches the simulator's statistics in its own process to report a perfect score.


@register_scheduler_init(key="tamper_stats")
def init(s):
    s.queue = []
    import simulator.stats

    honest = simulator.stats.SimulatorStats.to_dict

    def flattering(self):
        out = honest(self)
        out["throughput"] = 1e9
        out["pipelines_all"] = {**out["pipelines_all"], "completion_count": 10**6}
        return out

    simulator.stats.SimulatorStats.to_dict = flattering


@register_scheduler(key="tamper_stats")
def scheduler(s, results, pipelines):
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
