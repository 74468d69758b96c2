"""``run_simulation``: a quick, verified run of policy code on a few search traces, with context.

The policy runs in the sandbox (`sandbox.evaluation.evaluate_policy`: static checks, the
context's backend and limits, host-side verification); the numbers shown are the host's. Beside
them: the built-in baselines on the same traces (run in-process, cached) and each trace's bound.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from sandbox.protocol import EvaluationReport
from tools.builtins import baseline_comparison
from tools.context import ToolContext
from tools.drafts import CODE_HELP, DRAFT_HELP, draft_note
from tools.errors import ToolError, tool_function
from tools.metrics import bound_score, bound_share, describe_score, relative_gap, versus
from tools.policy_cost import cost_text
from tools.search_suite import search_cases, search_names, trace_bounds
from tools.text import num, pct, signed, table

NAME = "run_simulation"
DESCRIPTION = (
    "Run policy code in the sandbox on search traces and get verified numbers: status (or why "
    "it failed, with file:line and tick), the objective's figure per trace and its score over "
    "them (the objective's aggregate; a trace whose run fails counts what the evaluation counts "
    "it, where the objective says so), the best built-in baseline on the same traces (difference "
    "and wins/losses) and the fraction of the best possible (bound) reached. `traces`: names of "
    "search traces (see profile_workload); omit for the first {n}. Takes a few seconds per "
    "trace; use it before submitting."
)
POLICY_LABEL = "draft"


class RunSimulationArgs(BaseModel):
    """Arguments of ``run_simulation``."""

    code: str | None = Field(default=None, description=CODE_HELP)
    draft: str | None = Field(default=None, description=DRAFT_HELP)
    traces: list[str] | str | None = Field(
        default=None,
        description="Search trace names to run on; omit (or empty) for the default quick subset.",
    )


def run(ctx: ToolContext, code: str, traces: list[str] | str | None) -> str:
    """Evaluate ``code`` on the chosen search traces and report it against the baselines."""
    from sandbox.evaluation import PolicyInput, counted_failed_runs, evaluate_policy

    if isinstance(traces, str):  # one name, or several separated by commas
        traces = [t for t in traces.split(",") if t.strip()]
    cases = search_cases(ctx.suite, traces, ctx.max_quick_cases)
    report = evaluate_policy(PolicyInput(POLICY_LABEL, source=code), cases, ctx.backend,
                             ctx.limits, suite=ctx.suite, part="search")
    names = [c.name for c in cases]
    if report.status == "rejected":
        reason = (report.reason or "").removeprefix("static checks: ")
        lines = [f"error: rejected by the static checks before running: {reason}"]
        errors = [f for f in report.findings if f.get("severity") == "error"]
        lines += [f"line {f['line']}:{f['column']} [{f['rule']}] {f['message']}"
                  for f in errors[1:6]]
        lines.append("(call validate_policy to see every finding)")
        return "\n".join(lines)
    report = ctx.objective.count_failed_runs(report)  # as the evaluation scores it
    failed = counted_failed_runs(report)
    ours = {t.name: ctx.objective.case_value(t.stats) for t in report.traces if t.stats}
    ours.update({case: report.failed_run_value for case in failed
                 if report.failed_run_value is not None})
    if not ours:
        why = report.reason or "no trace produced a verified result"
        raise ToolError(f"{report.status}: {why}")
    lines = [_status_line(report, len(names), len(failed))]
    lines += [ctx.objective.failed_run_text(case, why) for case, why in failed.items()]
    lines += _comparison(ctx, names, ours)
    lines.append(cost_text(code, {t.name: t.seconds for t in report.traces},
                           {t.name: (t.policy_calls, t.ticks) for t in report.traces}))
    warnings = sum(f.get("severity") == "warning" for f in report.findings)
    if warnings:
        lines.append(f"static-check warnings: {warnings} (validate_policy lists them)")
    left = [n for n in search_names(ctx.suite) if n not in names]
    if left:
        lines.append(f"other search traces: {', '.join(left[:12])}{' …' if len(left) > 12 else ''}")
    return "\n".join(lines)


def _status_line(report: EvaluationReport, count: int, failed: int) -> str:
    verified = report.verification.verified
    backend = report.sandbox.backend if report.sandbox else "?"
    counted = (f", {failed} failed run(s) counted at {num(report.failed_run_value)}"
               if failed else "")
    if report.status == "ok":
        return (f"status: ok, {verified} of {count} trace(s) verified{counted} "
                f"(sandbox: {backend})")
    return (f"error: {report.status}: {report.reason}\n"
            f"(numbers below are from the {verified} of {count} trace(s) that were verified)")


def _comparison(ctx: ToolContext, names: list[str], ours: dict[str, float]) -> list[str]:
    objective = ctx.objective
    best, values, missing = baseline_comparison(ctx.suite, names, ctx.baselines, objective)
    mine = objective.combine([ours[n] for n in names if n in ours])
    lines = [f"score: {describe_score(objective)}"]
    summary = f"{objective.aggregate} {num(mine)}"
    if best is not None and mine is not None:
        theirs = objective.combine([values[best][n] for n in names if n in ours])
        assert theirs is not None
        gap = relative_gap(mine, theirs, higher_is_better=objective.direction == "maximize")
        rel = "" if gap is None else \
            f", {num(abs(round(100 * gap, 1)))}% {'better' if gap >= 0 else 'worse'}"
        summary += f" vs best baseline {best} {num(theirs)} ({signed(mine - theirs)}{rel})"
    bounds = bound_score(objective, {n: trace_bounds(ctx.suite, n) or {} for n in names})
    scored = [bounds["per_trace"][n] for n in names if n in ours and n in bounds["per_trace"]]
    frac = bound_share(objective, mine, objective.combine(scored))
    if frac is not None:
        summary += f"; {pct(frac)} of the bound"
    lines.append(summary)
    lines += _per_trace_table(ctx, names, ours, values, bounds["per_trace"])
    if best is not None:
        score = [versus(objective, ours[n], values[best][n]) for n in ours]
        lines.append(f"vs {best}: {score.count(1)} win(s), {score.count(0)} tie(s), "
                     f"{score.count(-1)} loss(es)")
    for key, why in missing.items():
        lines.append(f"baseline {key} not comparable here: {why}")
    return lines


def _per_trace_table(ctx: ToolContext, names: list[str], ours: dict[str, float],
                     values: dict[str, dict[str, float]], bounds: dict[str, float]) -> list[str]:
    shown = [k for k in values if values[k]]
    header = ["trace", "policy", *shown, *(["bound", "of bound"] if bounds else [])]
    rows = [header]
    for name in names:
        mine = num(ours.get(name)) if name in ours else "error"
        share = bound_share(ctx.objective, ours.get(name), bounds.get(name))
        rows.append([name, mine, *(num(values[k].get(name)) for k in shown),
                     *([num(bounds.get(name)), pct(share)] if bounds else [])])
    return table(rows)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``run_simulation`` tool bound to ``ctx``'s suite, sandbox and metric."""

    @tool_function()
    def run_simulation(code: str | None = None, traces: list[str] | str | None = None,
                       draft: str | None = None) -> str:
        key, source, new = ctx.drafts.resolve(code, draft)
        return run(ctx, source, traces) + "\n" + draft_note(key, new)

    return StructuredTool.from_function(
        func=run_simulation, name=NAME, args_schema=RunSimulationArgs,
        description=DESCRIPTION.format(n=ctx.max_quick_cases))
