"""Failed runs and trust failures (`sandbox.evaluation`): a case the policy's own error or the
time limit ended is a failed run, which an objective may count; anything else (a forged or
unverifiable result, a missing case, a crash, non-determinism, a broken batch) is a trust
failure, which outranks every failed run and is never counted.

The sandbox here is a fake backend that prints a result assembled from honest case runs, with
the cases the test wants broken replaced, so each outcome is exactly the one under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.backend import Limits, RawRun
from sandbox.evaluation import (
    CaseInput,
    PolicyInput,
    case_failure,
    count_failed_runs,
    evaluate_policy,
    failed_runs,
    merge_reports,
)
from sandbox.protocol import CaseResult, DeterminismCheck
from sandbox.runner import decisions_digest, run_case
from sandbox.verify import determinism_problem
from tests.sandbox.helpers import small_case

RAISED = {"kind": "policy_exception", "message": "the policy raised ValueError: too big",
          "file": "big.py", "line": 9, "tick": 0}
OVERALLOCATED = {"kind": "policy_decision_error", "message": "Overallocated RAM in assignment",
                 "tick": 12}


class Scripted:
    """A backend whose runner 'printed' honest results for every case except ``replaced``."""

    name, isolation, image = "scripted", "none", None

    def __init__(self, replaced: dict[str, dict[str, Any]], *, repeat: str = "same",
                 exit_code: int = 0) -> None:
        self.replaced, self.repeat, self.exit_code = replaced, repeat, exit_code

    def run(self, request: bytes, limits: Limits) -> RawRun:
        cases = json.loads(request)["cases"]
        results = []
        for case in cases:
            honest = run_case({"case": case, "policy_builtin": "priority",
                               "record_decisions": True})
            result = {"name": case["name"], **honest, **self.replaced.get(case["name"], {})}
            if result.get("status") == "omit":
                continue
            if result.pop("tamper", False):
                result["stats"]["throughput"] += 1.0
            results.append(result)
        first = results[0]
        digest = (decisions_digest(first.get("decisions")) if self.repeat == "same"
                  else "0" * 64)
        out = {"protocol": "policyforge-sandbox/1", "cases": results, "error": None,
               "determinism": {"case": first["name"], "status": first["status"],
                               "decisions_sha256": digest if first["status"] == "ok" else None}}
        return RawRun(json.dumps(out).encode(), "", self.exit_code)


def cases(n: int = 3) -> list[CaseInput]:
    made = [small_case(f"c{i}", pipelines=4 + i) for i in range(n)]
    return [CaseInput(c["name"], c["params"], c["trace_csv_text"]) for c in made]


def evaluate(backend: Scripted, n: int = 3) -> Any:
    return evaluate_policy(PolicyInput("priority", builtin="priority"), cases(n), backend,
                           Limits(timeout_seconds=30))


@pytest.mark.parametrize("status, error, failure", [
    ("ok", None, None),
    ("error", RAISED, "run"),
    ("error", OVERALLOCATED, "run"),
    ("timeout", {"message": "case did not finish within the 3.0 s left"}, "run"),
    ("skipped", {"message": "batch deadline passed"}, "run"),
    ("crashed", {"message": "the case's worker was killed by SIGKILL"}, "trust"),
    ("error", {"kind": "runner_error", "message": "OSError: no space"}, "trust"),
    ("error", {"kind": "policy_load_error", "message": "cannot load"}, "trust"),
    ("error", {"kind": "workload_error", "message": "zero-length operator"}, "trust"),
    ("error", None, "trust"),
])
def test_only_the_policys_own_error_or_the_time_limit_is_a_failed_run(status, error, failure):
    assert case_failure(status, error) == failure


def test_a_case_the_policy_raised_on_is_a_failed_run_that_a_counting_objective_scores():
    report = evaluate(Scripted({"c2": {"status": "error", "error": RAISED, "stats": None,
                                       "decisions": None}}))
    # as the sandbox sees it, the evaluation failed, on a failed run only
    assert (report.status, report.failure) == ("failed", "run")
    assert report.reason.startswith("c2: the policy raised ValueError")
    assert [t.failure for t in report.traces] == [None, None, "run"]
    assert report.verification.verified == report.verification.compared == 2
    assert failed_runs(report) == {
        "c2": "the policy raised ValueError: too big (big.py:9) at tick 0"}
    counted = count_failed_runs(report, 720.0)
    assert (counted.status, counted.reason, counted.failed_run_value) == ("ok", None, 720.0)
    assert report.status == "failed"  # the original is left as it was


@pytest.mark.parametrize("broken, why", [
    ({"c1": {"tamper": True}}, "differ from the host's replay"),
    ({"c1": {"status": "omit"}}, "returned no result for this case"),
    ({"c1": {"status": "crashed", "stats": None, "decisions": None,
             "error": {"message": "the case's worker was killed by SIGKILL"}}}, "SIGKILL"),
])
def test_a_trust_failure_outranks_a_failed_run_and_is_never_counted(broken, why):
    failed_run = {"status": "error", "error": RAISED, "stats": None, "decisions": None}
    report = evaluate(Scripted({"c2": failed_run, **broken}))
    assert report.failure == "trust" and why in report.reason, report.reason
    assert report.reason.startswith("c1: ")  # the trust failure, not c2's failed run
    assert count_failed_runs(report, 720.0).status == report.status != "ok"


def test_non_determinism_is_a_trust_failure_even_beside_a_failed_run():
    report = evaluate(Scripted({"c2": {"status": "error", "error": RAISED, "stats": None,
                                       "decisions": None}}, repeat="different"))
    assert (report.status, report.failure) == ("unverifiable", "trust")
    assert "non-deterministic" in report.reason
    assert count_failed_runs(report, 720.0).status == "unverifiable"


def test_a_runner_that_did_not_exit_cleanly_is_a_trust_failure():
    report = evaluate(Scripted({}, exit_code=-9))
    assert (report.status, report.failure) == ("failed", "trust")
    assert count_failed_runs(report, 720.0).status == "failed"


def test_merging_the_cascades_batches_keeps_the_more_serious_failure():
    run_failed = evaluate(Scripted({"c0": {"status": "error", "error": OVERALLOCATED,
                                           "stats": None, "decisions": None}}), n=1)
    honest = evaluate(Scripted({}), n=1)
    tampered = evaluate(Scripted({}, repeat="different"), n=1)
    assert honest.failure is None and run_failed.failure == "run"
    assert merge_reports(run_failed, honest, ["c0"]).failure == "run"
    merged = merge_reports(run_failed, tampered, ["c0"])
    assert (merged.status, merged.failure) == ("unverifiable", "trust")


def test_a_run_the_deadline_cut_short_proves_no_non_determinism():
    first = CaseResult(name="c0", status="ok", decisions=[])
    late = DeterminismCheck(case="c0", status="timeout")
    assert determinism_problem(first, late) is None
    assert determinism_problem(first, DeterminismCheck(case="c0", status="skipped")) is None
    raised = DeterminismCheck(case="c0", status="error")  # one run raised, the other did not
    assert "non-deterministic" in (determinism_problem(first, raised) or "")
