"""``compare_policies``: two policies (built-ins or candidates) side by side on search traces."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.archive import load_candidate
from tools.builtins import builtin_run, builtin_values, failure_text, require_builtin
from tools.context import ToolContext
from tools.errors import ToolError, tool_function
from tools.metrics import better, describe, median
from tools.search_suite import search_case, search_names
from tools.text import num, signed, table

NAME = "compare_policies"
DESCRIPTION = (
    "Compare two policies on the search traces with the objective's metric: per-trace values "
    "side by side, wins/ties/losses of `a` against `b` and the median difference. Each of `a` "
    "and `b` is a built-in policy name (naive, priority, priority-pool, overbook) or an archived "
    "candidate's number (see list_candidates)."
)


class ComparePoliciesArgs(BaseModel):
    """Arguments of ``compare_policies``."""

    a: str | int = Field(
        description="A built-in policy name or a candidate number, e.g. 'priority' or 3.")
    b: str | int = Field(description="A built-in policy name or a candidate number.")


def policy_values(ctx: ToolContext, ref: str | int) -> tuple[str, dict[str, float]]:
    """A policy reference's label and its metric per search trace."""
    text = str(ref).strip().lower().removeprefix("candidate").strip().lstrip("#")
    names = search_names(ctx.suite)
    if text.isdigit():
        candidate = load_candidate(ctx.run_dir, int(text))
        values = candidate.per_trace(ctx.metric, names)
        if not values:
            raise ToolError(f"candidate {candidate.n} has no verified numbers "
                            f"(status {candidate.status})")
        return f"candidate {candidate.n}", values
    key = require_builtin(str(ref))
    values = builtin_values(ctx.suite, names, key, ctx.metric)
    if not values:
        why = failure_text(builtin_run(ctx.suite, names[0], key),
                           dict(search_case(ctx.suite, names[0]).params))
        raise ToolError(f"{key} cannot run on this suite's search traces: {why}")
    return key, values


def compare(ctx: ToolContext, a: str | int, b: str | int) -> str:
    """``a`` against ``b`` as short text."""
    label_a, va = policy_values(ctx, a)
    label_b, vb = policy_values(ctx, b)
    if label_a == label_b:
        label_b += " (again)"
    names = [n for n in search_names(ctx.suite) if n in va or n in vb]
    both = [n for n in names if n in va and n in vb]
    if not both:
        raise ToolError(f"{label_a} and {label_b} have no search trace in common with numbers")
    diffs = [va[n] - vb[n] for n in both]
    score = [better(ctx.metric, va[n], vb[n]) for n in both]
    mid = median(diffs)
    lines = [
        f"{label_a} vs {label_b} on {len(both)} search trace(s), {describe(ctx.metric)}",
        (f"{label_a}: {score.count(1)} win(s), {score.count(0)} tie(s), "
         f"{score.count(-1)} loss(es); "
        f"median {num(median(va[n] for n in both))} vs {num(median(vb[n] for n in both))}, "
        f"median difference {signed(mid) if mid is not None else '-'}"),
    ]
    rows = [["trace", label_a, label_b, "difference"]]
    for n in names:
        diff = signed(va[n] - vb[n]) if n in va and n in vb else "-"
        rows.append([n, num(va.get(n)), num(vb.get(n)), diff])
    lines += table(rows)
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``compare_policies`` tool bound to ``ctx``'s suite, metric and archive."""

    @tool_function()
    def compare_policies(a: str | int, b: str | int) -> str:
        return compare(ctx, a, b)

    return StructuredTool.from_function(func=compare_policies, name=NAME,
                                        description=DESCRIPTION, args_schema=ComparePoliciesArgs)
