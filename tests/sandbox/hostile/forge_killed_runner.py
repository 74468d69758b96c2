# expect: failed
# Forges a whole batch result that would verify (it runs the trusted simulator itself, with the
# `priority` policy, on the case it finds in its own memory), writes it to the runner's stdout
# through /proc and kills the runner so that nothing else follows: the runner's /proc entries
# must be closed to it, the runner must survive, and output of a runner that did not exit
# cleanly must not be believed.


@register_scheduler_init(key="forge_killed_runner")
def init(s):
    s.queue = []


@register_scheduler(key="forge_killed_runner")
def scheduler(s, results, pipelines):
    import gc
    import io
    import json
    import os
    import signal

    from sandbox.runner import decisions_digest
    from simulator.engine import run_simulation
    from simulator.trace_io import read_trace

    payload = next(o for o in gc.get_objects()
                   if isinstance(o, dict) and "case" in o and "record_decisions" in o)
    case = payload["case"]
    trace = read_trace(io.StringIO(case["trace_csv_text"]), name="forged.csv")
    honest = run_simulation(case["params"], trace, "priority", record_decisions=True)
    forged = {
        "protocol": "policyforge-sandbox/1",
        "cases": [{"name": case["name"], "status": "ok", "decisions": honest.decisions,
                   "stats": honest.stats_json()}],
        "determinism": {"case": case["name"], "status": "ok",
                        "decisions_sha256": decisions_digest(honest.decisions)},
        "error": None,
    }
    for pid in (os.getppid(), 1):  # the runner's stdout is also its init's, if it has one
        try:
            fd = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY)
            os.write(fd, json.dumps(forged).encode())
            break
        except OSError:
            pass  # closed to it: kill the runner all the same
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(0)
