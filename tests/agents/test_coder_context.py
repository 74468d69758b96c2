"""The coder's context stays lean: drafts by reference, older tool results summarised, and a
stable prefix (system prompt and task first, unchanged between turns)."""

from __future__ import annotations

import json
from pathlib import Path

from agents.calls import message_text
from agents.nodes.coder import TOOL_SUMMARY_CHARS, lean_messages
from tests.agents.scripted import ACCEPT, APPROVE, GOOD, PLAN, answer, direction, run, tool_call
from tools.drafts import draft_id

EDITED = GOOD.replace("# --- knobs", "# --- the knobs")
FINAL = GOOD.replace("# --- knobs", "# --- the final knobs")


def copies(text: str, code: str) -> int:
    """How often ``code`` is in ``text``, as it is or JSON-escaped (in tool-call arguments)."""
    return text.count(code.strip()) + text.count(json.dumps(code.strip())[1:-1])


def test_the_sixth_coder_turn_holds_the_draft_once_within_4_kb_of_system_task_and_draft(
        tmp_path: Path) -> None:
    assert GOOD != EDITED != FINAL
    coder = [tool_call("validate_policy", {"code": GOOD}, "c1"),
             tool_call("run_simulation", {"draft": "current", "traces": ["seed1"]}, "c2"),
             tool_call("validate_policy", {"code": EDITED}, "c3"),
             tool_call("api_reference", {}, "c4"),
             tool_call("validate_policy", {"code": FINAL}, "c5"),
             answer(FINAL, "Final knobs.")]
    scripts = {"planner": [PLAN, direction(1)], "coder": coder, "critic": [ACCEPT],
               "reviewer": [APPROVE]}
    outcome, evs, models = run(tmp_path, scripts)
    assert outcome.accepted_candidate == 1
    calls = models["coder"].calls
    assert len(calls) == 6
    sixth = calls[5]
    text = "".join(message_text(m) for m in sixth)
    # The prefix is the same in every turn.
    for turn in calls[1:]:
        assert [message_text(m) for m in turn[:2]] == [message_text(m) for m in calls[0][:2]]
    system, task = (message_text(m) for m in sixth[:2])
    # The latest draft once, the older ones only by id.
    assert copies(text, FINAL) == 1
    assert copies(text, GOOD) == 0 and copies(text, EDITED) == 0
    assert f"<draft {draft_id(GOOD)}: sent earlier>" in text
    assert len(text) <= len(system) + len(task) + len(FINAL) + 4096
    # The run_simulation by reference ran the first draft, and the transcript keeps every
    # tool's full result.
    tools = [e for e in evs if e["type"] == "tool_call"]
    assert [t["tool"] for t in tools] == ["validate_policy", "run_simulation", "validate_policy",
                                          "api_reference", "validate_policy"]
    assert tools[1]["ok"] and f"(draft {draft_id(GOOD)})" in tools[1]["result"]
    assert (Path(outcome.run_dir) / "drafts" / f"{draft_id(FINAL)}.py").read_text() == FINAL
    long = [t for t in tools if len(t["result"]) > TOOL_SUMMARY_CHARS]
    assert long, "the API reference is long enough to be summarised"
    for t in long:
        assert t["result"] not in text  # summarised in the request, whole in the transcript
    assert json.loads((Path(outcome.run_dir) / "run.json").read_text())["best_candidate"] == 1


def test_lean_messages_keeps_the_latest_copy_and_the_latest_tool_results() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    long = "line\n" * 400
    msgs = [SystemMessage("sys"), HumanMessage("task"),
            AIMessage("", tool_calls=[{"name": "validate_policy", "args": {"code": GOOD},
                                       "id": "a"}]),
            ToolMessage(long, tool_call_id="a"),
            AIMessage("", tool_calls=[{"name": "run_simulation", "args": {"code": EDITED},
                                       "id": "b"}]),
            ToolMessage(long, tool_call_id="b")]
    lean = lean_messages(msgs)
    assert lean[:2] == msgs[:2]
    assert lean[2].tool_calls[0]["args"]["code"] == f"<draft {draft_id(GOOD)}: sent earlier>"
    assert lean[4].tool_calls[0]["args"]["code"] == EDITED
    assert len(str(lean[3].content)) < TOOL_SUMMARY_CHARS + 200
    assert "full result is in the run's transcript" in str(lean[3].content)
    assert lean[5].content == long  # the newest result is shown whole
    assert msgs[2].tool_calls[0]["args"]["code"] == GOOD  # the state itself is not changed
