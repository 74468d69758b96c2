"""``profile_workload``: the whole search suite's workload, one line per trace, plus the totals."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from tools.builtins import baseline_comparison
from tools.context import ToolContext
from tools.errors import tool_function
from tools.read_trace import operator_lines
from tools.search_suite import (
    cluster_line,
    search_case,
    search_names,
    suite_description,
    trace_bounds,
    trace_pipelines,
)
from tools.text import num, pct, table
from traces.metrics import METRICS

NAME = "profile_workload"
DESCRIPTION = (
    "Profile the whole search suite: its settings, then one row per search trace (pipelines, "
    "priority mix, offered CPU and memory load against capacity, the bound on completed "
    "pipelines, the best built-in baseline's score) and the operator sizes over all traces. "
    "Lists the search trace names the other tools accept. No arguments."
)


class ProfileWorkloadArgs(BaseModel):
    """``profile_workload`` takes no arguments."""


def profile_suite(ctx: ToolContext) -> str:
    """The search suite's workload as short text."""
    from traces.profile import profile_workload

    names = search_names(ctx.suite)
    settings = {cluster_line(search_case(ctx.suite, n).params) for n in names}
    lines = [f"search suite {suite_description(ctx.suite)}; {len(names)} search traces"]
    lines += [f"setting: {s}" for s in sorted(settings)]
    best, values, _ = baseline_comparison(ctx.suite, names, ctx.baselines, ctx.objective)
    label = f"{best} {METRICS[ctx.metric].label}" if best else "best baseline"
    rows = [["trace", "pipelines", "Q/I/B %", "CPU load", "mem load", "max done", label]]
    everything = []
    for name in names:
        pipelines = trace_pipelines(ctx.suite, name)
        everything += pipelines
        prof = profile_workload(pipelines, search_case(ctx.suite, name).params)
        total = max(prof.pipelines, 1)
        mix = "/".join(f"{100 * prof.priority_mix[k] / total:.0f}"
                       for k in ("QUERY", "INTERACTIVE", "BATCH_PIPELINE"))
        load = prof.load
        bounds = trace_bounds(ctx.suite, name) or {}
        rows.append([name, str(prof.pipelines), mix, pct(load.cpu_load if load else None),
                     pct(load.memory_load if load else None),
                     num(bounds.get("max_completed_pipelines")),
                     num(values[best].get(name)) if best else "-"])
    lines += table(rows)
    lines.append("load = least demand of the delivered pipelines / capacity over the run; above "
                 "100% no policy can finish everything. max done = bound on completed pipelines.")
    lines += operator_lines(everything)
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``profile_workload`` tool bound to ``ctx``'s search suite."""

    @tool_function()
    def profile_workload() -> str:
        return profile_suite(ctx)

    return StructuredTool.from_function(func=profile_workload, name=NAME,
                                        description=DESCRIPTION, args_schema=ProfileWorkloadArgs)
