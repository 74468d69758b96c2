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


def _caller(script: list, context_chars: int):
    from agents.budget import BudgetLimits, Spend
    from agents.calls import ModelCaller
    from agents.models import RoleModelConfig
    from agents.pricing import PriceTable
    from agents.scripted import ScriptedChatModel

    model = ScriptedChatModel(script, label="planner")
    cfg = RoleModelConfig(model="scripted", context_chars=context_chars)
    events: list = []
    caller = ModelCaller({"planner": model}, {"planner": cfg}, PriceTable.load(None),
                         BudgetLimits(), Spend(), events.append, max_attempts=1)
    return caller, model


def test_past_the_roles_context_size_earlier_turns_are_summarised_and_counted():
    from agents.chat.graph import summarise

    messages = conversation(30)
    caller, model = _caller(["The person wants fewer starved batch pipelines."], 200)
    update = summarise(caller, "planner", {"messages": messages})
    assert update["summary"] == "The person wants fewer starved batch pipelines."
    assert update["summarised"] == 116 and messages[116].content == "q29"
    assert caller.spend.model_calls == 1 and caller.spend.tokens > 0  # in the budget
    asked = str(model.calls[0][-1].content)
    assert "human: q0" in asked and "q29" not in asked
    shown = window(messages, summary=update["summary"], skip=update["summarised"])
    assert shown[0].content.startswith("[policyforge] summary of the 116 earlier messages")
    assert "fewer starved batch" in shown[0].content and shown[1:] == messages[116:]
    # Under the limit (or nothing new to summarise): no call.
    caller2, model2 = _caller([], 10_000)
    assert summarise(caller2, "planner", {"messages": messages}) == {}
    assert summarise(caller, "planner", {"messages": messages, **update}) == {}
    assert caller2.spend.model_calls == 0 and model.remaining == 0


def test_a_later_summary_starts_from_the_earlier_one():
    from agents.chat.graph import summarise

    messages = conversation(30)
    caller, model = _caller(["second summary"], 100)
    update = summarise(caller, "planner", {"messages": messages, "summary": "first summary",
                                           "summarised": 40})
    assert update == {"summary": "second summary", "summarised": 116}
    asked = str(model.calls[0][-1].content)
    assert asked.startswith("Summary so far: first summary") and "human: q9\n" not in asked
    assert "human: q10" in asked
