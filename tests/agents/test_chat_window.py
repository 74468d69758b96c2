"""The chat model sees a bounded window of the conversation, cut at one of the person's turns."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agents.chat.graph import window


def conversation(turns: int) -> list:
    out = []
    for i in range(turns):
        out += [HumanMessage(f"q{i}"),
                AIMessage("", tool_calls=[{"name": "run_status", "args": {}, "id": f"c{i}"}]),
                ToolMessage(f"status {i}", tool_call_id=f"c{i}"), AIMessage(f"a{i}")]
    return out


def test_a_short_conversation_is_sent_whole():
    messages = conversation(3)
    assert window(messages, size=40) == messages


def test_a_long_one_starts_at_a_person_turn_and_says_what_was_left_out():
    messages = conversation(30)  # 120 messages
    shown = window(messages, size=10)
    assert shown[0].content.startswith("[policyforge] 112 earlier messages")
    assert shown[1].type == "human" and shown[1].content == "q28"
    assert shown[1:] == messages[112:]
    # No tool answer without its call.
    calls = {c["id"] for m in shown if m.type == "ai" for c in m.tool_calls}
    assert all(m.tool_call_id in calls for m in shown if m.type == "tool")
