"""The planner after every verdict: it sees the workload profile and the archive, and its
direction is fresh each time (a repeat is asked again, never passed on)."""

from __future__ import annotations

from tests.agents.scripted import ACCEPT, APPROVE, GOOD, PLAN, REJECT, WEAK, answer, run


def test_the_planner_sees_profile_and_archive_after_each_verdict_and_never_repeats(
        tmp_path) -> None:
    same = "Protect queries first, then size RAM from OOM history."
    fresh = "Give batch pipelines a reserved share of one pool so none starves."
    scripts = {"planner": [PLAN, same, same, fresh, same, ("protect  QUERIES first, then size RAM "
                           "from OOM history!")],
               "coder": [answer(WEAK, "FIFO."), answer(WEAK, "FIFO again."), answer(GOOD, "Good.")],
               "critic": [REJECT, REJECT, ACCEPT], "reviewer": [APPROVE]}
    outcome, evs, models = run(tmp_path, scripts)
    assert outcome.accepted_candidate == 3 and models["planner"].remaining == 0
    asks = [str(call[1].content) for call in models["planner"].calls[1:]]
    # One direction before the first candidate and one after each of the two rejections; the
    # repeats were asked again (once each) and then a fallback took the critic's hint.
    plans = [e["direction"] for e in evs if e["type"] == "plan"]
    assert plans[0] == same and plans[1] == fresh
    assert plans[2] not in (same, fresh) and "more" in plans[2]  # REJECT's hint is "more"
    assert len(plans) == 3 and len(set(plans)) == 3
    verdicts = [i for i, e in enumerate(evs) if e["type"] == "verdict"]
    planner_calls = [i for i, e in enumerate(evs)
                     if e["type"] == "model_call" and e["role"] == "planner"]
    for v in verdicts[:-1]:  # every rejection is followed by a planner call
        assert any(c > v for c in planner_calls)
    for ask in asks:
        assert "Workload profile (search suite):" in ask and "search traces" in ask
        assert "Archive:" in ask
    after_first = [a for a in asks if "#1 [ok]" in a]
    assert after_first and all(same in a for a in after_first)  # it is told what it said
    stale = [e for e in evs if e["type"] == "error" and "stale direction" in e["message"]]
    assert len(stale) == 2
    # The coder's tasks carry the fresh directions only.
    tasks = [str(call[1].content) for call in models["coder"].calls]
    assert [sum(p in t for p in plans) for t in tasks] == [1, 1, 1]
    assert fresh in tasks[1] and same not in tasks[1]


def test_the_objective_tool_defaults_to_the_runs_suite() -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from agents.nodes.planner import objective_schema
    from agents.objective import Objective

    schema = objective_schema("paper")
    assert schema.__name__ == "Objective" and issubclass(schema, Objective)
    tool = convert_to_openai_tool(schema)
    assert tool["function"]["name"] == "Objective"
    suite = tool["function"]["parameters"]["properties"]["suite"]
    assert suite["default"] == "paper" and "paper" in suite["description"]
    assert schema().suite == "paper" and Objective().suite == "small"
