"""``list_candidates``: the run's archive, best first, one line per candidate."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from tools.archive import load_candidates, verdict_line
from tools.context import ToolContext
from tools.errors import tool_function
from tools.metrics import describe_score, rank_key
from tools.text import num, table

NAME = "list_candidates"
DESCRIPTION = (
    "List the candidates archived in this run, best first: number, evaluation status, score "
    "(the run's objective over the search traces), whether the host verified it, and "
    "one line on what became of it (the critic's verdict or why it failed). Use the numbers "
    "with get_candidate, compare_policies and profile_run. No arguments."
)
MAX_ROWS = 25


class ListCandidatesArgs(BaseModel):
    """``list_candidates`` takes no arguments."""


def listing(ctx: ToolContext) -> str:
    """The archive as a short table."""
    candidates = load_candidates(ctx.run_dir)
    if not candidates:
        return "no candidates yet"
    ranked = sorted(candidates, key=lambda c: (rank_key(ctx.objective, c.score), c.n))
    lines = [f"{len(candidates)} candidate(s), best first; score = {describe_score(ctx.objective)}"]
    rows = [["rank", "n", "status", "score", "verified", "verdict"]]
    ranks = shared_ranks([c.score for c in ranked])
    for c, rank in zip(ranked[:MAX_ROWS], ranks, strict=False):
        rows.append(["-" if rank is None else str(rank), str(c.n), c.status, num(c.score),
                     "yes" if c.verified else "no", verdict_line(c, 70)])
    lines += table(rows)
    if len(ranked) > MAX_ROWS:
        lines.append(f"… {len(ranked) - MAX_ROWS} more, lower or without a score")
    return "\n".join(lines)


def shared_ranks(scores: list[float | None]) -> list[int | None]:
    """Ranks of scores already sorted best first: equal scores share a rank (1, 1, 3), no score
    has none."""
    ranks: list[int | None] = []
    for i, score in enumerate(scores):
        if score is None:
            ranks.append(None)
        elif i and scores[i - 1] == score:
            ranks.append(ranks[-1])
        else:
            ranks.append(i + 1)
    return ranks


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``list_candidates`` tool bound to ``ctx``'s run directory."""

    @tool_function()
    def list_candidates() -> str:
        return listing(ctx)

    return StructuredTool.from_function(func=list_candidates, name=NAME,
                                        description=DESCRIPTION, args_schema=ListCandidatesArgs)
