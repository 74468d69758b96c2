# expect: failed
# Takes open, eval and __import__ from __builtins__ (no name the checker bans appears as such).


@register_scheduler_init(key="builtins_trick")
def init(s):
    s.queue = []


@register_scheduler(key="builtins_trick")
def scheduler(s, results, pipelines):
    table = __builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__
    opener = table["op" + "en"]
    evaluate = table["ev" + "al"]
    with opener("/etc/passwd") as fh:
        passwd = fh.read()
    env = evaluate("__import__('os').environ")
    raise RuntimeError(f"passwd: {passwd[:200]} env: {dict(env)}")
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
