"""The built-in policies on search traces, run in this process (they are trusted code) and cached.

A built-in's result depends only on (suite, trace, policy), so each is computed once per process.
A built-in that cannot run on a trace (``priority-pool`` needs exactly two pools) has no value
there; the reason is kept so tools can say why.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from tools.errors import ToolError
from tools.search_suite import search_case, trace_pipelines
from traces.builtin_runs import BuiltinRun, run_builtin
from traces.metrics import best_baseline

if TYPE_CHECKING:
    from tools.context import RunObjective


def builtin_key(name: str) -> str | None:
    """The simulator's key for a built-in policy name (``priority_pool`` -> ``priority-pool``)."""
    from simulator.policy_loader import builtin_keys

    wanted = name.strip().lower().replace("_", "-")
    return wanted if wanted in builtin_keys() else None


def require_builtin(name: str) -> str:
    """`builtin_key`, or a `ToolError` listing the built-ins."""
    from simulator.policy_loader import builtin_keys

    key = builtin_key(name)
    if key is None:
        raise ToolError(
            f"{name!r} is not a built-in policy (built-ins: {', '.join(builtin_keys())})")
    return key


@lru_cache(maxsize=1024)
def builtin_run(suite: str, trace: str, policy: str) -> BuiltinRun:
    """Run built-in ``policy`` on search trace ``trace`` of ``suite`` (cached per process)."""
    key = require_builtin(policy)
    case = search_case(suite, trace)
    return run_builtin(case.params, trace_pipelines(suite, trace), key)


def failure_text(run: BuiltinRun, params: dict | None = None, *, detail: bool = False) -> str:
    """Why a built-in has no result, saying what it needs: the simulator's own words, except
    priority-pool's bare assertion ("requires 2 pools") which reads wrong on a larger cluster."""
    text = str((run.detail if detail else None) or run.error or "no result")
    if "requires 2 pools" in text:
        pools = (params or {}).get("num_pools")
        have = f"; this cluster has {pools}" if pools is not None else ""
        return f"priority-pool needs exactly 2 pools{have} (it cannot run here)"
    return text


def is_failed_run(run: BuiltinRun) -> bool:
    """Whether a built-in's run that has no statistics failed as a candidate's failed run does
    (its own exception, a decision the simulator refuses: `sandbox.evaluation.case_failure`),
    so an objective that counts failed runs counts it."""
    from sandbox.evaluation import case_failure

    return run.stats is None and case_failure("error", {"kind": run.kind}) == "run"


def builtin_values(suite: str, traces: list[str], policy: str,
                   objective: RunObjective) -> dict[str, float]:
    """A built-in's figure on each trace, as ``objective`` scores it: where it ran, the case's
    figure; where its run failed and the objective counts failed runs, ``failed_case_value``;
    elsewhere none."""
    out = {}
    for trace in traces:
        run = builtin_run(suite, trace, policy)
        if run.stats is not None:
            out[trace] = objective.case_value(run.stats)
        elif objective.failed_case_value is not None and is_failed_run(run):
            out[trace] = objective.failed_case_value
    return out


def baseline_comparison(suite: str, traces: list[str], policies: tuple[str, ...],
                        objective: RunObjective
                        ) -> tuple[str | None, dict[str, dict[str, float]], dict[str, str]]:
    """The baseline with the best score (``objective``'s aggregate) on ``traces`` among those
    ``objective`` scores on all of them.

    Returns (its name or None, every baseline's per-trace figures, why a baseline is missing).
    """
    values: dict[str, dict[str, float]] = {}
    missing: dict[str, str] = {}
    for policy in policies:
        key = require_builtin(policy)
        per = builtin_values(suite, traces, key, objective)
        values[key] = per
        if len(per) < len(traces):
            failed = next(t for t in traces if t not in per)
            missing[key] = failure_text(builtin_run(suite, failed, key),
                                        dict(search_case(suite, failed).params))
    scores = {k: objective.combine(list(values[k].values())) for k in values if k not in missing}
    best, _ = best_baseline(scores, higher_is_better=objective.direction == "maximize")
    return best, values, missing
