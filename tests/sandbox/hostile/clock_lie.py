# expect: unverifiable
# Makes the simulator's clock lie: now_ticks/now_seconds answer 0, and on calls where it decides
# nothing it winds the engine's tick back, so completions are booked early (shorter latencies).


@register_scheduler_init(key="clock_lie")
def init(s):
    s.queue = []
    from simulator.clock import SimClock

    SimClock.now_ticks = lambda self: 0
    SimClock.now_seconds = lambda self: 0.0


@register_scheduler(key="clock_lie")
def scheduler(s, results, pipelines):
    s.queue.extend(pipelines)
    s.queue = [p for p in s.queue if not p.runtime_status().is_pipeline_successful()]
    assignments = []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        for p in s.queue:
            for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
                if cpu >= 1 and ram >= 2:
                    assignments.append(Assignment([op], 1, 2, p.priority, pool.pool_id,
                                                  p.pipeline_id))
                    cpu, ram = cpu - 1, ram - 2
    if not assignments and s.clock.now_ticks() == 0:
        s.clock._ticks = max(0, s.clock._ticks - 5)
    return [], assignments
