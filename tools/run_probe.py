"""``run_probe``: the reviewer's robustness probe on a draft, before the coder submits it.

Three small clusters the search suite does not have, generated from fixed params (`STRESS` over
`BASE`): an OOM storm (operators need more RAM than the pool has), many tiny pools (two CPUs
each: zero free CPUs most of the time) and multi-operator containers on two pools. The built-in
policies finish all three (with failed containers, as they should); a policy that raises,
returns garbage or over-allocates there is sent back by the reviewer. The reviewer
(`agents.robustness`) runs exactly these cases; no held-out trace is involved. Each call is one
sandbox evaluation (the run counts it).
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.drafts import CODE_HELP, DRAFT_HELP, draft_note
from tools.errors import tool_function
from tools.text import num

NAME = "run_probe"
DESCRIPTION = (
    "Run the reviewer's robustness probe on your policy (default: the current draft): three "
    "small generated clusters, an OOM storm (1 pool, 16 CPUs, 24 GB), tiny pools (4 pools of 2 "
    "CPUs, 32 GB) and multi-operator containers (2 pools, 32 CPUs, 200 GB). Says per case "
    "whether it ran cleanly or how it failed (file:line), and the simulation's seconds. An "
    "accepted policy must pass it; counts as one evaluation."
)
BASE: dict[str, Any] = {"duration": 60, "ticks_per_second": 100, "random_seed": 7,
                        "num_pipelines": 8, "waiting_seconds_mean": 5.0}
STRESS: dict[str, dict[str, Any]] = {
    "oom-storm": {"num_pools": 1, "cpus_per_pool": 16, "ram_gb_per_pool": 24},
    "tiny-pools": {"num_pools": 4, "cpus_per_pool": 2, "ram_gb_per_pool": 32},
    "multi-op": {"num_pools": 2, "cpus_per_pool": 32, "ram_gb_per_pool": 200,
                 "multi_operator_containers": True},
}


def probe_text() -> str:
    """The probe's parameters, one line (for the coder's prompt)."""
    cases = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in over.items())
                      for name, over in STRESS.items())
    base = ", ".join(f"{k}={v}" for k, v in BASE.items())
    return (f"The reviewer's robustness probe (run it yourself with run_probe): {base}, and "
            f"per case {cases}. Expect OOM kills and zero free CPUs there; the policy must not "
            "raise, over-allocate or return malformed decisions.")


def stress_cases() -> list[Any]:
    """The probe's cases (`sandbox.evaluation.CaseInput`), generated from their params."""
    from sandbox.evaluation import CaseInput
    from simulator.generator import generate_trace
    from simulator.params import load_params
    from simulator.trace_io import trace_to_text

    cases = []
    for name, overrides in STRESS.items():
        params = load_params({**BASE, **overrides})
        cases.append(CaseInput(name, params, trace_to_text(generate_trace(params))))
    return cases


def probe_report(source: str, backend: Any, limits: Any) -> Any:
    """The sandbox's `EvaluationReport` of ``source`` on the probe's cases."""
    from sandbox.evaluation import PolicyInput, evaluate_policy

    return evaluate_policy(PolicyInput("robustness probe", source=source), stress_cases(),
                           backend, limits, static_checks=False)


def problems(report: Any) -> list[str]:
    """The probe's problems (empty when every case ran cleanly)."""
    if report.status == "ok":
        return []
    found = [f"{t.name}: {t.status}: {(t.error or {}).get('message', '')}"[:300]
             for t in report.traces if t.status != "ok"]
    return found or [f"{report.status}: {report.reason}"]


def run(ctx: ToolContext, source: str) -> str:
    """The probe on ``source`` as short text."""
    report = probe_report(source, ctx.backend, ctx.limits)
    found = problems(report)
    head = ("ok: the probe ran every case cleanly" if not found else
            f"error: the probe found {len(found)} problem(s); the reviewer would send it back")
    lines = [head]
    for t in report.traces:
        stats = t.stats or {}
        done = (stats.get("pipelines_all") or {}).get("completion_count")
        note = "" if t.status == "ok" else f": {(t.error or {}).get('message', '')}"[:300]
        lines.append(f"{t.name}: {t.status}, {num(done)} pipeline(s) completed, simulated in "
                     f"{num(t.seconds)} s{note}")
    if not report.traces:
        lines += found
    return "\n".join(lines)


class RunProbeArgs(BaseModel):
    """Arguments of ``run_probe``."""

    code: str | None = Field(default=None, description=CODE_HELP)
    draft: str | None = Field(default=None, description=DRAFT_HELP)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``run_probe`` tool bound to ``ctx``'s sandbox and drafts."""

    @tool_function()
    def run_probe(code: str | None = None, draft: str | None = None) -> str:
        key, source, new = ctx.drafts.resolve(code, draft)
        return run(ctx, source) + "\n" + draft_note(key, new)

    return StructuredTool.from_function(func=run_probe, name=NAME, description=DESCRIPTION,
                                        args_schema=RunProbeArgs)
