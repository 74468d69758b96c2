"""Review of a run whose objective is a latency (lower is better): an improvement over the
baseline reads as one, in the same sense as the critic's gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.budget import BudgetLimits
from agents.lifecycle import start_run
from agents.objective import suite_objective
from agents.review.rundir import RunInfo, load_run
from agents.review.summary import fmt_num, vs_baseline
from agents.review.terminal import render_terminal
from agents.run_config import RunConfig
from sandbox.local_backend import LocalBackend


@pytest.fixture(scope="module")
def latency_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A heuristic run on `latency` (penalised adjusted latency, lower is better)."""
    objective = suite_objective("latency")
    config = RunConfig(goal="lowest latency", objective=objective.model_dump(), suite="latency",
                       heuristic=True, budget=BudgetLimits(max_iterations=3))
    outcome = start_run(config, tmp_path_factory.mktemp("runs"),
                        backend=LocalBackend(warn=False))
    return Path(outcome.run_dir)


def test_a_latency_below_the_baseline_reads_as_better_in_the_review(latency_run: Path) -> None:
    view = load_run(latency_run)
    assert view.run.lower_is_better and view.run.metric == "adjusted_latency_penalised"
    best = view.best()
    base = view.run.baseline_score
    assert best is not None and best.score is not None and base is not None
    assert best.score < base  # the heuristic beats `priority` on latency
    gap = (base - best.score) / base * 100  # the critic's gap: > 0 is better
    claim = f"{fmt_num(best.score)} vs {fmt_num(base)} ({gap:.1f}% better)"
    assert vs_baseline(best.score, view.run) == claim
    text = render_terminal(view, color=False, width=200)
    assert f"({gap:.1f}% better)" in text and "% worse)" not in text.split("Candidates")[0]


def test_score_vs_baseline_says_better_or_worse_in_the_objectives_direction() -> None:
    latency = RunInfo(run_id="r", objective={"metric": "adjusted_latency_penalised",
                                             "direction": "minimize"},
                      baseline={"policy": "priority", "score": 40.0})
    assert vs_baseline(30.0, latency) == "30 vs 40 (25.0% better)"
    assert vs_baseline(50.0, latency) == "50 vs 40 (25.0% worse)"
    completed = RunInfo(run_id="r", objective={"metric": "completed_pipelines"},
                        baseline={"policy": "priority", "score": 40.0})
    assert vs_baseline(50.0, completed) == "50 vs 40 (25.0% better)"
    assert vs_baseline(40.0, completed) == "40 vs 40 (even)"
    # a run.json without a direction: the metric's own (the penalised latency is lower-better)
    bare = RunInfo(run_id="r", objective={"metric": "adjusted_latency_penalised"},
                   baseline={"score": 40.0})
    assert bare.lower_is_better and vs_baseline(30.0, bare) == "30 vs 40 (25.0% better)"
