"""Evaluate a heuristic policy in this process, for tests and benchmarks.

This is not the sandbox: the policy runs in the caller's process. It is only meant for policies
the heuristic proposer rendered itself (trusted template, knob values only); candidate policies
from a model go through `sandbox` instead.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.errors import HeuristicError
from agents.heuristic.config import HeuristicConfig
from agents.heuristic.feedback import CaseOutcome, HeuristicFeedback, summarise
from agents.heuristic.render import render_policy

if TYPE_CHECKING:
    from traces.suites import SuiteCase

_CLASS_KEYS = {
    "QUERY": "pipelines_query",
    "INTERACTIVE": "pipelines_interactive",
    "BATCH_PIPELINE": "pipelines_batch",
}


def evaluate_locally(
    config: HeuristicConfig, cases: Sequence[SuiteCase], key: str = "heuristic"
) -> HeuristicFeedback:
    """Render ``config``, run it on every case (with the run profile) and summarise."""
    with tempfile.TemporaryDirectory(prefix="policyforge-heuristic-") as tmp:
        path = Path(tmp) / f"{key}.py"
        path.write_text(render_policy(config, key), encoding="utf-8")
        return evaluate_policy(path, cases)


def evaluate_policy(policy: str | Path, cases: Sequence[SuiteCase]) -> HeuristicFeedback:
    """Run a built-in policy name or a policy file on every case and summarise (the baselines)."""
    if not cases:
        raise HeuristicError("no cases to evaluate on: pass a suite's search_cases()")
    return summarise([run_case(policy, case) for case in cases])


def run_case(policy: str | Path, case: SuiteCase) -> CaseOutcome:
    """One case: completions by class, OOM kills and capacity use; a run error is recorded."""
    from simulator.engine import run_simulation
    from simulator.errors import SimulatorError

    try:
        result = run_simulation(case.params, case.trace_path, policy, profile=True)
    except SimulatorError as exc:
        return CaseOutcome(case=case.name, error=str(exc))
    stats = result.stats.to_dict()
    profile: dict[str, Any] = result.profile or {}
    util = profile.get("utilisation", {})
    idle = profile.get("idle_capacity", {})
    capacity = float(util.get("cpu_total", 0.0)) * float(idle.get("seconds_sampled", 0))
    return CaseOutcome(
        case=case.name,
        completed=int(stats["pipelines_all"]["completion_count"]),
        arrivals=int(stats["pipelines_all"]["arrival_count"]),
        completed_by_priority={
            name: int(stats[k]["completion_count"]) for name, k in _CLASS_KEYS.items()
        },
        arrivals_by_priority={
            name: int(stats[k]["arrival_count"]) for name, k in _CLASS_KEYS.items()
        },
        oom_kills=int(profile.get("oom", {}).get("kills", 0)),
        containers_completed=int(stats["containers_completed"]),
        idle_cpu_fraction=float(idle.get("cpu_seconds_idle_while_work_ready", 0.0)) / capacity
        if capacity
        else 0.0,
        ram_allocated_fraction=float(util.get("mean_ram_allocated_fraction") or 0.0),
        ram_used_fraction=float(util.get("mean_ram_used_fraction") or 0.0),
    )


def tune_locally(
    cases: Sequence[SuiteCase], iterations: int = 8, seed: int = 0
) -> list[tuple[HeuristicConfig, HeuristicFeedback]]:
    """Run the proposer loop for ``iterations`` evaluations; returns the whole history."""
    from agents.heuristic.proposer import HeuristicProposer

    proposer = HeuristicProposer(seed)
    history: list[tuple[HeuristicConfig, HeuristicFeedback]] = []
    for _ in range(iterations):
        config = proposer.propose(history)
        history.append((config, evaluate_locally(config, cases)))
    return history
