"""``run_simulation``: verified numbers of draft code beside the baselines and the bound."""

from __future__ import annotations

import re
from dataclasses import replace

from agents.objective import Objective, report_cases
from sandbox.backend import Limits, RawRun
from sandbox.errors import SandboxRunError
from sandbox.evaluation import PolicyInput, evaluate_policy
from tests.tools.conftest import RAISING_POLICY, SIZE_LIMITED_POLICY
from tools.builtins import builtin_run
from tools.context import ToolContext
from tools.run_simulation import make_tool
from tools.search_suite import search_cases
from tools.text import LIMIT, num


def test_a_good_policy_gets_per_trace_numbers_the_median_the_best_baseline_and_the_bound(
    ctx: ToolContext, good_policy: str
) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy})
    lines = answer.splitlines()
    assert lines[0] == "status: ok, 3 of 3 trace(s) verified (sandbox: local)"
    assert "completed pipelines (higher is better)" in answer
    assert re.search(r"median \d+ vs best baseline priority \d+ \(\+\d+, \d+% better\); \d+% of "
                     r"the bound", answer)
    for trace in ("seed1", "seed2", "seed3"):
        assert re.search(rf"^{trace}\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+%$", answer, re.M), trace
    assert "vs priority: 3 win(s), 0 tie(s), 0 loss(es)" in answer
    assert ("priority-pool not comparable here: priority-pool needs exactly 2 pools; this cluster "
            "has 1 (it cannot run here)" in answer)
    assert len(answer) <= LIMIT


def test_traces_pick_the_search_traces_to_run_on(ctx: ToolContext, good_policy: str) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy, "traces": ["seed3", " seed3"]})
    assert answer.startswith("status: ok, 1 of 1 trace(s) verified")
    assert "seed3" in answer and not re.search(r"^seed1\s", answer, re.M)
    assert "other search traces: seed1, seed2" in answer


def test_one_trace_may_be_given_as_a_plain_string(ctx: ToolContext, good_policy: str) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy, "traces": "seed2"})
    assert answer.startswith("status: ok, 1 of 1 trace(s) verified")


def test_an_unknown_trace_is_an_error_before_anything_runs(ctx: ToolContext) -> None:
    answer = make_tool(ctx).invoke({"code": "not python (", "traces": ["seed1", "bogus"]})
    assert answer == ("error: trace 'bogus' is not in the search suite 'small'; search traces: "
                      "seed1, seed2, seed3")


def test_code_the_static_checks_reject_is_an_error_with_the_finding(ctx: ToolContext) -> None:
    answer = make_tool(ctx).invoke({"code": "x = (\n"})
    assert answer.startswith("error: rejected by the static checks before running: policy.py:1:")
    assert "[syntax]" in answer


def test_a_policy_that_raises_is_an_error_naming_the_line_and_the_tick(ctx: ToolContext) -> None:
    answer = make_tool(ctx).invoke({"code": RAISING_POLICY})
    assert answer.startswith("error: failed: seed1: the policy raised ZeroDivisionError")
    assert "(policy.py:9) at tick" in answer
    assert "Traceback" not in answer


class _BrokenBackend:
    name, isolation, image = "broken", "none", None

    def run(self, request: bytes, limits: Limits) -> RawRun:
        raise SandboxRunError("the engine stopped answering; run `policyforge sandbox up`")


class _SlowBackend:
    name, isolation, image = "slow", "none", None

    def run(self, request: bytes, limits: Limits) -> RawRun:
        return RawRun(b"", "", None, timed_out=True)


def test_a_sandbox_failure_is_an_error_text(ctx: ToolContext, good_policy: str) -> None:
    broken = make_tool(replace(ctx, backend=_BrokenBackend())).invoke({"code": good_policy})
    assert broken == "error: the engine stopped answering; run `policyforge sandbox up`"
    slow = make_tool(replace(ctx, backend=_SlowBackend())).invoke({"code": good_policy})
    assert slow.startswith("error: timeout: the batch did not finish within 60 s")


def test_adjusted_latency_is_lower_is_better_and_shown_against_its_floor(
    ctx: ToolContext, good_policy: str
) -> None:
    latency = replace(ctx, objective=Objective(metric="adjusted_latency", suite="small"))
    answer = make_tool(latency).invoke({"code": good_policy, "traces": ["seed1"]})
    assert "adjusted latency (s) (lower is better)" in answer
    header, row = answer.splitlines()[3].split(), answer.splitlines()[4].split()
    assert header[-2:] == ["bound", "of"] or header[-3:] == ["bound", "of", "bound"]
    value, floor, fraction = float(row[1]), float(row[-2]), row[-1]
    assert 0 < floor <= value
    # the fraction is the floor over the score, the same figure as the summary's
    assert fraction == f"{round(100 * floor / value)}%"
    assert f"; {fraction} of the bound" in answer
    assert re.search(r"vs priority: [01] win", answer)


def test_baselines_run_once_per_suite_trace_and_policy(ctx: ToolContext, good_policy: str) -> None:
    tool = make_tool(ctx)
    tool.invoke({"code": good_policy, "traces": ["seed2"]})
    before = builtin_run.cache_info()
    tool.invoke({"code": good_policy, "traces": ["seed2"]})
    after = builtin_run.cache_info()
    assert after.misses == before.misses and after.hits > before.hits


def test_a_size_whose_run_fails_counts_what_the_evaluation_counts_and_the_score_is_the_objectives(
    scales_ctx: ToolContext
) -> None:
    """On `scales` a failed size is no error: it counts 720 s, and the score is the objective's
    geometric mean, the figure the evaluation gives the same run (before, the tool showed the
    failure as an error and the median completed pipelines of the sizes that ran)."""
    traces = ["x1-seed61", "x16-seed61"]
    answer = make_tool(scales_ctx).invoke({"code": SIZE_LIMITED_POLICY, "traces": traces})
    lines = answer.splitlines()
    assert lines[0] == ("status: ok, 1 of 2 trace(s) verified, 1 failed run(s) counted at 720 "
                        "(sandbox: local)")
    assert lines[1].startswith("x16-seed61: run failed (the policy raised RuntimeError: too big "
                               "for me (policy.py:11) at tick 0) - counts 720 s")
    assert lines[2] == ("score: geomean adjusted latency, unfinished pipelines at 2 x "
                        "max_job_seconds (s) (lower is better); a trace whose run fails counts "
                        "720")
    objective = scales_ctx.objective
    report = evaluate_policy(PolicyInput("draft", source=SIZE_LIMITED_POLICY),
                             search_cases("scales", traces, 3), scales_ctx.backend,
                             scales_ctx.limits, suite="scales", part="search")
    cases = report_cases(objective.count_failed_runs(report))
    assert objective.count_failed_runs(report).status == "ok"
    x1 = objective.case_value(cases["x1-seed61"])
    assert 0 < x1 < 720
    assert lines[3].startswith(f"geomean {num(objective.score(list(cases.values())))} vs best "
                               "baseline priority ")
    assert re.search(rf"^x1-seed61\s+{num(x1)}\s", answer, re.M)
    assert re.search(r"^x16-seed61\s+720\s", answer, re.M)
    assert re.search(r"vs best baseline priority \d+ \(\+\d+, \d+(\.\d)?% worse\)", lines[3])
    assert "vs priority: 0 win(s), 0 tie(s), 2 loss(es)" in answer  # lower is better here
