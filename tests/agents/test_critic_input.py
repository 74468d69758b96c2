"""The critic reads the case with the most headroom (the largest gap to its bound), with its
capacity figures and every case's simulation time, not the first case."""

from __future__ import annotations

import json
from pathlib import Path

from agents.nodes.critic import headroom_case, headroom_text
from tests.agents.scripted import ACCEPT, APPROVE, GOOD, PLAN, answer, direction, run


def _trace(name: str, fraction: float | None, done: int, seconds: float) -> dict:
    return {"name": name, "stats": {"pipelines_all": {"completion_count": done}},
            "bounds": {"max_completed_pipelines": 40},
            "bound_fractions": {"completed_pipelines": fraction}, "seconds": seconds,
            "profile_summary": {"oom_kills": 3.0, "idle_cpu_fraction": 0.25}}


def test_the_case_farthest_from_its_bound_is_chosen_not_the_first() -> None:
    result = {"evaluation": {"traces": [_trace("easy", 1.0, 40, 0.5), _trace("hard", 0.25, 10, 4.0),
                                        _trace("mid", 0.5, 20, 1.0),
                                        {"name": "broken", "stats": None, "seconds": 0.1}]},
              "profile": {"case": "easy", "profile": {"oom": {"kills": 0}}}}
    assert headroom_case(result, "completed_pipelines")["name"] == "hard"
    text = headroom_text(result, "completed_pipelines")
    assert text.startswith("Case with the most headroom: hard: completed_pipelines 10 of a "
                           "bound 40 (25% of the bound); oom_kills 3, idle_cpu_fraction 0.25")
    assert "Where the time went on easy" not in text  # that profile is another case's
    assert "Simulation time per case: easy 0.5 s, hard 4 s, mid 1 s, broken 0.1 s" in text
    # Equal headroom: the first of them; no verified case at all: said so.
    result["evaluation"]["traces"][2]["bound_fractions"]["completed_pipelines"] = 0.25
    assert headroom_case(result, "completed_pipelines")["name"] == "hard"
    assert headroom_text({"evaluation": {"traces": []}}, "completed_pipelines") == (
        "Where the time went: no verified case.")


def test_the_critic_model_is_shown_the_case_with_the_most_headroom(tmp_path: Path) -> None:
    scripts = {"planner": [PLAN, direction(1)], "coder": [answer(GOOD)], "critic": [ACCEPT],
               "reviewer": [APPROVE]}
    outcome, _, models = run(tmp_path, scripts)
    result = json.loads((Path(outcome.run_dir) / "candidates/1/result.json").read_text())
    traces = result["evaluation"]["traces"]
    fractions = {t["name"]: t["bound_fractions"]["completed_pipelines"] for t in traces}
    widest = min(fractions, key=lambda k: fractions[k])
    ask = str(models["critic"].calls[0][-1].content)
    assert f"Case with the most headroom: {widest}: completed_pipelines" in ask
    assert "Simulation time per case: " in ask


def test_the_critic_is_told_why_a_clock_reading_policy_is_called_on_every_tick(
        tmp_path: Path) -> None:
    from agents.budget import BudgetLimits
    from tests.agents.scripted import REJECT
    from tests.tools.test_policy_cost import CLOCK

    scripts = {"planner": [PLAN, direction(1)], "coder": [answer(CLOCK, "FIFO with a clock.")],
               "critic": [REJECT], "reviewer": []}

    _, _, models = run(tmp_path, scripts, budget=BudgetLimits(max_iterations=1))
    ask = str(models["critic"].calls[0][-1].content)
    line = next(i for i, x in enumerate(CLOCK.splitlines(), 1) if "now_seconds" in x)
    assert (f"Simulation cost: line {line} reads the clock (`now = s.clock.now_seconds()`) with "
            "no early return before it, so the policy is called on every tick") in ask
    assert "Simulation time per case: " in ask
    # and on how many ticks it was in fact called, case by case
    import re

    counts = re.findall(r"called on (\d+) of (\d+) ticks", ask)
    assert counts and all(int(c) >= 0.9 * int(t) for c, t in counts)


def test_the_rules_hint_follows_the_objective_and_says_only_what_fails() -> None:
    from agents.judge import Judgement
    from agents.nodes.critic import _rules_hint
    from agents.objective import Objective

    def judgement(score: float, needed: float, wins: int) -> Judgement:
        return Judgement(passes=False, score=score, baseline_policy="priority",
                         baseline_score=26.7, needed=needed, wins=wins, cases=5, gap=None,
                         reasons=[])

    latency = Objective(metric="adjusted_latency", aggregate="geomean")
    record = {"constraints_ok": True}
    # lower is better: a score already under what is needed is not told to rise
    assert _rules_hint(judgement(14.97, 25.35, 1), record, latency) == (
        "beat priority on most cases (better on 1 of 5)")
    assert _rules_hint(judgement(30.0, 25.35, 4), record, latency) == (
        "lower the geomean score from 30 to at most 25.35")
    completions = Objective()
    assert _rules_hint(judgement(32, 154, 2), record, completions) == (
        "raise the median score from 32 to at least 154 and beat priority on most cases "
        "(better on 2 of 5)")
