# expect: failed
# Writes forged case and batch results straight to fd 1 with os.write, then exits without a result.


@register_scheduler_init(key="forge_fd1")
def init(s):
    s.queue = []


@register_scheduler(key="forge_fd1")
def scheduler(s, results, pipelines):
    import json
    import os

    stats = {"throughput": 1e9, "adjusted_latency": 0.0,
             "pipelines_all": {"completion_count": 10**6}}
    case = {"status": "ok", "decisions": [], "stats": stats}
    batch = {"protocol": "policyforge-sandbox/1", "cases": [{"name": "tiny", **case}],
             "determinism": None, "error": None}
    for doc in (case, batch):
        os.write(1, json.dumps(doc).encode())
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
