"""The run as a LangGraph state machine: prepare → objective → planner → coder ⇄ tools → evaluate
→ critic → reviewer → finish, with a budget gate on every edge.

State is plain data (checkpointed in SQLite after every step, thread = run id); everything that
is not data (the model caller, the sandbox backend, the run directory, the tools) lives in the
`RunContext` the nodes close over. Each node makes at most one model call or one evaluation per
step, so a resumed run repeats nothing that had finished: the checkpoint after a step holds its
result, and an evaluation that finished but whose step was cut short is read back from its
``result.json`` instead of being run again.

Budget gate: before any edge, a run whose tokens, dollars or wall time reached their limit goes
to ``finish``; an edge that would start a new candidate (into the planner or the coder's first
turn) also checks the iteration limit. The model caller refuses, before sending, a call whose
estimate would break the token or dollar limit (`agents.calls.BudgetExhausted`), which ends the
run the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from agents.budget import BudgetExhausted, BudgetLimits, Spend
from agents.calls import ModelCallFailed
from agents.run_store import RunStore

NODES = ("prepare", "objective", "planner", "coder", "tools", "evaluate", "critic", "reviewer",
         "finish")
RECURSION_LIMIT = 10_000  # the budget ends a run, not LangGraph's step count


def merge_records(old: dict[str, dict[str, Any]] | None,
                  new: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Candidate records by number; an update merges into the record it names."""
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = {**out.get(key, {}), **value}
    return out


class RunState(TypedDict, total=False):
    """What the graph carries between steps (and what a checkpoint holds)."""

    goal: str
    objective: dict[str, Any] | None
    direction: str
    messages: Annotated[list[AnyMessage], add_messages]  # the coder's current conversation
    coder_turns: int
    reasks: int
    pending: dict[str, Any] | None  # the coder's submitted policy, before evaluation
    candidates: Annotated[dict[str, dict[str, Any]], merge_records]
    last: int | None
    verdict: dict[str, Any] | None
    review: dict[str, Any] | None
    review_rounds: int
    spend: dict[str, Any]
    stop_reason: str | None
    accepted: int | None
    best: int | None
    error: str | None


@dataclass
class RunContext:
    """The non-data side of a run: configuration, caller, sandbox, run folder, tools."""

    config: Any  # agents.runner.RunConfig
    store: RunStore
    caller: Any  # agents.calls.ModelCaller
    backend: Any  # sandbox.backend.Backend
    limits: Any  # sandbox.backend.Limits
    proposer: Any = None  # HeuristicProposer with --model heuristic
    cancel: Any = None  # a threading.Event: set, the run stops at the next edge (chat's /stop)
    tools: list[Any] = field(default_factory=list)
    baselines: dict[str, Any] = field(default_factory=dict)

    @property
    def heuristic(self) -> bool:
        return self.proposer is not None

    @property
    def budget(self) -> BudgetLimits:
        return self.config.budget

    def event(self, event_type: str, state: RunState | None = None, **fields: Any) -> None:
        """Append a transcript event stamped with the current iteration."""
        iteration = Spend(**(state or {}).get("spend", {})).iterations if state else None
        if iteration is None:
            iteration = self.caller.spend.iterations
        self.store.transcript.write(event_type, iteration=iteration, **fields)


def limit_reached(limits: BudgetLimits, spend: Spend, *, iterations: bool) -> str | None:
    """Which limit ``spend`` has reached (iterations only when asked), or None."""
    if limits.max_tokens is not None and spend.tokens >= limits.max_tokens:
        return "max_tokens"
    if limits.max_usd is not None and spend.usd >= limits.max_usd:
        return "max_usd"
    if limits.max_minutes is not None and spend.seconds >= limits.max_minutes * 60:
        return "max_minutes"
    if iterations and limits.max_iterations is not None \
            and spend.iterations >= limits.max_iterations:
        return "max_iterations"
    return None


NodeFn = Callable[[RunState, RunContext], dict[str, Any]]


def instrument(name: str, fn: NodeFn, ctx: RunContext) -> Any:
    """Run ``fn`` with the caller's spend synced from state; record time and budget after it."""

    def node(state: RunState) -> dict[str, Any]:
        ctx.caller.spend = Spend(**state.get("spend", {}))
        before = ctx.caller.spend.model_copy()
        try:
            update = fn(state, ctx) or {}
        except BudgetExhausted as exc:
            ctx.event("error", state, role=name,
                      message=f"budget: the next call would break {exc.kind}; not made")
            update = {"stop_reason": exc.kind}
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
    if limit_reached(ctx.budget, Spend(**state.get("spend", {})), iterations=new_round):
        return "finish"
    return target


def build_graph(ctx: RunContext, checkpointer: Any = None) -> Any:
    """The compiled graph for one run."""
    from langgraph.prebuilt import ToolNode

    from agents import nodes

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
