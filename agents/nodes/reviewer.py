"""The reviewer: reads the accepted policy as a maintainer would and runs the robustness probe."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from pydantic import BaseModel, Field

from agents import prompts
from agents.nodes.common import MAX_REVIEW_ROUNDS, objective_of, structured_answer
from agents.nodes.evaluate import source_sha
from agents.state import RunContext, RunState


class ReviewVerdict(BaseModel):
    """The reviewer model's structured verdict."""

    approve: bool
    comments: list[str] = Field(default_factory=list)
    requested_changes: list[str] = Field(default_factory=list)



def reviewer(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """A maintainer's read of the accepted policy: approve, or send it back with changes."""
    from sandbox.static_checks import check_policy_source

    n = state["last"]
    assert n is not None
    objective = objective_of(state)
    source = ctx.store.read_policy(n)
    findings = check_policy_source(source, "policy.py").findings
    oracle = [f.format("policy.py") for f in findings
              if f.rule == "oracle-info" and not objective.allow_true_sizes]
    fragile = [f"not robust: {p}" for p in _robustness(ctx, n, source)]
    approve, comments, changes = not oracle and not fragile, [], oracle + fragile
    if not ctx.heuristic:
        ask = (f"Objective: {objective.summary}\nStatic-check warnings: "
               f"{'; '.join(f.format('policy.py') for f in findings) or 'none'}\n"
               f"Robustness probe (OOM storm, tiny pools, multi-operator containers): "
               f"{'; '.join(fragile) or 'ran every case cleanly'}\n"
               f"The accepted policy:\n{prompts.fence(source)}")
        verdict = structured_answer(ctx, state, "reviewer", [SystemMessage(prompts.REVIEWER_SYSTEM),
                                                       HumanMessage(ask)], ReviewVerdict)
        if verdict is not None:
            approve = approve and verdict.approve
            comments = list(verdict.comments)
            changes += list(verdict.requested_changes)
    rounds = state.get("review_rounds", 0) + (0 if approve else 1)
    review = {"candidate": n, "approve": approve, "comments": comments,
              "requested_changes": changes}
    ctx.event("review", state, role="reviewer", candidate=n, approve=approve,
              comments=comments + changes)
    update: dict[str, Any] = {"review": review, "review_rounds": rounds}
    if approve:
        update["accepted"] = n
    else:
        update["candidates"] = {str(n): {"accepted": False,
                                         "verdict_line": prompts.shorten(
                                             "reviewer: " + "; ".join(changes), 300)}}
        update["messages"] = [RemoveMessage(id=REMOVE_ALL_MESSAGES)]
        update.update(coder_turns=0, reasks=0, pending=None)
    return update


def _robustness(ctx: RunContext, n: int, source: str) -> list[str]:
    """The robustness probe's problems, kept in the candidate's result (run once per policy)."""
    from agents.robustness import probe

    result = ctx.store.read_result(n) or {}
    kept = result.get("robustness")
    if kept is not None and kept.get("source_sha256") == source_sha(source):
        return list(kept["problems"])
    ctx.say(f"candidate {n}: running the robustness probe (OOM storm, tiny pools, "
            "multi-operator containers)")
    problems = probe(source, ctx.backend, ctx.limits)
    ctx.count_evaluation()
    result["robustness"] = {"source_sha256": source_sha(source), "problems": problems}
    ctx.store.write_result(n, result)
    return problems


def after_reviewer(state: RunState, until: str = "accepted") -> str:
    """An approved policy ends the run (``--until budget``: the search goes on, with it as the
    floor); changes requested go back to the coder (at most `MAX_REVIEW_ROUNDS` times)."""
    if (state.get("review") or {}).get("approve") and state.get("accepted") is not None:
        return "planner" if until == "budget" else "finish"
    return "coder" if state.get("review_rounds", 0) <= MAX_REVIEW_ROUNDS else "planner"
