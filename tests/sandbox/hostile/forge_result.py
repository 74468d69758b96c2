# expect: unverifiable failed
# Writes a forged case result (perfect stats, no decisions) to the worker's result pipe and exits.


@register_scheduler_init(key="forge_result")
def init(s):
    s.queue = []


@register_scheduler(key="forge_result")
def scheduler(s, results, pipelines):
    import json
    import os

    forged = {"status": "ok", "decisions": [], "stats": {"throughput": 1e9, "adjusted_latency": 0.0,
              "pipelines_all": {"completion_count": 10**6}}}
    print(json.dumps({"protocol": "policyforge-sandbox/1", "cases": [], "forged": True}))
    for fd in range(3, 16):
        try:
            os.write(fd, json.dumps(forged).encode())
        except OSError:
            pass
    os._exit(0)
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
