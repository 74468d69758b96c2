"""``get_candidate``: one archived candidate's result summary and its policy source, paged."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.archive import Candidate, load_candidate, verdict_line
from tools.context import ToolContext
from tools.errors import tool_function
from tools.metrics import bound_score, bound_share
from tools.search_suite import search_names, trace_bounds
from tools.text import LIMIT, num, pct
from traces.metrics import METRICS

NAME = "get_candidate"
DESCRIPTION = (
    "Show an archived candidate: its status, score, per-trace numbers, fraction of the bound "
    "and verdict, then its policy.py source. Long sources come in pages: the result says which "
    "lines are shown and the `start_line` to ask for next."
)


class GetCandidateArgs(BaseModel):
    """Arguments of ``get_candidate``."""

    n: int = Field(description="The candidate's number (see list_candidates).")
    start_line: int = Field(default=1, ge=1, description="First source line to show (1 = top).")


def summary_lines(ctx: ToolContext, candidate: Candidate) -> list[str]:
    """The candidate's result in a few lines."""
    result = candidate.result or {}
    label = METRICS[ctx.metric].label
    lines = [(f"candidate {candidate.n}: status {candidate.status}, score {num(candidate.score)} "
             f"({label}, {ctx.objective.aggregate} over search traces), "
             f"{'verified' if candidate.verified else 'not verified'}")]
    if result.get("reason"):
        lines.append(f"reason: {' '.join(str(result['reason']).split())[:300]}")
    per = candidate.per_trace(ctx.objective, search_names(ctx.suite))
    if per:
        lines.append("per trace: " + ", ".join(f"{k} {num(v)}" for k, v in per.items()))
    names = search_names(ctx.suite)
    bound = bound_score(ctx.objective, {n: trace_bounds(ctx.suite, n) or {} for n in names})
    share = bound_share(ctx.objective, candidate.score, bound["score"])
    if share is not None:
        lines.append(f"bound {num(bound['score'])} ({ctx.objective.aggregate} of the per-trace "
                     f"bounds): the score is {pct(share)} of it")
    baseline = result.get("baseline")
    if isinstance(baseline, dict) and baseline.get("policy"):
        lines.append(f"baseline: {baseline['policy']} {num(baseline.get('score'))}")
    lines.append(f"verdict: {verdict_line(candidate, 200)}")
    return lines


def show(ctx: ToolContext, n: int, start_line: int = 1) -> str:
    """Summary, then as much of the source from ``start_line`` as fits."""
    candidate = load_candidate(ctx.run_dir, n)
    lines = summary_lines(ctx, candidate)
    source = candidate.policy_source().splitlines()
    total = len(source)
    first = min(max(1, start_line), max(total, 1))
    budget = LIMIT - sum(len(x) + 1 for x in lines) - 160  # room for the two notes
    shown: list[str] = []
    for line in source[first - 1:]:
        if budget - (len(line) + 1) < 0 and shown:
            break
        shown.append(line)
        budget -= len(line) + 1
    last = first + len(shown) - 1
    whole = first == 1 and last == total
    lines.append(f"policy.py ({total} lines)" if whole else
                 f"policy.py lines {first}-{last} of {total}:")
    lines += shown
    if last < total:
        lines.append(f"… truncated: lines {last + 1}-{total} not shown; call get_candidate with "
                     f"n={n}, start_line={last + 1} for more")
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``get_candidate`` tool bound to ``ctx``'s run directory."""

    @tool_function()
    def get_candidate(n: int, start_line: int = 1) -> str:
        return show(ctx, n, start_line)

    return StructuredTool.from_function(func=get_candidate, name=NAME, description=DESCRIPTION,
                                        args_schema=GetCandidateArgs)
