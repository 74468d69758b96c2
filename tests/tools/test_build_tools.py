"""``build_tools`` and ``ToolContext``: the contract the agents' graph imports."""

from __future__ import annotations

import pytest
from langchain_core.tools import BaseTool
from pydantic import BaseModel

from agents.objective import Objective
from sandbox.backend import default_limits
from tools import TOOL_NAMES, build_tools
from tools.context import ToolContext
from tools.text import LIMIT, cap, num, pct

EXPECTED = {"validate_policy", "run_simulation", "profile_run", "read_trace", "profile_workload",
            "compare_policies", "list_candidates", "get_candidate", "api_reference", "run_probe"}


def _ctx(**kwargs: object) -> ToolContext:
    kwargs.setdefault("objective", Objective(suite="small"))
    return ToolContext("small", backend=None, limits=default_limits(), **kwargs)  # type: ignore[arg-type]


def test_build_tools_gives_every_named_tool_with_a_pydantic_schema_and_a_description() -> None:
    tools = build_tools(_ctx())
    assert set(TOOL_NAMES) == EXPECTED
    assert [t.name for t in tools] == list(TOOL_NAMES)
    for tool in tools:
        assert isinstance(tool, BaseTool)
        assert isinstance(tool.args_schema, type) and issubclass(tool.args_schema, BaseModel)
        assert len(tool.description) > 80
        for field in tool.args_schema.model_fields.values():
            assert field.description, (tool.name, field)


def test_build_tools_gives_only_the_named_tools_once_each_and_rejects_unknown_names() -> None:
    tools = build_tools(_ctx(), ["read_trace", "validate_policy", "read_trace"])
    assert [t.name for t in tools] == ["read_trace", "validate_policy"]
    with pytest.raises(ValueError, match="unknown tool"):
        build_tools(_ctx(), ["read_trace", "rm_rf"])


class _Happiness:
    metric = "happiness"


def test_tool_context_takes_its_metric_from_the_objective_and_rejects_an_unknown_one() -> None:
    assert _ctx().metric == "completed_pipelines"
    assert _ctx(objective=Objective(metric="adjusted_latency")).metric == "adjusted_latency"
    assert _ctx().baselines == ("naive", "priority", "priority_pool")
    with pytest.raises(ValueError, match="unknown metric"):
        _ctx(objective=_Happiness())


def test_numbers_are_rounded_for_reading() -> None:
    assert [num(3), num(2.0), num(1234.5678), num(12.345), num(0.012345), num(None)] == \
        ["3", "2", "1,235", "12.3", "0.0123", "-"]
    assert [num(float("nan")), num(float("inf")), pct(0.537), pct(None)] == \
        ["nan", "inf", "54%", "-"]


def test_cap_cuts_long_text_at_a_line_and_says_so() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    capped = cap(text)
    assert len(capped) <= LIMIT
    assert capped.endswith("more characters)")
    assert cap("short") == "short"
    assert len(cap("y" * 10_000)) <= LIMIT


def test_tools_answer_tool_calls_through_langgraph_tool_node(ctx: ToolContext) -> None:
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(build_tools(ctx), handle_tool_errors=True))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    calls = [
        {"name": "compare_policies", "args": {"a": "priority", "b": 1}, "id": "c1"},
        {"name": "read_trace", "args": {"trace": "seed901"}, "id": "c2"},
        {"name": "list_candidates", "args": {}, "id": "c3"},
    ]
    out = graph.compile().invoke({"messages": [AIMessage(content="", tool_calls=calls)]})
    by_id = {m.tool_call_id: m.content for m in out["messages"][1:]}
    assert by_id["c1"].startswith("priority vs candidate 1 on 3 search trace(s)")
    assert by_id["c2"].startswith("error: trace 'seed901' is not in the search suite")
    assert by_id["c3"].startswith("3 candidate(s), best first")
