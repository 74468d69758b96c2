"""``list_candidates``, ``get_candidate`` and ``compare_policies`` on a small run directory."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from agents.objective import Objective, report_cases
from sandbox.evaluation import PolicyInput, counted_failed_runs, evaluate_policy
from tests.tools.conftest import SIZE_LIMITED_POLICY
from tools.compare_policies import make_tool as make_compare
from tools.context import ToolContext
from tools.get_candidate import make_tool as make_get
from tools.list_candidates import make_tool as make_list
from tools.search_suite import search_cases
from tools.text import LIMIT, num


def test_list_candidates_puts_the_best_first_with_status_verification_and_verdict(
    ctx: ToolContext,
) -> None:
    answer = make_list(ctx).invoke({})
    lines = answer.splitlines()
    assert lines[0] == ("3 candidate(s), best first; score = median completed pipelines (higher "
                        "is better)")
    assert re.match(r"1\s+1\s+ok\s+\d+\s+yes\s+rejected: held-out gap too large$", lines[2])
    assert re.match(r"-\s+2\s+failed\s+-\s+no\s+failed: seed1: the policy raised "
                    r"ZeroDivisionError", lines[3])
    assert re.match(r"-\s+3\s+pending\s+-\s+no\s+not evaluated yet$", lines[4])


def test_list_candidates_orders_by_the_metric_direction(ctx: ToolContext, run_dir: Path) -> None:
    _add_scored(run_dir, 4, 1.0)
    _add_scored(run_dir, 5, 99.0)
    up = [line.split()[1] for line in make_list(ctx).invoke({}).splitlines()[2:4]]
    assert up == ["5", "1"]
    latency = replace(ctx, objective=Objective(metric="adjusted_latency", suite="small"))
    down = make_list(latency).invoke({}).splitlines()[2]
    assert down.split()[1] == "4"


def test_list_candidates_says_what_the_objective_scores(scales_ctx: ToolContext) -> None:
    _add_scored(scales_ctx.run_dir, 1, 300.0)
    _add_scored(scales_ctx.run_dir, 2, 90.0)
    lines = make_list(scales_ctx).invoke({}).splitlines()
    assert lines[0] == ("2 candidate(s), best first; score = geomean adjusted latency, unfinished "
                        "pipelines at 2 x max_job_seconds (s) (lower is better); a trace whose "
                        "run fails counts 720")
    assert lines[2].split()[1] == "2"


def test_list_candidates_stays_bounded_with_a_long_archive(ctx: ToolContext, run_dir: Path) -> None:
    for n in range(4, 80):
        _add_scored(run_dir, n, float(n), reason="x" * 300)
    answer = make_list(ctx).invoke({})
    assert len(answer) <= LIMIT
    assert answer.splitlines()[2].split()[:2] == ["1", "79"]


def test_list_candidates_without_a_run_or_candidates(ctx: ToolContext, tmp_path: Path) -> None:
    assert make_list(replace(ctx, run_dir=None)).invoke({}).startswith("error: there is no run")
    assert make_list(replace(ctx, run_dir=tmp_path / "empty")).invoke({}) == "no candidates yet"


def test_get_candidate_shows_the_result_then_the_source_in_pages(
    ctx: ToolContext, good_policy: str
) -> None:
    tool = make_get(ctx)
    first = tool.invoke({"n": 1})
    assert first.startswith("candidate 1: status ok, score ")
    assert "per trace: seed1 " in first
    # the bound of the score: the objective's aggregate of the per-trace bounds
    assert re.search(r"\nbound \d+ \(median of the per-trace bounds\): the score is \d+% of it\n",
                     first)
    assert "verdict: rejected: held-out gap too large" in first
    assert len(first) <= LIMIT
    total = len(good_policy.splitlines())
    match = re.search(rf"policy.py lines 1-(\d+) of {total}:", first)
    assert match
    following = int(match.group(1)) + 1
    assert f"call get_candidate with n=1, start_line={following}" in first
    pages, start = [first], following
    while start <= total:  # page through the whole file
        page = tool.invoke({"n": 1, "start_line": start})
        assert len(page) <= LIMIT
        pages.append(page)
        found = re.search(rf"policy.py lines {start}-(\d+) of {total}:", page)
        assert found
        start = int(found.group(1)) + 1
    shown = "\n".join(p.split(" of " + str(total) + ":\n", 1)[1].split("\n… truncated")[0]
                      for p in pages)
    assert shown == good_policy.rstrip("\n")


def test_get_candidate_of_a_small_or_failed_candidate(ctx: ToolContext) -> None:
    answer = make_get(ctx).invoke({"n": 2})
    assert answer.startswith("candidate 2: status failed, score - (")
    assert "not verified" in answer.splitlines()[0]
    assert "reason: seed1: the policy raised ZeroDivisionError" in answer
    assert "policy.py (10 lines)" in answer and "truncated" not in answer
    assert make_get(ctx).invoke({"n": 3}).startswith("candidate 3: status pending")


def test_get_candidate_that_does_not_exist(ctx: ToolContext) -> None:
    assert make_get(ctx).invoke({"n": 7}) == "error: there is no candidate 7 (candidates: 1, 2, 3)"


def test_compare_builtins_side_by_side(ctx: ToolContext) -> None:
    answer = make_compare(ctx).invoke({"a": "priority", "b": "naive"})
    assert answer.splitlines()[0] == ("priority vs naive on 3 search trace(s), median "
                                      "completed pipelines (higher is better)")
    assert "priority: 3 win(s), 0 tie(s), 0 loss(es)" in answer
    assert re.search(r"^seed1\s+\d+\s+\d+\s+\+\d+$", answer, re.M)


def test_compare_a_candidate_with_a_builtin(ctx: ToolContext, run_dir: Path) -> None:
    answer = make_compare(ctx).invoke({"a": "candidate 1", "b": "priority"})
    result = json.loads((run_dir / "candidates" / "1" / "result.json").read_text())
    seed1 = result["per_trace"]["seed1"]
    assert re.search(rf"^seed1\s+{int(seed1)}\s+\d+\s+\+\d+$", answer, re.M)
    assert "candidate 1: 3 win(s)" in answer


def test_compare_on_scales_counts_failed_sizes_and_scores_by_the_objective(
    scales_ctx: ToolContext
) -> None:
    """A candidate whose x16 run failed, as the run archives it (the evaluation counted the
    failed run), against built-ins: the failed size counts 720 s on both sides, marked, and the
    score is the objective's geometric mean (before: the median of the metric, the failed size
    left out)."""
    traces = ["x1-seed61", "x16-seed61"]
    objective = scales_ctx.objective
    report = objective.count_failed_runs(evaluate_policy(
        PolicyInput("candidate 1", source=SIZE_LIMITED_POLICY),
        search_cases("scales", traces, 3), scales_ctx.backend, scales_ctx.limits,
        suite="scales", part="search"))
    cases = report_cases(report)
    folder = Path(scales_ctx.run_dir or "") / "candidates" / "1"
    folder.mkdir(parents=True)
    (folder / "policy.py").write_text(SIZE_LIMITED_POLICY, encoding="utf-8")
    (folder / "result.json").write_text(json.dumps({
        "candidate": 1, "status": "ok", "reason": None,
        "score": objective.score(list(cases.values())),
        "per_trace": {c: objective.case_value(s) for c, s in cases.items()},
        "failed_runs": counted_failed_runs(report), "evaluation": report.model_dump(mode="json"),
    }), encoding="utf-8")
    answer = make_compare(scales_ctx).invoke({"a": 1, "b": "priority"})
    lines = answer.splitlines()
    assert lines[0] == ("candidate 1 vs priority on 2 search trace(s), geomean adjusted latency, "
                        "unfinished pipelines at 2 x max_job_seconds (s) (lower is better); a "
                        "trace whose run fails counts 720")
    assert lines[1].startswith(f"candidate 1: 0 win(s), 0 tie(s), 2 loss(es); geomean "
                               f"{num(objective.score(list(cases.values())))} vs ")
    assert re.search(r"^x16-seed61\s+720 \(run failed\)\s+\d+\s+\+\d+$", answer, re.M)
    builtins = make_compare(scales_ctx).invoke({"a": "overbook", "b": "priority"})
    assert "overbook: 0 win(s), 0 tie(s), 5 loss(es); geomean 720 vs " in builtins
    assert builtins.count("720 (run failed)") == 5


@pytest.mark.parametrize(("a", "b", "error"), [
    ("1", "fastest", ("error: 'fastest' is not a built-in policy (built-ins: naive, overbook, "
                     "priority, priority-pool)")),
    ("12", "naive", "error: there is no candidate 12 (candidates: 1, 2, 3)"),
    ("2", "naive", "error: candidate 2 has no verified numbers (status failed)"),
    ("1", "priority_pool", ("error: priority-pool cannot run on this suite's search traces: "
                           "priority-pool needs exactly 2 pools; this cluster has 1")),
])
def test_compare_errors(ctx: ToolContext, a: str, b: str, error: str) -> None:
    assert make_compare(ctx).invoke({"a": a, "b": b}).startswith(error)


def _add_scored(run_dir: Path, n: int, score: float, reason: str | None = None) -> None:
    folder = run_dir / "candidates" / str(n)
    folder.mkdir(parents=True)
    (folder / "policy.py").write_text("# policy\n", encoding="utf-8")
    (folder / "result.json").write_text(json.dumps({
        "candidate": n, "status": "ok", "score": score, "reason": reason,
        "per_trace": {"seed1": score},
        "verdict": {"accept": False, "reasons": [reason or "not better"]},
    }), encoding="utf-8")


def test_ties_share_a_rank() -> None:
    from tools.list_candidates import shared_ranks

    assert shared_ranks([9.0, 7.0, 7.0, 7.0, 5.0, None, None]) == [1, 2, 2, 2, 5, None, None]
    assert shared_ranks([]) == []
