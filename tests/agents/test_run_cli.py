"""``policyforge run`` and ``export`` through the real CLI in a child process."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import docker
import pytest

from sandbox.docker_backend import LABEL, OWNER_LABEL
from tests.sandbox.helpers import ROOT


def policyforge(*args: str, env: dict[str, str] | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policyforge", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def test_run_without_a_model_says_how_to_set_one_up(tmp_path):
    env = {"OPENAI_API_KEY": ""}
    proc = policyforge("run", "--goal", "x", "--runs-dir", str(tmp_path), env=env)
    assert proc.returncode == 2
    assert "--model heuristic" in proc.stderr and "OPENAI_API_KEY" in proc.stderr
    assert "--base-url" in proc.stderr and "Traceback" not in proc.stderr
    proc = policyforge("run", "--model", "gpt-4.1-mini", "--runs-dir", str(tmp_path), env=env)
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing started


@pytest.mark.parametrize("args, message", [
    (["--suite", "nope"], "nope"),
    (["--max-iterations", "0"], "--max-iterations must be positive"),
    (["--resume", "no-such-run"], "no run 'no-such-run'"),
    (["--role-model", "painter=x"], "unknown role 'painter'"),
])
def test_bad_run_input_exits_2_with_a_clear_message(tmp_path, args, message):
    proc = policyforge("run", "--model", "heuristic", "--runs-dir", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_objective_file_names_the_field(tmp_path):
    objective = tmp_path / "objective.toml"
    objective.write_text('metric = "joy"\n')
    proc = policyforge("run", "--model", "heuristic", "--objective", str(objective),
                       "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "objective.toml: field metric" in proc.stderr


def _held_out_median(policy: str) -> float:
    from simulator.engine import run_simulation
    from traces.suites import get_suite

    done = [run_simulation(dict(c.params), c.trace_path, policy).stats.pipelines_all
            .completion_count for c in get_suite("small").held_out_cases()]
    return statistics.median(done)


@pytest.mark.usefixtures("sandbox_image")
def test_heuristic_run_in_docker_accepts_writes_the_run_and_exports_a_policy(tmp_path):
    runs = tmp_path / "runs"
    proc = policyforge("run", "--model", "heuristic", "--suite", "small", "--sandbox", "docker",
                       "--max-iterations", "6", "--runs-dir", str(runs), "--goal",
                       "finish as many pipelines as possible")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # 0 = accepted
    assert "status          accepted (stop reason: accepted)" in proc.stdout
    [run_dir] = list(runs.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "accepted" and run["stop_reason"] == "accepted"
    assert run["spent"]["iterations"] <= 6 and run["sandbox"] == "docker"
    assert run["provenance"]["sandbox_image"] and run["provenance"]["numpy"]
    assert run["models"] == {"all": "heuristic (non-LLM proposer)"}
    n = run["accepted_candidate"]
    result = json.loads((run_dir / f"candidates/{n}/result.json").read_text())
    assert result["evaluation"]["sandbox"]["backend"] == "docker"
    assert result["evaluation"]["verification"]["verified"] == 3
    types = [json.loads(line)["type"] for line in
             (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert types[0] == "run_started" and types[-1] == "run_finished"

    out = tmp_path / "best.py"
    proc = policyforge("export", run_dir.name, str(out), "--runs-dir", str(runs))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith(f"# policyforge run {run_dir.name}, candidate {n} (accepted")
    assert "Optimises: maximize the median completed_pipelines" in text
    # The exported file runs unchanged in the simulator and beats FIFO on the held-out part.
    assert _held_out_median(str(out)) > _held_out_median("naive")
    # A finished run resumed has nothing left to do.
    proc = policyforge("run", "--resume", str(run_dir))
    assert proc.returncode == 0 and "accepted" in proc.stdout
    assert docker.from_env().containers.list(all=True, filters={"label": f"{LABEL}=1"}) == []


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                              (signal.SIGHUP, 129)])
def test_ctrl_c_sigterm_and_sighup_kill_the_container_and_leave_a_resumable_run(
        tmp_path, signum, code):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "policyforge", "run", "--model", "heuristic", "--suite",
         "paper", "--sandbox", "docker", "--max-iterations", "1", "--runs-dir", str(runs)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = docker.from_env()
    mine = [f"{LABEL}=1", f"{OWNER_LABEL}={proc.pid}"]  # other test runs may share the engine
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for this run's evaluation and its container
        started = any('"type": "candidate"' in t.read_text()
                      for t in runs.glob("*/transcript.jsonl"))
        if started and client.containers.list(filters={"label": mine}):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("no sandbox container appeared")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, out + err
    assert "resumable" in err and "Traceback" not in err
    assert client.containers.list(all=True, filters={"label": mine}) == []
    [run_dir] = list(runs.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted"
    if signum == signal.SIGHUP:
        return  # handled the same way; resuming is shown for the other two
    proc2 = policyforge("run", "--resume", run_dir.name, "--runs-dir", str(runs))
    assert proc2.returncode in (0, 3), proc2.stdout + proc2.stderr
    run = json.loads((run_dir / "run.json").read_text())
    assert run["spent"]["iterations"] == 1 and run["status"] in ("accepted", "budget_exhausted")


def test_a_dollar_budget_needs_a_price_for_every_model(tmp_path):
    proc = policyforge("run", "--model", "my-local-model", "--base-url",
                       "http://127.0.0.1:9/v1", "--max-usd", "1", "--runs-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "--max-usd needs a price for my-local-model" in proc.stderr


@pytest.mark.parametrize("content, message", [
    ("{not json", "run.json:1:2: not valid JSON"),
    ('{"run_id": "r1"}', "run.json: field config"),
    ("[1, 2]", "not a policyforge run.json"),
])
def test_a_damaged_run_folder_is_named_not_a_traceback(tmp_path, content, message):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(content)
    for args in (["run", "--resume", str(run_dir)], ["export", str(run_dir),
                                                     str(tmp_path / "x.py")]):
        proc = policyforge(*args)
        if args[0] == "export" and "config" in message:
            continue  # export needs no config: it says there is no candidate instead
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr


def test_resume_of_damaged_checkpoints_is_an_error_and_of_missing_ones_starts_again(tmp_path):
    runs = tmp_path / "runs"
    proc = policyforge("run", "--model", "heuristic", "--sandbox", "local", "--max-iterations",
                       "1", "--runs-dir", str(runs))
    assert proc.returncode in (0, 3), proc.stderr
    [run_dir] = list(runs.iterdir())
    before = (run_dir / "run.json").read_text()
    # settings the run keeps are refused with --resume, never silently ignored
    proc = policyforge("run", "--resume", str(run_dir), "--model", "gpt-4.1", "--seed", "3",
                       "--max-iterations", "2")
    assert proc.returncode == 2, proc.stderr
    assert "--model, --seed: a resumed run keeps the settings it started with" in proc.stderr
    assert "--max-iterations" in proc.stderr.split("may change")[0]  # named as allowed
    assert (run_dir / "run.json").read_text() == before
    run = json.loads(before)
    run["status"] = "interrupted"
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "checkpoints.sqlite").write_bytes(b"this is not a database" * 100)
    proc = policyforge("run", "--resume", str(run_dir))
    assert proc.returncode == 2 and "checkpoints.sqlite" in proc.stderr
    assert "Traceback" not in proc.stderr
    (run_dir / "checkpoints.sqlite").unlink()  # as if killed before its first checkpoint
    proc = policyforge("run", "--resume", str(run_dir))
    assert proc.returncode in (0, 3), proc.stderr  # started again from its folder
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] in ("accepted", "budget_exhausted")
    events = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert [e["resumed"] for e in events if e["type"] == "run_started"] == [False, True]


def test_on_a_terminal_the_run_shows_who_works_and_a_summary_table(tmp_path):
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "policyforge", "run", "--model", "heuristic",
                                           "--suite", "small", "--sandbox", "local",
                                           "--runs-dir", str(tmp_path / "runs")],
                          cwd=str(ROOT), encoding="utf-8", timeout=120,
                          env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    child.expect("running the built-in baselines")
    child.expect("evaluating in the sandbox")
    child.expect(r"candidate 1 \(search\) on worker 1, \d+ s")  # its time so far
    child.expect(r"\[best 50 \(#1\) vs priority 14, bound 63\]")
    child.expect(r"│ status +│ accepted \(stop reason: accepted\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_live_run_cannot_be_resumed_by_a_second_process(tmp_path):
    runs = tmp_path / "runs"
    first = subprocess.Popen(
        [sys.executable, "-m", "policyforge", "run", "--model", "heuristic", "--suite", "small",
         "--sandbox", "local", "--max-iterations", "3", "--runs-dir", str(runs), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(runs.glob("*/run.lock")):
            time.sleep(0.05)
        [run_dir] = list(runs.iterdir())
        second = policyforge("run", "--resume", run_dir.name, "--runs-dir", str(runs))
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"in use by process {first.pid}" in second.stderr
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode in (0, 3), out + err
    events = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events].count("run_finished") == 1
