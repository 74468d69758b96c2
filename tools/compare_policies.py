"""``compare_policies``: two policies (built-ins or candidates) side by side on search traces."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.archive import load_candidate
from tools.builtins import builtin_run, builtin_values, failure_text, require_builtin
from tools.context import ToolContext
from tools.errors import ToolError, tool_function
from tools.metrics import describe_score, versus
from tools.search_suite import search_case, search_names
from tools.text import num, signed, table

NAME = "compare_policies"
DESCRIPTION = (
    "Compare two policies on the search traces by the run's objective: per-trace figures side "
    "by side (a trace whose run failed counts what the objective counts it, where it does), "
    "wins/ties/losses of `a` against `b`, and each one's score over the traces they share (the "
    "objective's aggregate). Each of `a` and `b` is a built-in policy name (naive, priority, "
    "priority-pool, overbook) or an archived candidate's number (see list_candidates)."
)


class ComparePoliciesArgs(BaseModel):
    """Arguments of ``compare_policies``."""

    a: str | int = Field(
        description="A built-in policy name or a candidate number, e.g. 'priority' or 3.")
    b: str | int = Field(description="A built-in policy name or a candidate number.")


def policy_values(ctx: ToolContext, ref: str | int) -> tuple[str, dict[str, float], set[str]]:
    """A policy reference's label, the objective's figure per search trace, and the traces
    whose figure is a failed run's (counted as the objective counts it)."""
    text = str(ref).strip().lower().removeprefix("candidate").strip().lstrip("#")
    names = search_names(ctx.suite)
    if text.isdigit():
        candidate = load_candidate(ctx.run_dir, int(text))
        values = candidate.per_trace(ctx.objective, names)
        if not values:
            raise ToolError(f"candidate {candidate.n} has no verified numbers "
                            f"(status {candidate.status})")
        failed = set((candidate.result or {}).get("failed_runs") or {}) & set(values)
        return f"candidate {candidate.n}", values, failed
    key = require_builtin(str(ref))
    values = builtin_values(ctx.suite, names, key, ctx.objective)
    if not values:
        why = failure_text(builtin_run(ctx.suite, names[0], key),
                           dict(search_case(ctx.suite, names[0]).params))
        raise ToolError(f"{key} cannot run on this suite's search traces: {why}")
    return key, values, {n for n in values if builtin_run(ctx.suite, n, key).stats is None}


def compare(ctx: ToolContext, a: str | int, b: str | int) -> str:
    """``a`` against ``b`` as short text."""
    label_a, va, failed_a = policy_values(ctx, a)
    label_b, vb, failed_b = policy_values(ctx, b)
    if label_a == label_b:
        label_b += " (again)"
    names = [n for n in search_names(ctx.suite) if n in va or n in vb]
    both = [n for n in names if n in va and n in vb]
    if not both:
        raise ToolError(f"{label_a} and {label_b} have no search trace in common with numbers")
    objective = ctx.objective
    score = [versus(objective, va[n], vb[n]) for n in both]
    mine = objective.combine([va[n] for n in both])
    theirs = objective.combine([vb[n] for n in both])
    difference = signed(mine - theirs) if mine is not None and theirs is not None else "-"
    lines = [
        f"{label_a} vs {label_b} on {len(both)} search trace(s), {describe_score(objective)}",
        (f"{label_a}: {score.count(1)} win(s), {score.count(0)} tie(s), "
         f"{score.count(-1)} loss(es); {objective.aggregate} {num(mine)} vs {num(theirs)} "
         f"({difference})"),
    ]

    def cell(values: dict[str, float], failed: set[str], n: str) -> str:
        return num(values.get(n)) + (" (run failed)" if n in failed else "")

    rows = [["trace", label_a, label_b, "difference"]]
    for n in names:
        diff = signed(va[n] - vb[n]) if n in va and n in vb else "-"
        rows.append([n, cell(va, failed_a, n), cell(vb, failed_b, n), diff])
    lines += table(rows)
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``compare_policies`` tool bound to ``ctx``'s suite, objective and archive."""

    @tool_function()
    def compare_policies(a: str | int, b: str | int) -> str:
        return compare(ctx, a, b)

    return StructuredTool.from_function(func=compare_policies, name=NAME,
                                        description=DESCRIPTION, args_schema=ComparePoliciesArgs)
