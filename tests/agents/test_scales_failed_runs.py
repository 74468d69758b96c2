"""The follow-up work's rule on `scales`: a size whose run fails counts 2 x max_job_seconds
(720 s) in the geometric mean instead of failing the candidate, while a trust failure still
fails it. Through the local sandbox, the host's replay and the suite's own objective; then a
scripted run, whose transcript and review say which size counted 720 s and why.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from agents.objective import FailedRun, report_cases, suite_objective
from sandbox.backend import Limits
from sandbox.evaluation import PolicyInput, evaluate_policy, suite_inputs
from sandbox.local_backend import LocalBackend
from tests.sandbox.candidate_policies import SMALL_CLUSTERS_ONLY
from tests.sandbox.helpers import HOSTILE

LIMITS = Limits(timeout_seconds=60)
RAISED = ("the policy raised ValueError: this policy cannot schedule a pool of more than 1000 "
          "CPUs (small.py:12) at tick 0")
# The same policy, its queue ordered by object addresses: its decisions differ between processes.
SMALL_AND_NONDETERMINISTIC = SMALL_CLUSTERS_ONLY.replace(
    "    s.queue.extend(pipelines)\n",
    "    s.queue.extend(pipelines)\n    s.queue.sort(key=lambda p: (id(p) >> 4) % 97)\n")


def evaluate_on_scales(source: str, filename: str = "small.py", *,
                       static_checks: bool = True):  # type: ignore[no-untyped-def]
    policy = PolicyInput(filename, source=source, filename=filename)
    return evaluate_policy(policy, suite_inputs("scales", "search"), LocalBackend(warn=False),
                           LIMITS, static_checks=static_checks, suite="scales", part="search")


def test_a_policy_that_raises_on_the_largest_cluster_scores_720_s_there_instead_of_failing():
    report = evaluate_on_scales(SMALL_CLUSTERS_ONLY)
    assert (report.status, report.failure) == ("failed", "run"), report.reason
    objective = suite_objective("scales")
    counted = objective.count_failed_runs(report)
    assert (counted.status, counted.failed_run_value) == ("ok", 720.0)
    cases = report_cases(counted)
    assert list(cases) == ["x1-seed61", "x2-seed61", "x4-seed61", "x8-seed61", "x16-seed61"]
    assert cases["x16-seed61"] == FailedRun(RAISED)
    ran = [objective.case_value(s) for s in list(cases.values())[:4]]
    assert all(0 < v < 720 for v in ran)  # the smaller sizes ran and were verified
    assert objective.score(list(cases.values())) == pytest.approx(
        statistics.geometric_mean([*ran, 720.0]))
    # an objective that does not count failed runs leaves the evaluation failed
    assert suite_objective("latency").count_failed_runs(report).status == "failed"


def test_a_trust_failure_still_fails_on_scales_beside_a_failed_run():
    objective = suite_objective("scales")
    report = evaluate_on_scales(SMALL_AND_NONDETERMINISTIC)
    assert [t.failure for t in report.traces][-1] == "run"  # x16 raised, as before
    assert (report.status, report.failure) == ("unverifiable", "trust")
    assert "non-deterministic policy" in report.reason
    assert objective.count_failed_runs(report).status == "unverifiable"
    # a forged result (static checks bypassed so that the sandbox and the host must catch it)
    forged = evaluate_on_scales((HOSTILE / "forge_result.py").read_text(), "forge_result.py",
                                static_checks=False)
    assert forged.failure == "trust" and forged.status in ("unverifiable", "failed")
    assert objective.count_failed_runs(forged).status == forged.status


def test_a_run_on_scales_counts_the_failed_size_and_its_transcript_and_review_say_why(tmp_path):
    from agents.budget import BudgetLimits
    from agents.lifecycle import start_run
    from agents.run_config import RunConfig
    from agents.scripted import scripted_configs, scripted_models
    from tests.agents.scripted import APPROVE, REJECT, answer, events, planner_responder
    from tests.frontend.golden import run as policyforge

    code = answer(SMALL_CLUSTERS_ONLY, "FIFO at fixed sizes.")
    models = scripted_models({"planner": [planner_responder] * 4,
                              "coder": [lambda _m: code] * 4, "critic": [lambda _m: REJECT] * 4,
                              "reviewer": [lambda _m: APPROVE] * 4})
    config = RunConfig(goal="low latency at every size", suite="scales",
                       objective=suite_objective("scales").model_dump(),
                       models=scripted_configs(), budget=BudgetLimits(max_iterations=1))
    outcome = start_run(config, tmp_path / "runs", chat_models=models,
                        backend=LocalBackend(warn=False))
    run_dir = Path(outcome.run_dir)
    text = f"x16-seed61: run failed ({RAISED.replace('small.py', 'policy.py')}) - counts 720 s"
    result = json.loads((run_dir / "candidates" / "1" / "result.json").read_text())
    assert result["status"] == "ok" and result["reason"] == text
    assert list(result["failed_runs"]) == ["x16-seed61"]
    assert result["per_trace"]["x16-seed61"] == 720.0 and len(result["per_trace"]) == 5
    [evaluation] = [e for e in events(run_dir) if e["type"] == "evaluation"]
    assert evaluation["status"] == "ok" and evaluation["reason"] == text
    assert evaluation["score"] == pytest.approx(result["score"])
    [verdict] = [e for e in events(run_dir) if e["type"] == "verdict"]
    assert text in verdict["reasons"]
    code_, out, err = policyforge(["review", run_dir.name, "--runs-dir", str(run_dir.parent)],
                                  tmp_path)
    assert code_ == 0, err
    assert "x16-seed61: run failed (the policy raised ValueError" in " ".join(out.split())
