"""The planner: the objective (asked once) and each round's direction."""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from agents import prompts
from agents.nodes.common import (
    baselines,
    candidate_records,
    objective_of,
    structured_answer,
    what_it_learns,
)
from agents.objective import Objective, has_deadlines, suite_objective
from agents.state import RunContext, RunState


def objective(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The run's `Objective`, once: from --objective, the default (heuristic), or the planner
    model. Its own step, so a resumed run never asks the model for it twice."""
    if state.get("objective") is not None:
        return {}
    planned = _plan_objective(state, ctx)
    if planned is None:  # malformed twice: a failed iteration, asked again (budget permitting)
        ctx.count_iteration()
        return {}
    chosen = Objective.model_validate(planned).on_suite(has_deadlines(ctx.config.suite))
    _write_objective(ctx, chosen)
    return {"objective": chosen.model_dump()}


def after_objective(state: RunState) -> str:
    return "planner" if state.get("objective") is not None else "objective"


def planner(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The next direction for the coder, from the archive and the last verdict (a population's
    round is planned by `agents.nodes.population.plan_round` instead)."""
    first = state.get("direction") is None
    direction = _direction(what_it_learns(state, ctx), ctx)
    ctx.event("plan", state, role="planner", objective=state["objective"] if first else None,
              direction=direction)
    reset = [RemoveMessage(id=REMOVE_ALL_MESSAGES)]
    return {"direction": direction, "directions": [*(state.get("directions") or []), direction],
            "messages": reset, "coder_turns": 0, "reasks": 0, "pending": None, "review": None}


def _plan_objective(state: RunState, ctx: RunContext) -> dict[str, Any] | None:
    suite = ctx.config.suite
    if ctx.config.objective is not None:
        return Objective.model_validate({**ctx.config.objective, "suite": suite}).model_dump()
    if ctx.heuristic:
        return suite_objective(suite).model_dump()
    from agents.objective import METRICS

    ask = (f"Goal: {state.get('goal') or 'the most completed pipelines, no class starved'}\n"
           f"Suite: {suite}. Metrics you may constrain: {', '.join(sorted(METRICS))}.\n"
           "Give the Objective.")
    out = structured_answer(ctx, state, "planner",
                            [SystemMessage(prompts.PLANNER_SYSTEM), HumanMessage(ask)],
                            objective_schema(suite))
    if out is None:
        return None
    data = out.model_dump()
    data["suite"] = suite  # the run's suite is the user's choice, never the model's
    data.pop("summary", None)
    return Objective.model_validate(data).model_dump()


def objective_schema(suite: str) -> type[Objective]:
    """`Objective` as the planner's tool shows it: ``suite`` defaults to the run's suite (the
    model never has to guess it, and a model's other value is overridden anyway)."""
    from pydantic import Field, create_model

    return create_model("Objective", __base__=Objective, __doc__=Objective.__doc__,
                        suite=(str, Field(default=suite,
                                          description=f"the run's suite: {suite} (fixed)")))


def _write_objective(ctx: RunContext, objective: Objective) -> None:
    from agents.baselines import scored_baselines
    from agents.judge import strongest_baseline
    from tools.metrics import bound_score

    search = baselines(ctx, "search")
    scored = scored_baselines(objective, search)
    name, score = strongest_baseline(objective, scored)
    per = {c: objective.case_value(s) for c, s in scored.get(name, {}).items()}
    ctx.store.update_run(objective=objective.model_dump(),
                         baseline={"policy": name, "score": score, "per_trace": per},
                         bound=bound_score(objective, search["bounds"]))


def _direction(state: RunState, ctx: RunContext) -> str:
    records = candidate_records(state)
    verdict = state.get("verdict") or {}
    if ctx.heuristic:
        if not records:
            return "Start from the default composition of known heuristics."
        return f"Tune from the best so far; last verdict: {verdict.get('hint') or '-'}"
    given = list(state.get("directions") or [])
    earlier = ("Directions given so far (do not repeat one: say what to do differently now):\n"
               + "\n".join(f"- {d[:300]}" for d in given[-3:]) if given else "")
    ask = "\n".join(part for part in (
        *situation(state, ctx, records, json.dumps(verdict)[:1500] if verdict else "none yet"),
        earlier,
        "Give the coder the next direction in a few sentences.") if part)
    messages = [SystemMessage(prompts.PLANNER_SYSTEM), HumanMessage(ask)]
    direction = str(ctx.caller.invoke("planner", messages).content).strip()
    if direction and _stale(direction, given):
        ctx.event("error", state, role="planner", message="stale direction: a repeat; asked again")
        again = HumanMessage("That direction was already given and led to the verdict above. "
                             "Give a different, concrete direction that answers the verdict.")
        direction = str(ctx.caller.invoke("planner", [*messages, AIMessage(direction), again])
                        .content).strip()
        if _stale(direction, given):
            hint = verdict.get("hint") or "change what the last verdict names"
            direction = (f"The previous direction did not work; follow the critic's hint "
                         f"instead: {hint}")
    return direction or "Improve on the best candidate."


def situation(state: RunState, ctx: RunContext, records: list[dict[str, Any]],
              verdict: str) -> list[str]:
    """What every question to the planner starts with: the objective, the best baseline and the
    bound, the search suite's workload, the archive and the last verdict."""
    objective = objective_of(state)
    run = ctx.store.read_run()
    return [f"Objective: {objective.summary}",
            (f"Best baseline: {run.get('baseline', {}).get('policy')} with median "
             f"{run.get('baseline', {}).get('score')}; bound {run.get('bound', {}).get('score')}."),
            f"Workload profile (search suite):\n{workload_text(ctx, objective)}",
            f"Archive:\n{prompts.archive_text(records)}",
            f"Last verdict: {verdict}"]


def _stale(direction: str, given: list[str]) -> bool:
    """Whether ``direction`` repeats one already given (same words, ignoring case and spacing)."""
    def words(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", text.lower()))

    return words(direction) in {words(d) for d in given}


def workload_text(ctx: RunContext, objective: Objective) -> str:
    """The search suite's workload profile (``profile_workload``, its best baseline by
    ``objective``), built once per run."""
    if ctx.workload_text is None:
        from tools.context import ToolContext
        from tools.profile_workload import profile_suite

        ctx.workload_text = profile_suite(ToolContext(
            suite=ctx.config.suite, backend=ctx.backend, limits=ctx.limits, objective=objective,
            run_dir=ctx.store.path))
    return ctx.workload_text
