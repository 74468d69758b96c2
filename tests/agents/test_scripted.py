"""The scripted chat model: answers in order, tool calls, structured output, usage, records."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from agents.scripted import (
    ScriptedChatModel,
    ScriptExhausted,
    scripted_configs,
    scripted_models,
    structured_response,
)


class Plan(BaseModel):
    """The planner's next direction."""

    direction: str
    steps: list[str]


@tool
def validate_policy(path: str) -> str:
    """Check a policy file."""
    return "ok"


def ask(model: ScriptedChatModel, text: str = "go") -> AIMessage:
    answer = model.invoke([HumanMessage(text)])
    assert isinstance(answer, AIMessage)
    return answer


def test_every_kind_of_entry_is_answered_in_order() -> None:
    def echo(messages: list[BaseMessage]) -> str:
        return f"you said {messages[-1].content}"

    model = ScriptedChatModel([
        "plain",
        AIMessage(content="message"),
        {"content": "calling", "tool_calls": [{"name": "validate_policy", "args": {"path": "p"},
                                               "id": "c1"}]},
        echo,
    ])
    assert ask(model).content == "plain"
    assert ask(model).content == "message"
    called = ask(model)
    assert called.content == "calling"
    assert [(c["name"], c["args"], c["id"]) for c in called.tool_calls] == \
        [("validate_policy", {"path": "p"}, "c1")]
    assert ask(model, "hello").content == "you said hello"
    assert model.remaining == 0


def test_exception_entry_is_raised() -> None:
    model = ScriptedChatModel([TimeoutError("scripted timeout"), "after"])
    with pytest.raises(TimeoutError, match="scripted timeout"):
        ask(model)
    assert ask(model).content == "after"


def test_every_answer_carries_usage_given_or_estimated() -> None:
    given = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    model = ScriptedChatModel([AIMessage(content="x", usage_metadata=given), "y" * 40])
    assert ask(model).usage_metadata == given
    usage = ask(model, "z" * 400).usage_metadata
    assert usage is not None and usage["output_tokens"] == 10 and usage["input_tokens"] >= 100


def test_answers_are_deterministic() -> None:
    def run() -> list[AIMessage]:
        model = ScriptedChatModel(["a", {"tool_calls": [{"name": "t", "args": {}}]}], label="r")
        return [ask(model), ask(model)]

    first, second = run(), run()
    assert [(m.content, m.tool_calls, m.usage_metadata) for m in first] == \
        [(m.content, m.tool_calls, m.usage_metadata) for m in second]
    assert first[1].tool_calls[0]["id"] == "call_1_0"
    # Message ids differ between runs: a resumed conversation appends, never replaces.
    assert {m.id for m in first}.isdisjoint({m.id for m in second})


def test_calls_record_every_input_and_the_bound_tools() -> None:
    model = ScriptedChatModel(["one", "two"])
    bound = model.bind_tools([validate_policy])
    assert isinstance(bound, ScriptedChatModel) and bound.bound_tool_names == ["validate_policy"]
    assert ask(bound, "first").content == "one"
    assert ask(model, "second").content == "two"  # the copy shares the script cursor
    assert [[m.content for m in call] for call in model.calls] == [["first"], ["second"]]
    assert bound.calls is model.calls
    assert model.call_tool_names == [["validate_policy"], []]


def test_structured_output_reads_the_tool_call_named_after_the_schema() -> None:
    plan = Plan(direction="shortest job first", steps=["sort", "assign"])
    model = ScriptedChatModel([structured_response(plan)])
    result = model.with_structured_output(Plan, method="function_calling").invoke("plan")
    assert result == plan
    assert model.call_tool_names == [["Plan"]]


def test_exhausted_script_says_which_model_and_which_call() -> None:
    model = ScriptedChatModel(["only"], label="critic")
    ask(model)
    with pytest.raises(ScriptExhausted, match=r"'critic' has no answer left.*1 answers.*call 2"):
        ask(model, "again?")


def test_unknown_entry_shapes_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        ask(ScriptedChatModel([{"text": "typo"}]))
    with pytest.raises(TypeError, match="cannot answer with int"):
        ask(ScriptedChatModel([42]))  # type: ignore[list-item]


def test_scripted_models_gives_one_labelled_model_per_role() -> None:
    models = scripted_models({"planner": ["p"], "coder": ["c"]})
    assert {r: m.label for r, m in models.items()} == {"planner": "planner", "coder": "coder"}
    assert ask(models["coder"]).content == "c"
    assert set(scripted_configs(models)) == {"planner", "coder"}
