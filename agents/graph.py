"""The run as a LangGraph state machine: prepare → objective → planner → coder ⇄ tools → evaluate
→ critic → reviewer → finish, with a budget gate on every edge.

State is plain data (`agents.state.RunState`, checkpointed in SQLite after every step, thread =
run id); everything that is not data (the model caller, the sandbox backend, the run directory,
the tools) lives in the `agents.state.RunContext` the nodes close over. One module per role under
`agents.nodes`; this module only wires them. Each node makes at most one model call or one
evaluation per step, so a resumed run repeats nothing that had finished: the checkpoint after a
step holds its result, and an evaluation that finished but whose step was cut short is read
back from its ``result.json`` instead of being run again.

Budget gate: before any edge, a run whose tokens, dollars or wall time reached their limit goes
to ``finish``; an edge that would start a new candidate (into the planner or the coder's first
turn) also checks the iteration limit. The model caller refuses, before sending, a call whose
estimate would break the token or dollar limit (`agents.calls.BudgetExhausted`), which ends the
run the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents import nodes
from agents.budget import BudgetExhausted, Spend, exhausted
from agents.calls import ModelCallFailed
from agents.state import RunContext, RunState

NODES = ("prepare", "objective", "planner", "coder", "tools", "evaluate", "critic", "reviewer",
         "finish")
RECURSION_LIMIT = 10_000  # the budget ends a run, not LangGraph's step count


NodeFn = Callable[[RunState, RunContext], dict[str, Any]]


def instrument(name: str, fn: NodeFn, ctx: RunContext) -> Any:
    """Run ``fn`` with the caller's spend synced from state; record time and budget after it."""

    def node(state: RunState) -> dict[str, Any]:
        ctx.caller.spend = Spend(**state.get("spend", {}))
        before = ctx.caller.spend.model_copy()
        if ctx.pending_evaluations:  # the tools step is not instrumented: its probes land here
            ctx.count_evaluation(ctx.pending_evaluations)
            ctx.pending_evaluations = 0
        try:
            update = fn(state, ctx) or {}
        except BudgetExhausted as exc:
            ctx.event("error", state, role=name,
                      message=f"budget: the next call would break {exc.limit}; not made")
            update = {"stop_reason": exc.limit}
        except ModelCallFailed as exc:
            update = _model_failed(ctx, state, name, exc)
        spend = ctx.caller.spend.model_copy(update={"seconds": ctx.store.transcript.elapsed()})
        ctx.caller.spend = spend
        update["spend"] = spend.model_dump()
        if spend.model_dump(exclude={"seconds"}) != before.model_dump(exclude={"seconds"}):
            ctx.event("budget", role=name, spent=spend.model_dump(),
                      limits=ctx.budget.model_dump())
        return update

    node.__name__ = name
    return node


def _model_failed(ctx: RunContext, state: RunState, name: str,
                  exc: ModelCallFailed) -> dict[str, Any]:
    """A model call that failed for good: a failed iteration, or the end of the run when trying
    again would not help (a dead or failing endpoint, a bad key, a bad request)."""
    message = str(exc)
    ctx.event("error", state, role=name, message=message)
    if exc.ends_run:
        return {"stop_reason": f"error: {exc.reason}"[:300]}
    ctx.caller.spend = ctx.caller.spend.model_copy(
        update={"iterations": ctx.caller.spend.iterations + 1})
    return {"verdict": {"accept": False, "reasons": [message], "hint": ""}, "pending": None,
            "messages": [], "reasks": 2}


def gate(ctx: RunContext, state: RunState, target: str, *, new_round: bool = False) -> str:
    """``target``, or ``finish`` when the run must stop before going there."""
    if state.get("stop_reason"):
        return "finish"
    if ctx.cancel is not None and ctx.cancel.is_set():
        return "finish"
    if exhausted(ctx.budget, Spend(**state.get("spend", {})), iterations=new_round):
        return "finish"
    return target


def build_graph(ctx: RunContext, checkpointer: Any = None) -> Any:
    """The compiled graph for one run."""
    from langgraph.prebuilt import ToolNode

    g = StateGraph(RunState)
    for name in ("prepare", "objective", "planner", "coder", "evaluate", "critic", "reviewer",
                 "finish"):
        g.add_node(name, instrument(name, getattr(nodes, name), ctx))
    if ctx.tools:
        g.add_node("tools", ToolNode(ctx.tools, handle_tool_errors=True,
                                     wrap_tool_call=nodes.tool_logger(ctx)))
        g.add_conditional_edges("tools", lambda s: gate(ctx, s, "coder"), ["coder", "finish"])
    g.add_edge(START, "prepare")
    g.add_conditional_edges("prepare", lambda s: gate(ctx, s, "objective", new_round=True),
                            ["objective", "finish"])
    g.add_conditional_edges("objective", lambda s: gate(ctx, s, nodes.after_objective(s),
                                                        new_round=True),
                            ["objective", "planner", "finish"])
    g.add_conditional_edges("planner", lambda s: gate(ctx, s, "coder", new_round=True),
                            ["coder", "finish"])
    coder_targets = ["coder", "evaluate", "planner", "finish"] + (["tools"] if ctx.tools else [])
    g.add_conditional_edges("coder", lambda s: gate(ctx, s, nodes.after_coder(s),
                                                    new_round=nodes.after_coder(s) == "planner"),
                            coder_targets)
    g.add_conditional_edges("evaluate", lambda s: gate(ctx, s, "critic"), ["critic", "finish"])
    g.add_conditional_edges("critic", lambda s: gate(ctx, s, nodes.after_critic(s),
                                                     new_round=nodes.after_critic(s) != "reviewer"),
                            ["reviewer", "planner", "finish"])
    g.add_conditional_edges("reviewer", lambda s: gate(ctx, s, nodes.after_reviewer(s),
                                                       new_round=True),
                            ["coder", "planner", "finish"])
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)


def elapsed_since(t0: float) -> float:
    """Seconds since ``t0`` (monotonic), rounded for transcripts."""
    return round(time.monotonic() - t0, 3)
