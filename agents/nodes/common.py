"""What every role's node shares: the structured-answer helper with its one re-ask, the run's
candidate records in order, and the limits on coder turns and review rounds."""

from __future__ import annotations

from typing import Any, TypeVar

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agents.objective import Objective
from agents.state import RunContext, RunState

MAX_CODER_TURNS = 8  # model turns per candidate (tool rounds included) before it must submit
MAX_REVIEW_ROUNDS = 2
Answer = TypeVar("Answer", bound=BaseModel)


def objective_of(state: RunState) -> Objective:
    return Objective.model_validate(state["objective"])


def what_it_learns(state: RunState, ctx: RunContext) -> RunState:
    """The state a planner or coder writes from: all of it, or with ``--strategy best-of-n`` the
    goal and objective only (no archive, best candidate, verdict or earlier directions), so
    every candidate is sampled independently of what the earlier ones scored."""
    if ctx.config.strategy != "best-of-n":
        return state
    # (the reviewer's requested changes stay: they are about the candidate being written)
    return {**state, "candidates": {}, "best": None, "verdict": None,  # type: ignore[typeddict-item]
            "directions": []}


def candidate_records(state: RunState) -> list[dict[str, Any]]:
    recs = state.get("candidates") or {}
    return [recs[k] for k in sorted(recs, key=int)]


def log_malformed(ctx: RunContext, state: RunState, role: str, problem: str) -> None:
    ctx.event("error", state, role=role, message=f"malformed output: {problem}")


def structured_answer(ctx: RunContext, state: RunState, role: str, messages: list[Any],
                schema: type[Answer]) -> Answer | None:
    """A structured answer, with one re-ask carrying the error; None if both are malformed."""
    from agents.calls import MalformedOutput

    for attempt in (1, 2):
        try:
            out = ctx.caller.invoke(role, messages, schema=schema)
            if isinstance(out, schema):
                return out
            problem = f"expected a {schema.__name__}, got {type(out).__name__}"
        except MalformedOutput as exc:
            problem = str(exc)[:500]
        log_malformed(ctx, state, role, problem)
        if attempt == 1:
            messages = [*messages, HumanMessage(
                f"Your answer could not be used: {problem}. Answer again with a valid "
                f"{schema.__name__} (call the {schema.__name__} tool with every field).")]
    return None


def baselines(ctx: RunContext, part: str) -> dict[str, Any]:
    """The baselines of a suite part, computed once per run and kept in baselines.json."""
    from agents.baselines import builtin_baselines

    if not ctx.baselines:
        ctx.baselines = ctx.store.read_baselines() or {}
    if part not in ctx.baselines:
        ctx.baselines[part] = builtin_baselines(ctx.config.suite, part)
        ctx.store.write_baselines(ctx.baselines)
    return ctx.baselines[part]

