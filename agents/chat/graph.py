"""The chat session as a LangGraph graph: the assistant talks with the person, proposes a run
(objective + budget), waits for approval (``interrupt()``), runs it, and answers questions with
the tools over the run's data.

    START → assistant ─┬─ propose_run ──► approve ── interrupt() ─┬─ yes ──► run ──► assistant
                       ├─ other tools ──► tools ──► assistant     └─ no / changes ─► assistant
                       └─ plain answer ──► END (the person's turn)

Sessions are checkpointed in SQLite (thread = session id), so ``chat --resume`` continues with
the whole conversation, the last run and any pending approval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from agents.objective import Objective

CHAT_SYSTEM = """\
You are policyforge's planner, talking with a platform engineer about how their \
Function-as-a-Service runtime should schedule work (pipelines of operators on pools of CPU and \
RAM; priorities QUERY > INTERACTIVE > BATCH_PIPELINE). Ask what matters to them (metrics, \
constraints such as a query p99 latency, fairness to batch work, the workload) until you can \
propose a run: call propose_run with the goal, an Objective and a budget. Nothing runs until \
the person approves it. During and after a run, answer questions from its data with the tools \
(list_candidates, get_candidate, compare_policies, profile_run, run_status), quoting numbers. \
If they want another attempt with a changed goal (e.g. "never preempt queries"), propose a new \
run. If they name a level to reach (a score, or a share of the best possible), set the \
Objective's target or target_bound_fraction; if a policy must hold on every case (several \
cluster sizes, the worst day), set its aggregate (mean, geomean or worst instead of the median); \
fairness between classes is a constraint such as class_p99_spread <= 3 or \
min_class_completion_rate >= 0.5 (every class) or batch_completion_rate >= 0.5; if every failed \
or unfinished pipeline should cost something, set unfinished_penalty; if they want the best \
policy the budget buys rather than the first good one, set until to "budget". Be brief."""


class RunProposal(BaseModel):
    """A run to start once the person approves it."""

    goal: str = Field(description="the person's goal in one or two sentences")
    objective: Objective
    max_iterations: int = Field(default=10, ge=1, le=200)
    max_usd: float | None = Field(default=None, gt=0)
    max_minutes: float | None = Field(default=None, gt=0)
    until: Literal["accepted", "budget"] = Field(
        default="accepted",
        description="accepted: stop at the first accepted policy; budget: search on until the "
                    "budget is spent, the accepted policy being the floor a later one must beat")


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    summary: str | None  # the model's summary of the first ``summarised`` messages
    summarised: int
    run_id: str | None
    runs: list[str]
    proposal: dict[str, Any] | None


@dataclass
class ChatContext:
    """The session's non-data side: the model caller, data tools and how to start a run."""

    caller: Any  # agents.calls.ModelCaller (role "planner")
    data_tools: list[Any]
    # Starts (or, after a crash, resumes) the run with this id in the background; returns a
    # summary of it as it stands (the conversation goes on while it works).
    start_run: Callable[[RunProposal, str], dict[str, Any]]
    set_run: Callable[[str | None], None]  # points the data tools at a run
    run_status: Callable[[], str]
    extra: dict[str, Any] = field(default_factory=dict)


def _propose_tool() -> StructuredTool:
    def propose_run(**kwargs: Any) -> str:  # never executed: the approve node handles it
        return "proposed"

    return StructuredTool.from_function(
        propose_run, name="propose_run", args_schema=RunProposal,
        description="Propose a run (goal, objective, budget) for the person to approve.")


def build_chat_graph(ctx: ChatContext, checkpointer: Any) -> Any:
    """The compiled chat graph."""
    from langgraph.prebuilt import ToolNode

    status_tool = StructuredTool.from_function(
        lambda: ctx.run_status(), name="run_status",
        description="The current run's status, best candidate, scores vs baseline and bound, "
                    "and spend.")
    tools = [*ctx.data_tools, status_tool]
    all_tools = [_propose_tool(), *tools]

    def assistant(state: ChatState) -> dict[str, Any]:
        ctx.set_run(state.get("run_id"))
        update = summarise(ctx.caller, "planner", state)
        history = window(state.get("messages", []), summary=update.get("summary",
                                                                     state.get("summary")),
                         skip=update.get("summarised", state.get("summarised", 0)))
        messages = [SystemMessage(CHAT_SYSTEM), *history]
        answer = ctx.caller.invoke("planner", messages, tools=all_tools)
        return {**update, "messages": [answer]}

    def route(state: ChatState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            names = {c["name"] for c in last.tool_calls}
            return "approve" if "propose_run" in names else "tools"
        return END

    def approve(state: ChatState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        replies: list[ToolMessage] = []
        proposal: dict[str, Any] | None = None
        for call in last.tool_calls:
            if call["name"] != "propose_run":
                replies.append(ToolMessage("not run: answer the proposal first",
                                           tool_call_id=call["id"]))
                continue
            try:
                parsed = RunProposal.model_validate(call["args"])
            except ValueError as exc:
                replies.append(ToolMessage(f"error: the proposal is invalid: {exc}"[:800],
                                           tool_call_id=call["id"], status="error"))
                continue
            decision = interrupt({"proposal": parsed.model_dump(mode="json")})
            if _approved(decision):
                from agents.run_store import new_run_id

                proposal = {**parsed.model_dump(mode="json"), "run_id": new_run_id()}
                replies.append(ToolMessage("approved: the run is starting",
                                           tool_call_id=call["id"]))
            else:
                replies.append(ToolMessage(f"declined by the person: {decision}",
                                           tool_call_id=call["id"]))
        return {"messages": replies, "proposal": proposal}

    def run(state: ChatState) -> dict[str, Any]:
        data = dict(state["proposal"] or {})
        run_id = data.pop("run_id")
        summary = ctx.start_run(RunProposal.model_validate(data), run_id)
        ctx.set_run(run_id)
        note = HumanMessage(f"[policyforge] run {run_id} started in the background: "
                            f"{json.dumps(summary)}. Tell the person; they can ask about it while "
                            "it works (run_status shows its progress).")
        return {"run_id": summary["run_id"], "runs": [*state.get("runs", []),
                                                      summary["run_id"]],
                "proposal": None, "messages": [note]}

    g = StateGraph(ChatState)
    g.add_node("assistant", assistant)
    g.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    g.add_node("approve", approve)
    g.add_node("run", run)
    g.add_edge(START, "assistant")
    g.add_conditional_edges("assistant", route, ["approve", "tools", END])
    g.add_edge("tools", "assistant")
    g.add_conditional_edges("approve", lambda s: "run" if s.get("proposal") else "assistant",
                            ["run", "assistant"])
    g.add_edge("run", "assistant")
    return g.compile(checkpointer=checkpointer)


WINDOW = 40  # messages of the conversation the model sees (the session keeps them all)
SUMMARY_SYSTEM = """\
Summarise this part of a conversation between a platform engineer and policyforge's planner \
for the planner's own later use: the person's goals, constraints and preferences, what was \
proposed, approved or declined, the runs started (their ids) and the numbers quoted. Plain \
sentences, at most 200 words."""


def _start_at_turn(messages: list[AnyMessage], start: int) -> int:
    """``start`` moved forward to one of the person's turns (the whole tail if there is none)."""
    while start < len(messages) and messages[start].type != "human":
        start += 1
    if start == len(messages):  # one long tool exchange: keep it whole
        start = max((i for i, m in enumerate(messages) if m.type == "human"), default=0)
    return start


def window(messages: list[AnyMessage], size: int = WINDOW, *, summary: str | None = None,
           skip: int = 0) -> list[AnyMessage]:
    """The last ``size`` messages, starting at one of the person's turns so that no tool answer
    is separated from the call it answers; a note says when earlier ones were left out. With a
    ``summary`` of the first ``skip`` messages, those are shown as it and never sent again."""
    start = max(skip, len(messages) - size) if len(messages) > size or skip else 0
    start = _start_at_turn(messages, start) if start else 0
    if start == 0:
        return list(messages)
    if summary and start == skip:
        note = HumanMessage(f"[policyforge] summary of the {skip} earlier messages of this "
                            f"session: {summary}")
    elif summary:
        note = HumanMessage(f"[policyforge] summary of the first {skip} messages of this "
                            f"session: {summary} ({start - skip} later ones are not shown; use "
                            "the tools for the runs' data.)")
    else:
        note = HumanMessage(f"[policyforge] {start} earlier messages of this session are not "
                            "shown; use the tools for the runs' data.")
    return [note, *messages[start:]]


def summarise(caller: Any, role: str, state: ChatState) -> dict[str, Any]:
    """When the conversation not yet summarised is longer than the role's ``context_chars``,
    a model call summarises all but its latest person turn (with the previous summary); the
    call is priced and counted like any other. Returns the state update ({} when not needed)."""
    from agents.calls import message_text

    messages = state.get("messages", [])
    done = state.get("summarised", 0)
    limit = caller.configs[role].context_chars
    if sum(len(message_text(m)) for m in messages[done:]) <= limit:
        return {}
    last_turn = max((i for i, m in enumerate(messages) if m.type == "human"), default=0)
    upto = _start_at_turn(messages, last_turn)
    if upto <= done:
        return {}
    earlier = state.get("summary")
    text = "\n".join(f"{m.type}: {message_text(m)[:4000]}" for m in messages[done:upto])
    ask = (f"Summary so far: {earlier}\n\n" if earlier else "") + f"Conversation:\n{text}"
    answer = caller.invoke(role, [SystemMessage(SUMMARY_SYSTEM), HumanMessage(ask)])
    return {"summary": str(answer.content).strip(), "summarised": upto}


def _approved(decision: Any) -> bool:
    return str(decision).strip().lower() in ("y", "yes", "approve", "approved", "ok", "go")
