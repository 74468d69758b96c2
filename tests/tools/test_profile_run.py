"""``profile_run``: where a run's capacity went, for draft code or an archived candidate."""

from __future__ import annotations

import json
from pathlib import Path

from tools.context import ToolContext
from tools.profile_run import describe_profile, make_tool
from tools.text import LIMIT


def test_profiling_code_runs_it_on_the_first_search_trace_and_puts_problems_first(
    ctx: ToolContext, good_policy: str
) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy})
    lines = answer.splitlines()
    assert lines[0] == "profile of your code on seed1: 120 s, 64 CPUs / 500 GB"
    assert lines[1].startswith("pipelines: ") and lines[1].endswith("of 78 arrived")
    assert lines[2] == "stands out (worst first):"
    assert "CPU idle while work was ready" in answer and "OOM kills" in answer
    assert "BATCH_PIPELINE" in answer and "never started" in answer
    assert answer.index("stands out") < answer.index("queueing by priority")
    assert len(answer) <= LIMIT


def test_profiling_code_on_another_search_trace(ctx: ToolContext, good_policy: str) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy, "trace": "seed2"})
    assert answer.startswith("profile of your code on seed2:")


def test_a_candidate_profile_is_read_from_its_result(ctx: ToolContext, run_dir: Path) -> None:
    answer = make_tool(ctx).invoke({"candidate": 1})
    assert answer.startswith("profile of candidate 1 on seed1:")
    stored = json.loads((run_dir / "candidates" / "1" / "result.json").read_text())["profile"]
    assert answer == describe_profile(stored, "candidate 1 on seed1")


def test_bad_requests_are_errors(ctx: ToolContext, good_policy: str) -> None:
    tool = make_tool(ctx)
    assert tool.invoke({}).startswith("error: there is no current draft yet")
    assert tool.invoke({"code": good_policy, "candidate": 1}).startswith(
        "error: give one of `code`/`draft`")
    assert tool.invoke({"candidate": 1, "trace": "seed2"}).startswith(
        "error: a candidate's stored profile is of the first search trace")
    assert tool.invoke({"candidate": 2}).startswith("error: candidate 2 has no stored profile")
    assert tool.invoke({"candidate": 9}) == "error: there is no candidate 9 (candidates: 1, 2, 3)"
    failed = tool.invoke({"code": "x = (\n"})
    assert failed.startswith("error: rejected: static checks: policy.py:1:")


def test_an_empty_profile_says_nothing_stands_out() -> None:
    answer = describe_profile({}, "nothing")
    assert "nothing stands out" in answer
    assert "Traceback" not in answer
