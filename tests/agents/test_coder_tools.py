"""The coder's tools in a run: run_probe is offered, runs the reviewer's cases on the current
draft, and is counted as an evaluation in the run's spend."""

from __future__ import annotations

from agents.budget import BudgetLimits
from tests.agents.scripted import ACCEPT, APPROVE, GOOD, PLAN, answer, direction, run, tool_call


def test_run_probe_is_offered_to_the_coder_and_counted_as_an_evaluation(tmp_path) -> None:
    coder = [tool_call("validate_policy", {"code": GOOD}, "c1"),
             tool_call("run_probe", {"draft": "current"}, "c2"),
             answer(GOOD, "Probed.")]
    scripts = {"planner": [PLAN, direction(1)], "coder": coder, "critic": [ACCEPT],
               "reviewer": [APPROVE]}
    outcome, evs, models = run(tmp_path, scripts)
    assert outcome.accepted_candidate == 1
    assert "run_probe" in models["coder"].call_tool_names[0]
    probe = next(e for e in evs if e["type"] == "tool_call" and e["tool"] == "run_probe")
    assert probe["ok"] and probe["result"].startswith("ok: the probe ran every case cleanly")
    # run_probe, the search suite, the held-out suite and the reviewer's probe.
    assert outcome.spent.evaluations == 4
    budgets = [e for e in evs if e["type"] == "budget"]
    assert budgets[-1]["spent"]["evaluations"] == 4


def test_the_coders_tools_score_by_the_runs_objective(tmp_path) -> None:
    """run_simulation and compare_policies score as the run does (here the mean adjusted
    latency, lower is better), not by completed pipelines whatever the objective."""
    coder = [tool_call("run_simulation", {"code": GOOD, "traces": ["seed1"]}, "c1"),
             tool_call("compare_policies", {"a": "priority", "b": "naive"}, "c2"),
             answer(GOOD, "Scored.")]
    scripts = {"planner": [direction(1)], "coder": coder, "critic": [ACCEPT],
               "reviewer": [APPROVE]}
    _, evs, _ = run(tmp_path, scripts, budget=BudgetLimits(max_iterations=1),
                    objective={"metric": "adjusted_latency", "aggregate": "mean"})
    said = {e["tool"]: e["result"] for e in evs if e["type"] == "tool_call"}
    assert said["run_simulation"].splitlines()[1] == ("score: mean adjusted latency (s) (lower is "
                                                      "better)")
    assert said["compare_policies"].splitlines()[0] == (
        "priority vs naive on 3 search trace(s), mean adjusted latency (s) (lower is better)")
