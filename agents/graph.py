"""The run as a LangGraph state machine: prepare → objective → planner → coder ⇄ tools → evaluate
→ critic → reviewer → finish, with a budget gate on every edge. With a population
(``--population K``) the planner's round goes instead to K ``branch`` steps at once (each one
candidate's coder ⇄ tools → evaluate → critic, one step at a time) and a ``join`` that closes the
round (`agents.nodes.population`); an accepted round's candidate goes on to the reviewer.

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
from agents.budget import BudgetExhausted, Spend, exhausted, merge_spend
from agents.calls import ModelCallFailed
from agents.state import RunContext, RunState

NODES = ("prepare", "objective", "planner", "coder", "tools", "evaluate", "critic", "reviewer",
         "finish", "branch", "join")
RECURSION_LIMIT = 10_000  # the budget ends a run, not LangGraph's step count


NodeFn = Callable[[RunState, RunContext], dict[str, Any]]


def instrument(name: str, fn: NodeFn, ctx: RunContext) -> Any:
    """Run ``fn`` with the caller's spend synced from state; record time and budget after it."""

    def node(state: RunState) -> dict[str, Any]:
        with ctx.caller.tracking() as spent:
            probes = ctx.take_pending_evaluations()  # the tools step is not instrumented
            if probes:
                ctx.count_evaluation(probes)
            try:
                update = fn(state, ctx) or {}
            except BudgetExhausted as exc:
                ctx.event("error", state, role=name,
                          message=f"budget: the next call would break {exc.limit}; not made")
                update = {"stop_reason": exc.limit}
            except ModelCallFailed as exc:
                update = _model_failed(ctx, state, name, exc)
        ctx.caller.clock(ctx.store.transcript.elapsed())
        delta = spent[0].model_copy(update={"seconds": ctx.caller.spend.seconds})
        carried = ctx.take_carried_spend()
        if carried is not None:
            delta = delta.add(carried.model_copy(update={"seconds": 0.0}))
        update["spend"] = merge_spend(update.get("spend"), delta.model_dump())
        if delta.model_dump(exclude={"seconds"}) != Spend().model_dump(exclude={"seconds"}):
            ctx.event("budget", role=name, spent=ctx.caller.spend.model_dump(),
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
    ctx.count_iteration()
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


def _after_planner(ctx: RunContext, state: RunState) -> Any:
    """The coder, or with a population the round's candidates (one ``branch`` each)."""
    target = gate(ctx, state, "coder", new_round=True)
    if target == "coder" and ctx.config.population > 1:
        return nodes.branch_sends(state)
    return target


def build_graph(ctx: RunContext, checkpointer: Any = None) -> Any:
    """The compiled graph for one run."""
    from langgraph.prebuilt import ToolNode

    g = StateGraph(RunState)
    for name in ("prepare", "objective", "planner", "coder", "evaluate", "critic", "reviewer",
                 "finish", "branch", "join"):
        step = nodes.plan_round if name == "planner" and ctx.config.population > 1 \
            else getattr(nodes, name)  # a population's planner proposes the round's K
        g.add_node(name, instrument(name, step, ctx))
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
    g.add_conditional_edges("planner", lambda s: _after_planner(ctx, s),
                            ["coder", "branch", "finish"])
    g.add_edge("branch", "join")
    g.add_conditional_edges("join", lambda s: nodes.after_join(s, ctx, gate),
                            ["branch", "reviewer", "planner", "finish"])
    coder_targets = ["coder", "evaluate", "planner", "finish"] + (["tools"] if ctx.tools else [])
    g.add_conditional_edges("coder", lambda s: gate(ctx, s, nodes.after_coder(s),
                                                    new_round=nodes.after_coder(s) == "planner"),
                            coder_targets)
    g.add_conditional_edges("evaluate", lambda s: gate(ctx, s, "critic"), ["critic", "finish"])
    g.add_conditional_edges("critic", lambda s: gate(ctx, s, nodes.after_critic(s),
                                                     new_round=nodes.after_critic(s) != "reviewer"),
                            ["reviewer", "planner", "finish"])
    g.add_conditional_edges("reviewer", lambda s: gate(ctx, s, nodes.after_reviewer(
                                s, ctx.config.until), new_round=True),
                            ["coder", "planner", "finish"])
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)


def elapsed_since(t0: float) -> float:
    """Seconds since ``t0`` (monotonic), rounded for transcripts."""
    return round(time.monotonic() - t0, 3)
