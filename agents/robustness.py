"""The reviewer's robustness probe: an accepted policy must not crash where the suite is kind.

Three small clusters the search suite does not have: an OOM storm (operators need more RAM than
the pool has), many tiny pools (two CPUs each: zero free CPUs most of the time) and
multi-operator containers on two pools. The built-in policies finish all three (with failed
containers, as they should); a candidate that raises, returns garbage or over-allocates there is
sent back to the coder with the error. The probe runs in the sandbox like any evaluation.
"""

from __future__ import annotations

from typing import Any

_BASE = {"duration": 60, "ticks_per_second": 100, "random_seed": 7, "num_pipelines": 8,
         "waiting_seconds_mean": 5.0}
STRESS = {
    "oom-storm": {"num_pools": 1, "cpus_per_pool": 16, "ram_gb_per_pool": 24},
    "tiny-pools": {"num_pools": 4, "cpus_per_pool": 2, "ram_gb_per_pool": 32},
    "multi-op": {"num_pools": 2, "cpus_per_pool": 32, "ram_gb_per_pool": 200,
                 "multi_operator_containers": True},
}


def stress_cases() -> list[Any]:
    """The probe's cases (`sandbox.evaluation.CaseInput`), generated from their params."""
    from sandbox.evaluation import CaseInput
    from simulator.generator import generate_trace
    from simulator.params import load_params
    from simulator.trace_io import trace_to_text

    cases = []
    for name, overrides in STRESS.items():
        params = load_params({**_BASE, **overrides})
        cases.append(CaseInput(name, params, trace_to_text(generate_trace(params))))
    return cases


def probe(source: str, backend: Any, limits: Any) -> list[str]:
    """Problems of ``source`` on the stress cases (empty when it runs them all cleanly)."""
    from sandbox.evaluation import PolicyInput, evaluate_policy

    report = evaluate_policy(PolicyInput("robustness probe", source=source), stress_cases(),
                             backend, limits, static_checks=False)
    if report.status == "ok":
        return []
    problems = [f"{t.name}: {t.status}: {(t.error or {}).get('message', '')}"[:300]
                for t in report.traces if t.status != "ok"]
    return problems or [f"{report.status}: {report.reason}"]
