"""``policyforge sandbox`` and ``policyforge evaluate`` through the real CLI, in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.sandbox.helpers import ROOT

BAD_POLICY = "import os\n\n@register_scheduler_init(key='k')\ndef init(s):\n    os.system('id')\n"


def policyforge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "policyforge", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=False, env={**os.environ, **(env or {})},
    )


@pytest.mark.usefixtures("sandbox_image")
def test_evaluate_a_builtin_in_docker_prints_verified_json():
    proc = policyforge("evaluate", "--policy", "priority", "--suite", "small", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "ok" and report["reason"] is None
    assert report["sandbox"]["backend"] == "docker"
    assert report["verification"]["verified"] == report["verification"]["compared"] == 3
    assert [t["verified"] for t in report["traces"]] == [True, True, True]
    assert set(report["aggregate"]) == {"throughput", "adjusted_latency",
                                        "adjusted_latency_penalised", "completed_pipelines"}
    # small has no deadlines: the penalised latency is Eudoxia's default form there
    assert report["aggregate"]["adjusted_latency_penalised"] == report["aggregate"][
        "adjusted_latency"]
    # Bounds fractions: each trace's completed count over its own bound, and their median.
    fractions = []
    for t in report["traces"]:
        done = t["stats"]["pipelines_all"]["completion_count"]
        assert 0 < done <= t["bounds"]["max_completed_pipelines"]
        assert t["bound_fractions"]["completed_pipelines"] == done / t["bounds"][
            "max_completed_pipelines"]
        fractions.append(t["bound_fractions"]["completed_pipelines"])
    assert report["bound_fractions"]["completed_pipelines"] == sorted(fractions)[1]
    assert 0 < report["bound_fractions"]["latency"] <= 1


def test_evaluate_locally_warns_that_isolation_is_weaker():
    proc = policyforge("evaluate", "--policy", "naive", "--suite", "small", "--sandbox", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "weaker" in proc.stderr or "not confined" in proc.stderr
    assert "naive on small (search): ok" in proc.stdout
    assert "verified 3 of 3" in proc.stdout
    assert "of at most" in proc.stdout and "fraction of the bound" in proc.stdout


def test_a_policy_that_fails_static_checks_is_rejected_without_running(tmp_path):
    policy = tmp_path / "bad.py"
    policy.write_text(BAD_POLICY)
    proc = policyforge("evaluate", "--policy", str(policy), "--suite", "small", "--sandbox",
                       "local", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["status"] == "rejected"
    assert report["findings"] and report["sandbox"] is None
    assert "bad.py" in report["reason"]


def test_docker_without_an_engine_fails_at_once_saying_what_to_run():
    proc = policyforge("evaluate", "--policy", "naive", "--suite", "small", "--sandbox", "docker",
                       "--json", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["status"] == "failed"
    assert "policyforge sandbox up" in report["reason"]


@pytest.mark.parametrize("args", [
    ("--policy", "no-such-policy", "--suite", "small"),
    ("--policy", "naive", "--suite", "no-such-suite"),
    ("--policy", "naive"),
    ("--policy", "naive", "--suite", "small", "--timeout", "0"),
])
def test_bad_evaluate_input_exits_2(args):
    proc = policyforge("evaluate", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.usefixtures("sandbox_image")
def test_sandbox_up_is_idempotent_and_status_reports_an_up_to_date_image():
    proc = policyforge("sandbox", "up")
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    status = json.loads(policyforge("sandbox", "status").stdout)
    assert status["engine"] and status["up_to_date"]


def test_sandbox_without_a_command_is_usage_error():
    assert policyforge("sandbox").returncode == 2


def test_determinism_is_reported_only_when_the_repeat_ran_to_the_end():
    failing = str(ROOT / "tests" / "sandbox" / "hostile" / "raise_error.py")
    proc = policyforge("evaluate", "--policy", failing, "--suite", "small", "--sandbox", "local")
    assert proc.returncode == 1 and ": failed" in proc.stdout, proc.stdout + proc.stderr
    assert "verified 0 of 0 on the host\n" in proc.stdout and "determinism" not in proc.stdout
    proc = policyforge("evaluate", "--policy", failing, "--suite", "small", "--sandbox", "local",
                       "--json")
    assert json.loads(proc.stdout)["verification"]["determinism"] is None
    proc = policyforge("evaluate", "--policy", "naive", "--suite", "small", "--sandbox", "local")
    assert "verified 3 of 3 on the host; determinism: same decisions" in proc.stdout


def _small_clusters_only(tmp_path) -> str:
    from tests.sandbox.candidate_policies import SMALL_CLUSTERS_ONLY

    policy = tmp_path / "small.py"
    policy.write_text(SMALL_CLUSTERS_ONLY)
    return str(policy)


def test_evaluate_on_scales_counts_a_size_whose_run_failed_and_says_why(tmp_path):
    proc = policyforge("evaluate", "--policy", _small_clusters_only(tmp_path), "--suite",
                       "scales", "--sandbox", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "small.py on scales (search): ok\n" in out
    assert ("  x16-seed61: run failed (the policy raised ValueError: this policy cannot schedule "
            "a pool of more than 1000 CPUs (small.py:12) at tick 0) - counts 720 s\n") in out
    assert "  score " in out and ("(minimize the geomean adjusted_latency_penalised on scales; "
                                  "a case whose run fails counts 720 s;") in out
    assert "verified 4 of 4 on the host; determinism: same decisions" in out
    # a trust failure is never counted: a non-deterministic policy still fails there
    hostile = str(ROOT / "tests" / "sandbox" / "hostile" / "nondeterministic.py")
    proc = policyforge("evaluate", "--policy", hostile, "--suite", "scales", "--sandbox",
                       "local", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["status"] == "unverifiable"
    assert report["failure"] == "trust" and report["failed_run_value"] is None


@pytest.mark.usefixtures("sandbox_image")
def test_evaluate_on_scales_in_docker_reports_the_counted_failed_run_in_json(tmp_path):
    proc = policyforge("evaluate", "--policy", _small_clusters_only(tmp_path), "--suite",
                       "scales", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["sandbox"]["backend"] == "docker"
    assert (report["status"], report["reason"], report["failure"]) == ("ok", None, "run")
    assert report["failed_run_value"] == 720.0
    *ran, x16 = report["traces"]
    assert [t["failure"] for t in ran] == [None] * 4 and all(t["verified"] for t in ran)
    assert (x16["name"], x16["status"], x16["failure"]) == ("x16-seed61", "error", "run")
    assert x16["error"]["kind"] == "policy_exception" and x16["error"]["line"] == 12
