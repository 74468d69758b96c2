"""The coder's tools in a run: run_probe is offered, runs the reviewer's cases on the current
draft, and is counted as an evaluation in the run's spend."""

from __future__ import annotations

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
