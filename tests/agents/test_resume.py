"""Kill a run mid-evaluation, resume it, and end exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agents.scripted import candidate_results, events
from tests.sandbox.helpers import ROOT


def _fault_run(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.agents.fault_run", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _wait_for(path: Path, predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and predicate(path.read_text()):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {path}")


def _summary(run_dir: Path) -> dict:
    evs = events(run_dir)
    finished = {e["candidate"] for e in evs if e["type"] == "evaluation"}
    calls = [e for e in evs if e["type"] == "model_call"]
    return {"evaluations": len(finished), "calls": len(calls),
            "spent": json.loads((run_dir / "run.json").read_text())["spent"]}


def test_a_killed_run_resumes_without_losing_or_repeating_work(tmp_path):
    whole = _finish(_fault_run("start", str(tmp_path / "a"), "whole"))
    assert whole["status"] == "accepted"

    proc = _fault_run("start", str(tmp_path / "b"), "killed")
    transcript = tmp_path / "b" / "killed" / "transcript.jsonl"
    # Candidate 1 (a slow FIFO) is being evaluated: kill the whole process group.
    _wait_for(transcript, lambda text: '"type": "candidate"' in text)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = events(tmp_path / "b" / "killed")
    assert not any(e["type"] == "evaluation" for e in before), "killed too late"
    assert not any(e["type"] == "run_finished" for e in before)

    resumed = _finish(_fault_run("resume", str(tmp_path / "b" / "killed")))
    assert resumed["status"] == whole["status"] == "accepted"
    assert resumed["accepted_candidate"] == whole["accepted_candidate"]
    a, b = _summary(tmp_path / "a" / "whole"), _summary(tmp_path / "b" / "killed")
    assert b["evaluations"] == a["evaluations"] == 2
    assert b["calls"] == a["calls"]  # no completed model call made twice
    for key in ("iterations", "output_tokens", "model_calls"):
        assert b["spent"][key] == a["spent"][key], key
    # The critic's input shows each case's measured simulation seconds, so two runs' prompts may
    # differ by a digit; a call charged twice would add a whole prompt (hundreds of tokens).
    for key in ("input_tokens", "usd"):
        assert b["spent"][key] == pytest.approx(a["spent"][key], rel=0.005), key
    evs = events(tmp_path / "b" / "killed")
    assert [e["resumed"] for e in evs if e["type"] == "run_started"] == [False, True]


@pytest.mark.usefixtures("sandbox_image")
def test_a_run_killed_with_a_round_in_flight_repeats_and_loses_nothing(tmp_path):
    """kill -9 while a population's evaluations run on Ray, then resume."""
    import docker

    from sandbox.docker_backend import LABEL, RUN_LABEL

    whole = _finish(_fault_run("start", str(tmp_path / "a"), "whole", "4", "2"))
    assert whole["status"] == "accepted"

    proc = _fault_run("start", str(tmp_path / "b"), "killed", "4", "2")
    run_dir = tmp_path / "b" / "killed"
    # One evaluation of round 1 has finished and others are in flight: kill the process group.
    _wait_for(run_dir / "transcript.jsonl", lambda text: '"type": "evaluation"' in text, 300)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = events(run_dir)
    finished = {e["candidate"] for e in before if e["type"] == "evaluation"}
    assert 1 <= len(finished) < 4, "killed too late"
    assert not any(e["type"] == "run_finished" for e in before)

    resumed = _finish(_fault_run("resume", str(run_dir), "ray"))
    assert resumed["status"] == whole["status"] == "accepted"
    assert resumed["accepted_candidate"] == whole["accepted_candidate"]
    assert candidate_results(run_dir) == candidate_results(tmp_path / "a" / "whole")
    evs = events(run_dir)
    search = [e["candidate"] for e in evs if e["type"] == "evaluation"
              and e.get("part", "search") == "search"]
    assert sorted(search) == sorted(set(search))  # no finished evaluation run again
    assert set(search) == {int(n) for n in candidate_results(run_dir)}  # none lost
    a, b = _summary(tmp_path / "a" / "whole"), _summary(run_dir)
    assert b["calls"] == a["calls"]  # no answered model call made twice
    for key in ("iterations", "model_calls", "evaluations"):
        assert b["spent"][key] == a["spent"][key], key
    # charged exactly what its calls cost (a critic's prompt carries timings, so token counts
    # may differ from the other run's by one or two)
    calls = [e for e in evs if e["type"] == "model_call"]
    for key in ("input_tokens", "output_tokens"):
        assert b["spent"][key] == sum(e[key] for e in calls), key
    client = docker.from_env()
    deadline = time.monotonic() + 10
    while client.containers.list(all=True, filters={"label": [f"{LABEL}=1",
                                                              f"{RUN_LABEL}=killed"]}):
        assert time.monotonic() < deadline, "a killed evaluation's container is still there"
        time.sleep(0.5)


def test_a_step_repeated_after_its_evaluation_finished_writes_no_event_twice(tmp_path):
    """What a resumed run does when the step that evaluated a candidate was cut short after the
    evaluation finished: the result is read back and nothing is logged again."""
    from agents.budget import BudgetLimits
    from agents.lifecycle import _context, load_state, start_run
    from agents.nodes.evaluate import evaluate_candidate
    from agents.run_config import RunConfig
    from agents.run_store import RunStore
    from sandbox.local_backend import LocalBackend

    config = RunConfig(goal="x", suite="small", heuristic=True, seed=7, timeout_s=120,
                       budget=BudgetLimits(max_iterations=1))
    run_dir = Path(start_run(config, tmp_path, backend=LocalBackend(warn=False)).run_dir)
    before = events(run_dir)
    ctx = _context(config, RunStore(run_dir), LocalBackend(warn=False), None)
    source = (run_dir / "candidates" / "1" / "policy.py").read_text()
    pending = {"source": source, "summary": "again", "author": "heuristic", "parent": None}
    update = evaluate_candidate({**load_state(run_dir), "pending": pending}, ctx, 1,
                                in_round=False)
    again = events(run_dir)[len(before):]
    assert [e["type"] for e in again if e.get("candidate") == 1] == []
    assert update["candidates"]["1"]["score"] == json.loads(
        (run_dir / "candidates" / "1" / "result.json").read_text())["score"]
    assert ctx.caller.spend.evaluations == 1  # counted once, as a step cut short is
