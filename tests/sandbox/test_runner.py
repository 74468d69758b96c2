"""The in-sandbox runner, run here as a plain subprocess: one JSON result whatever the policy
prints, errors carried as data, the determinism digest computed from a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from sandbox.protocol import parse_result
from sandbox.runner import PROTOCOL, decisions_digest
from tests.sandbox.candidate_policies import FIFO
from tests.sandbox.helpers import ROOT, small_case

LOUD_POLICY = '''
@register_scheduler_init(key="loud")
def init(s):
    print('{"protocol": "policyforge-sandbox/1", "cases": [], "forged": true}')

@register_scheduler(key="loud")
def loud(s, results, pipelines):
    print("noise " * 100)
    s.queue = getattr(s, "queue", []) + list(pipelines)
    assignments = []
    for pool in s.executor.pools:
        if s.queue and pool.avail_cpu_pool > 0 and not pool.active_containers:
            p = s.queue.pop(0)
            ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
            if ops:
                assignments.append(Assignment(ops, pool.avail_cpu_pool, pool.avail_ram_pool,
                                              p.priority, pool.pool_id, p.pipeline_id))
    return [], assignments
'''

RAISING_POLICY = '''
@register_scheduler_init(key="boom")
def init(s):
    pass

@register_scheduler(key="boom")
def boom(s, results, pipelines):
    raise ValueError("policy bug")
'''


def run_runner(request: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "sandbox.runner"], input=json.dumps(request).encode(),
        capture_output=True, cwd=ROOT, timeout=120, check=True,
    )
    return parse_result(proc.stdout).model_dump(mode="python")


def request(**extra: Any) -> dict[str, Any]:
    base = {"protocol": PROTOCOL, "cases": [small_case("a"), small_case("b", pipelines=4)],
            "record_decisions": True, "check_determinism": True, "workers": 2,
            "deadline_seconds": 60}
    return {**base, **extra}


def test_builtin_policy_runs_every_case_and_the_repeat_matches():
    out = run_runner(request(policy_builtin="priority"))
    assert [c["status"] for c in out["cases"]] == ["ok", "ok"]
    assert out["cases"][0]["decisions"]
    assert out["determinism"]["decisions_sha256"] == decisions_digest(out["cases"][0]["decisions"])


def test_what_a_policy_prints_never_reaches_the_result():
    out = run_runner(request(policy_source=LOUD_POLICY, policy_filename="loud.py"))
    assert "forged" not in out
    assert [c["status"] for c in out["cases"]] == ["ok", "ok"]


def test_a_policy_exception_is_a_case_error_naming_the_file():
    out = run_runner(request(policy_source=RAISING_POLICY, policy_filename="dir/boom.py"))
    err = out["cases"][0]["error"]
    assert out["cases"][0]["status"] == "error"
    assert "policy bug" in json.dumps(err) and "boom.py" in json.dumps(err)


def test_a_bad_request_is_an_error_result_not_a_crash():
    out = run_runner({"protocol": "something else"})
    assert out["error"]["kind"] == "runner_error" and out["cases"] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_runner_makes_itself_non_dumpable_and_its_workers_are_not():
    probe = ("import ctypes, subprocess, sys\n"
             "from sandbox.runner import protect_from_workers\n"
             "protect_from_workers()\n"
             "libc = ctypes.CDLL(None)\n"
             "child = subprocess.run([sys.executable, '-c', 'import ctypes; "
             "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))'], capture_output=True, text=True)\n"
             "print(libc.prctl(3, 0, 0, 0, 0), child.stdout.strip())\n")  # 3: PR_GET_DUMPABLE
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=True)
    assert proc.stdout.split() == ["0", "1"]


# --- one fresh process per case, forked from a zygote; the repeat forked from the other ------


def policy_with_init(init_body: str) -> str:
    """The FIFO candidate policy, its init running ``init_body`` first (indented 4)."""
    first = "def fifo_init(s):\n"
    assert first in FIFO
    return FIFO.replace(first, first + init_body + "\n")


LEAKY_POLICY = policy_with_init(
    "    import math\n"
    "    if getattr(math, 'pf_cases_seen', 0):\n"
    "        raise RuntimeError('state left by an earlier case of the batch')\n"
    "    math.pf_cases_seen = 1")
SELF_KILLING_POLICY = policy_with_init(
    "    import os, signal\n"
    "    os.kill(os.getpid(), signal.SIGKILL)")
ZYGOTE_KILLING_POLICY = policy_with_init(
    "    import os, signal\n"
    "    parent = os.getppid()\n"
    "    with open(f'/proc/{parent}/cmdline', 'rb') as fh:\n"
    "        if b'--zygote' in fh.read():\n"
    "            os.kill(parent, signal.SIGKILL)")


def three_cases(**extra: Any) -> dict[str, Any]:
    cases = [small_case("a"), small_case("b", pipelines=4), small_case("c", pipelines=5)]
    return request(cases=cases, workers=1, **extra)


def test_a_case_leaves_no_state_for_the_next_case_of_the_batch():
    # One worker: the three cases go one after another through the same zygote.
    out = run_runner(three_cases(policy_source=LEAKY_POLICY, policy_filename="leaky.py"))
    assert [c["status"] for c in out["cases"]] == ["ok", "ok", "ok"], out["cases"]
    assert out["determinism"]["decisions_sha256"] == decisions_digest(out["cases"][0]["decisions"])


def test_a_case_process_killed_mid_run_is_reported_as_crashed_and_the_next_case_still_runs():
    out = run_runner(three_cases(policy_source=SELF_KILLING_POLICY,
                                 policy_filename="self_killing.py"))
    assert [c["status"] for c in out["cases"]] == ["crashed"] * 3
    assert all("killed by SIGKILL" in c["error"]["message"] for c in out["cases"])
    assert out["determinism"]["status"] == "crashed"  # the other zygote's run, the same


def test_a_policy_that_kills_its_zygote_costs_the_batch_nothing():
    out = run_runner(three_cases(policy_source=ZYGOTE_KILLING_POLICY,
                                 policy_filename="zygote_killing.py"))
    assert [c["status"] for c in out["cases"]] == ["ok", "ok", "ok"], out["cases"]
    assert out["determinism"]["decisions_sha256"] == decisions_digest(out["cases"][0]["decisions"])


@pytest.mark.parametrize("name", ["nondeterministic", "nondeterministic_hash",
                                  "nondeterministic_set"])
def test_the_repeat_in_another_zygote_catches_decisions_that_depend_on_the_process(name):
    from tests.sandbox.helpers import policy_text

    # One worker, so that a repeat forked from the first run's zygote would share its state.
    out = run_runner(request(policy_source=policy_text(f"{name}.py"), policy_filename=f"{name}.py",
                             cases=[small_case("a", pipelines=12, seconds=30)], workers=1))
    assert out["cases"][0]["status"] == "ok" and out["determinism"]["status"] == "ok"
    assert out["determinism"]["decisions_sha256"] != decisions_digest(out["cases"][0]["decisions"])


def test_a_case_that_runs_out_of_time_is_killed_and_later_ones_are_skipped():
    looping = policy_with_init("    while True:\n        pass")
    t0 = time.monotonic()
    out = run_runner(three_cases(policy_source=looping, policy_filename="looping.py",
                                 check_determinism=False, deadline_seconds=2))
    assert time.monotonic() - t0 < 10
    assert [c["status"] for c in out["cases"]] == ["timeout", "skipped", "skipped"]


@pytest.mark.parametrize("repeat", [True, False])
def test_the_two_prestarted_zygotes_serve_the_batch_and_no_other_starts(monkeypatch, repeat):
    import sandbox.runner as runner

    started = runner.Prestarted()
    prestarted = []
    while not started.zygotes.idle.empty():
        prestarted.append(started.zygotes.idle.get_nowait())
    for zygote in prestarted:
        started.zygotes.give(zygote)
    later = []
    monkeypatch.setattr(runner.Zygote, "__init__", lambda self: later.append(self))
    out = runner.run_batch(request(policy_builtin="priority", check_determinism=repeat),
                           started=started)
    assert [c["status"] for c in out["cases"]] == ["ok", "ok"]
    assert (out["determinism"]["status"] == "ok") if repeat else out["determinism"] is None
    assert len(prestarted) == 2 and later == []  # the first case and the repeat: one each
    assert started.zygotes.idle.empty()
    assert all(z.proc.wait(timeout=10) is not None for z in prestarted)  # ended with the batch


def test_a_batch_leaves_no_directory_behind(tmp_path):
    subprocess.run(
        [sys.executable, "-I", "-m", "sandbox.runner"],
        input=json.dumps(request(policy_builtin="priority")).encode(),
        capture_output=True, cwd=ROOT, timeout=120, check=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert list(tmp_path.iterdir()) == []


def test_a_zygote_compiles_the_policy_it_is_sent_so_its_cases_find_it_compiled():
    from sandbox.runner import _compile_policy
    from simulator.policy_loader import compile_policy

    source = FIFO + "\n# prepared\n"
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as fh:
        fh.write(json.dumps({"name": "fifo.py", "source": source}).encode())
    _compile_policy(read_end)  # what a zygote does on ``prepare``
    code, tracked, _ = compile_policy(source, "fifo.py")
    assert compile_policy(source, "fifo.py")[0] is code  # a lookup, not a second compile
    assert tracked
    # a source that does not compile is left to the case, which reports it
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as fh:
        fh.write(json.dumps({"name": "bad.py", "source": "def (:"}).encode())
    _compile_policy(read_end)  # no exception: the zygote goes on serving
    from simulator.errors import PolicyLoadError

    with pytest.raises(PolicyLoadError, match="syntax error"):
        compile_policy("def (:", "bad.py")  # what the case itself then reports
