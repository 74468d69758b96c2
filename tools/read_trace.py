"""``read_trace``: one search trace at a glance (workload, cluster, bound, baselines)."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from simulator.trace_io import TracePipeline
from tools.builtins import builtin_run, require_builtin
from tools.context import ToolContext
from tools.errors import tool_function
from tools.search_suite import cluster_line, search_case, trace_bounds, trace_pipelines
from tools.text import num
from traces.metrics import BOUND_KEYS, METRICS, metric_value

NAME = "read_trace"
DESCRIPTION = (
    "Summarise one search trace: its cluster and settings, the bound (most pipelines any "
    "policy could complete) and the built-in baselines' scores on it, then the workload: "
    "pipelines and arrivals over time, priority mix, DAG shapes, per-pipeline CPU and memory "
    "demand by priority, operator sizes and the offered load against capacity. `trace` is a "
    "search trace name (see profile_workload)."
)


class ReadTraceArgs(BaseModel):
    """Arguments of ``read_trace``."""

    trace: str = Field(description="A search trace name, e.g. as listed by profile_workload.")


def summarise(ctx: ToolContext, trace: str) -> str:
    """One search trace's summary as short text."""
    from traces.profile import format_profile, profile_workload

    name = trace.strip()
    params = search_case(ctx.suite, name).params
    pipelines = trace_pipelines(ctx.suite, name)
    lines = [f"trace {name} (search suite {ctx.suite}): {cluster_line(params)}"]
    lines.append(_bound_line(ctx, name))
    lines.append(_baselines_line(ctx, name))
    lines.append(format_profile(profile_workload(pipelines, params), name))
    lines += operator_lines(pipelines)
    return "\n".join(lines)


def _bound_line(ctx: ToolContext, name: str) -> str:
    bounds = trace_bounds(ctx.suite, name)
    if bounds is None:
        return "bound: not computable for this trace"
    return (f"bound: any policy completes at most {bounds['max_completed_pipelines']} of the "
            f"{bounds['arrivals']} pipelines that arrive in time; container throughput at most "
            f"{num(bounds['max_container_throughput'])}/s")


def _baselines_line(ctx: ToolContext, name: str) -> str:
    parts = []
    for policy in ctx.baselines:
        key = require_builtin(policy)
        run = builtin_run(ctx.suite, name, key)
        parts.append(f"{key} {num(metric_value(ctx.metric, run.stats))}" if run.stats
                     else f"{key} n/a ({run.error})")
    bound_key = BOUND_KEYS.get(ctx.metric)
    bound = (trace_bounds(ctx.suite, name) or {}).get(bound_key) if bound_key else None
    of_bound = f", bound {num(bound)}" if bound is not None else ""
    return f"baselines ({METRICS[ctx.metric].label}{of_bound}): {', '.join(parts)}"


def operator_lines(pipelines: list[TracePipeline]) -> list[str]:
    """Operator sizes: peak memory, CPU work, scaling functions and memory models."""
    from traces.profile import Distribution, operator_demand

    ops = [op for p in pipelines for op in p.operators]
    if not ops:
        return ["operators: none"]
    demand = [operator_demand(op, 1) for op in ops]  # the profile's own definitions
    peak = Distribution.of([d.peak_memory_gb for d in demand])
    cpu = Distribution.of([d.cpu_seconds_at_1_cpu for d in demand])
    scaling: dict[str, int] = {}
    for op in ops:
        scaling[op.cpu_scaling] = scaling.get(op.cpu_scaling, 0) + 1
    fixed = sum(op.memory_gb is not None for op in ops)
    return [
        (f"operators ({len(ops)}, min / median / p95 / max): peak memory GB {_dist(peak)}; "
        f"s (= CPU-s) at 1 CPU, IO included {_dist(cpu)}"),
        "  scaling: " + ", ".join(f"{k} {v}" for k, v in sorted(scaling.items(),
                                                               key=lambda kv: -kv[1]))
        + f"; memory: fixed {fixed}, grows with data read {len(ops) - fixed}",
    ]


def _dist(d: object) -> str:
    return " / ".join(num(getattr(d, k)) for k in ("min", "median", "p95", "max"))


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``read_trace`` tool bound to ``ctx``'s search suite."""

    @tool_function()
    def read_trace(trace: str) -> str:
        return summarise(ctx, trace)

    return StructuredTool.from_function(func=read_trace, name=NAME, description=DESCRIPTION,
                                        args_schema=ReadTraceArgs)
