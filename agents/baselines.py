"""The numbers every candidate is judged against: the built-in policies and the bounds.

Built-ins are this project's own code, so they run in-process (no sandbox) on the same cases
the candidates run on. The bound of each case (`traces.bounds`) says what no policy can beat.
"""

from __future__ import annotations

from typing import Any

from agents.objective import Objective, ScoredCase, case_outcomes


def suite_cases(suite: str, part: str) -> list[Any]:
    """The `SuiteCase`s of a suite part (``search`` or ``held-out``)."""
    from traces.suites import get_suite

    s = get_suite(suite)
    return list(s.search_cases() if part == "search" else s.held_out_cases())


def builtin_baselines(suite: str, part: str) -> dict[str, Any]:
    """``{"policies": {name: {case: stats}}, "bounds": {case: {...}}, "failed": {name: why},
    "partial": {name: {case: stats}}, "failed_runs": {name: {case: why}}}``.

    ``policies`` are the built-ins that ran every case. One that cannot finish a case (Eudoxia's
    ``overbook`` over-allocates on purpose on some clusters, ``priority-pool`` needs two pools)
    is left out of them, with its first reason under ``failed``; when each of its failures is a
    failed run (the policy's own error, as `sandbox.evaluation.case_failure` tells a candidate's),
    its other cases are kept under ``partial`` and its failed runs under ``failed_runs``, so an
    objective that counts failed runs scores it as it scores a candidate (`scored_baselines`).
    """
    from simulator.policy_loader import builtin_keys
    from simulator.trace_io import read_trace
    from tools.builtins import failure_text, is_failed_run
    from traces.bounds import compute_bounds
    from traces.builtin_runs import run_builtin

    policies: dict[str, dict[str, Any]] = {name: {} for name in builtin_keys()}
    bounds: dict[str, Any] = {}
    failed: dict[str, str] = {}
    failed_runs: dict[str, dict[str, str]] = {}
    for case in suite_cases(suite, part):
        trace = read_trace(case.trace_path)
        for name in policies:
            if name in failed and name not in failed_runs:
                continue  # it failed for a reason no objective counts: no use running it on
            run = run_builtin(case.params, trace, name)
            if run.stats is None:
                why = failure_text(run, dict(case.params), detail=True)[:200]
                failed.setdefault(name, f"{case.name}: {why}")
                if is_failed_run(run):
                    failed_runs.setdefault(name, {})[case.name] = why
                else:
                    failed_runs.pop(name, None)
                continue
            policies[name][case.name] = run.stats
        bounds[case.name] = compute_bounds(trace, dict(case.params)).scores()
    kept = {name: per for name, per in policies.items() if name not in failed}
    partial = {name: policies[name] for name in failed_runs}
    return {"policies": kept, "bounds": bounds, "failed": failed, "partial": partial,
            "failed_runs": failed_runs}


def scored_baselines(objective: Objective,
                     baselines: dict[str, Any]) -> dict[str, dict[str, ScoredCase]]:
    """The built-ins ``objective`` scores on a suite part (`builtin_baselines`), each case's
    statistics or failed run: those that ran every case and, when the objective counts failed
    runs (``failed_case_value``), those whose only failures were failed runs, each failed case
    counted as a candidate's is (a built-in that cannot run one size of ``scales`` counts 720 s
    there)."""
    out: dict[str, dict[str, ScoredCase]] = {
        name: dict(per) for name, per in baselines["policies"].items()}
    if objective.failed_case_value is not None:
        partial = baselines.get("partial") or {}
        for name, failed in (baselines.get("failed_runs") or {}).items():
            out[name] = case_outcomes(partial.get(name) or {}, failed)
    return out
