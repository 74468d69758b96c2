"""The numbers every candidate is judged against: the built-in policies and the bounds.

Built-ins are this project's own code, so they run in-process (no sandbox) on the same cases
the candidates run on. The bound of each case (`traces.bounds`) says what no policy can beat.
"""

from __future__ import annotations

from typing import Any

from agents.objective import Objective
from traces.metrics import BOUND_KEYS


def suite_cases(suite: str, part: str) -> list[Any]:
    """The `SuiteCase`s of a suite part (``search`` or ``held-out``)."""
    from traces.suites import get_suite

    s = get_suite(suite)
    return list(s.search_cases() if part == "search" else s.held_out_cases())


def builtin_baselines(suite: str, part: str) -> dict[str, Any]:
    """``{"policies": {name: {case: stats}}, "bounds": {case: {...}}, "failed": {name: why}}``.

    A built-in that cannot finish a case (Eudoxia's ``overbook`` over-allocates on purpose on
    some clusters) is left out of the baselines, with the reason under ``failed``.
    """
    from simulator.policy_loader import builtin_keys
    from simulator.trace_io import read_trace
    from tools.builtins import failure_text
    from traces.bounds import compute_bounds
    from traces.builtin_runs import run_builtin

    policies: dict[str, dict[str, Any]] = {name: {} for name in builtin_keys()}
    bounds: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for case in suite_cases(suite, part):
        trace = read_trace(case.trace_path)
        for name in policies:
            if name in failed:
                continue
            run = run_builtin(case.params, trace, name)
            if run.stats is None:
                why = failure_text(run, dict(case.params), detail=True)
                failed[name] = f"{case.name}: {why[:200]}"
                continue
            policies[name][case.name] = run.stats
        bounds[case.name] = compute_bounds(trace, dict(case.params)).scores()
    kept = {name: per for name, per in policies.items() if name not in failed}
    return {"policies": kept, "bounds": bounds, "failed": failed}


def bound_score(objective: Objective, bounds: dict[str, Any]) -> dict[str, Any]:
    """The bound of the objective's figure: per case the metric's bound with the penalty of the
    pipelines no policy can complete, then the objective's aggregate of those (None where the
    metric has no bound, or some case has none)."""
    key = BOUND_KEYS.get(objective.metric)
    per: dict[str, float] = {}
    for case, b in bounds.items():
        value = b.get(key) if key else None
        if value is None:
            return {"score": None, "per_trace": {}}
        per[case] = objective.penalised(float(value), float(b.get("min_unfinished_pipelines", 0)))
    return {"score": objective.combine(list(per.values())) if per else None, "per_trace": per}
