"""A population per round (``--population K``, K > 1): K candidates written and evaluated at once.

The planner proposes K distinct directions and numbers their candidates when it proposes them
(`plan_round`). Each candidate then goes through the candidate path, coder ⇄ tools → evaluate →
critic (on the search suite), as a *branch*: the ``branch`` node, started with LangGraph's
`Send` once per unfinished candidate, advances one candidate by one step (one model call, one
tool round or one evaluation), so the K branches of a graph step run concurrently and a resumed
run repeats no step that had finished. Each branch's own progress (its coder conversation, its
phase) lives in ``state['branches']`` under its candidate number; branches write only merged
keys (``branches``, ``candidates``, and the spend's deltas), so none overwrites another's.

After every graph step the ``join`` node looks at the round: while a branch is unfinished it
starts the next step of each (`after_join`); once all are finished (or the run must stop) it
closes the round: one iteration for the whole round, the best candidate that passed on the
search suite goes to the held-out gate, and an accepted one to the reviewer. Scores and
candidates never depend on the order in which branches finish: every step of a round sees the
state as the previous graph step left it, and records are kept by candidate number.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages
from langgraph.types import Send
from pydantic import BaseModel, Field

from agents import prompts
from agents.budget import BudgetExhausted, exhausted
from agents.calls import ModelCallFailed
from agents.nodes.coder import after_coder, coder, heuristic_pending
from agents.nodes.common import (
    candidate_records,
    objective_of,
    structured_answer,
    what_it_learns,
)
from agents.nodes.critic import criticise, held_out_check
from agents.nodes.evaluate import best_candidate, evaluate_candidate, next_number
from agents.state import RunContext, RunState

SHARED = ("objective", "candidates", "best", "spend", "round", "goal")  # what a branch reads


class Direction(BaseModel):
    """One candidate's direction in a round."""

    change: str = Field(description="what this candidate changes, concretely")
    differs: str = Field(description="how it differs from the round's other directions and "
                                     "from what was already tried")


class RoundPlan(BaseModel):
    """The planner's directions for one round of a population."""

    directions: list[Direction] = Field(description="distinct directions, one per candidate")


def plan_round(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The round's K directions, its candidates' numbers, and a fresh branch for each."""
    k = ctx.config.population
    first = next_number(state)
    numbers = list(range(first, first + k))
    round_no = int(state.get("round") or 0) + 1
    configs: list[dict[str, Any] | None] = [None] * k
    if ctx.heuristic:
        pendings = _heuristic_round(state, ctx, numbers)
        directions = [p["summary"] for p in pendings]
        configs = [p["config"] for p in pendings]
    else:
        pendings = [None] * k
        directions = _directions(what_it_learns(state, ctx), ctx, k)
    branches = {str(n): {"n": n, "direction": d, "phase": "coder", "messages": [],
                         "coder_turns": 0, "reasks": 0, "pending": p, "config": c,
                         "done": False, "outcome": None, "stop": None}
                for n, d, p, c in zip(numbers, directions, pendings, configs, strict=True)}
    for n, d in zip(numbers, directions, strict=True):
        ctx.event("plan", state, role="planner", round=round_no, candidate=n, direction=d,
                  objective=state["objective"] if state.get("direction") is None
                  and n == first else None)
    reset = [RemoveMessage(id=REMOVE_ALL_MESSAGES)]
    return {"direction": directions[0], "directions": [*(state.get("directions") or []),
                                                        *directions],
            "round": round_no, "round_members": numbers, "branches": branches,
            "messages": reset, "coder_turns": 0, "reasks": 0, "pending": None, "review": None}


def _heuristic_round(state: RunState, ctx: RunContext, numbers: list[int]) -> list[dict[str, Any]]:
    from agents.heuristic.config import HeuristicConfig
    from agents.heuristic.feedback import HeuristicFeedback

    if ctx.config.strategy == "best-of-n":
        tried = [HeuristicConfig.model_validate(r["config"]) for r in candidate_records(state)
                 if r.get("config")]
        out = []
        for n in numbers:
            config = ctx.proposer.sample(n, tried)
            tried.append(config)
            out.append(heuristic_pending(config, n, None))
        return out
    history = [(HeuristicConfig.model_validate(r["config"]),
                HeuristicFeedback.model_validate(r["feedback"]))
               for r in candidate_records(state) if r.get("config") and r.get("feedback")]
    configs = ctx.proposer.propose_round(history, len(numbers))
    return [heuristic_pending(config, n, state.get("best")) for config, n in
            zip(configs, numbers, strict=True)]


def _directions(state: RunState, ctx: RunContext, k: int) -> list[str]:
    """K distinct directions from the planner model (one structured answer, asked again once
    when malformed); missing or repeated ones are filled from the last verdict's hint."""
    from agents.nodes.planner import _stale, situation

    given = list(state.get("directions") or [])
    verdict = state.get("verdict") or {}
    ask = "\n".join(part for part in (
        *situation(state, ctx, candidate_records(state), verdict.get("hint") or "none yet"),
        ("Directions tried so far:\n" + "\n".join(f"- {d[:300]}" for d in given[-2 * k:])
         if given else ""),
        (f"Give {k} distinct directions for {k} coders working at once: each says what it "
         "changes and how it differs from the others and from what was tried.")) if part)
    plan = structured_answer(ctx, state, "planner",
                             [SystemMessage(prompts.PLANNER_SYSTEM), HumanMessage(ask)], RoundPlan)
    out: list[str] = []
    for d in (plan.directions if plan is not None else []):
        text = f"{d.change.strip()} (differs: {d.differs.strip()})" if d.differs.strip() \
            else d.change.strip()
        if d.change.strip() and not _stale(text, given + out):
            out.append(text)
        if len(out) == k:
            break
    hint = verdict.get("hint") or "improve on the best candidate"
    while len(out) < k:
        out.append(f"Variant {len(out) + 1} of {k}: {hint}; take a different approach from "
                   "the other candidates of this round")
    return out


# --- one step of one candidate -------------------------------------------------------------


def branch_sends(state: RunState) -> list[Send]:
    """One ``branch`` step for every unfinished candidate of the round."""
    branches = state.get("branches") or {}
    shared = {k: state.get(k) for k in SHARED}
    return [Send("branch", {**shared, "n": n, "branch": branches[str(n)]})
            for n in state.get("round_members") or [] if not branches[str(n)]["done"]]


def branch(payload: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Candidate ``payload['n']`` one step further: coder, tools, evaluate or critic."""
    n = int(payload["n"])
    b = dict(payload["branch"])
    view: dict[str, Any] = {**{k: payload.get(k) for k in SHARED}, "direction": b["direction"],
                            "messages": list(b["messages"]), "coder_turns": b["coder_turns"],
                            "reasks": b["reasks"], "pending": b["pending"], "review": None,
                            "last": n}
    out: dict[str, Any] = {}
    stop = _must_stop(ctx, view)
    if stop is not None:
        b.update(done=True, outcome=f"stopped: {stop}", messages=[])
        return {"branches": {str(n): b}}
    try:
        _step(ctx, view, b, n, out)
    except BudgetExhausted as exc:
        ctx.event("error", view, role=_ROLE[b["phase"]], candidate=n,
                  message=f"budget: the next call would break {exc.limit}; not made")
        b.update(done=True, outcome=f"stopped: {exc.limit}", stop=exc.limit)
    except ModelCallFailed as exc:
        ctx.event("error", view, role=_ROLE[b["phase"]], candidate=n, message=str(exc))
        b.update(done=True, outcome=f"failed: {exc}"[:300],
                 stop=f"error: {exc.reason}"[:300] if exc.ends_run else None)
    if b["done"]:
        b["messages"] = []  # the conversation is in the transcript; the checkpoint stays small
    out["branches"] = {str(n): b}
    return out


_ROLE = {"coder": "coder", "tools": "coder", "evaluate": "evaluate", "critic": "critic"}


def _must_stop(ctx: RunContext, view: dict[str, Any]) -> str | None:
    if ctx.cancel is not None and ctx.cancel.is_set():
        return "stopped"
    return exhausted(ctx.budget, ctx.caller.spend, iterations=False)


def _step(ctx: RunContext, view: dict[str, Any], b: dict[str, Any], n: int,
          out: dict[str, Any]) -> None:
    phase = b["phase"]
    if phase == "coder":
        if ctx.heuristic:
            nxt = "evaluate"  # the planner rendered the proposer's configuration already
        else:
            update = coder(view, ctx)
            b["messages"] = add_messages(b["messages"], update.get("messages", []))
            for key in ("coder_turns", "reasks", "pending"):
                if key in update:
                    b[key] = update[key]
            nxt = after_coder({**view, **b})
            if nxt == "planner":  # gave up (malformed twice): no evaluation
                verdict = update.get("verdict") or {}
                b.update(done=True, outcome="; ".join(verdict.get("reasons") or ["no policy"]))
                return
        b["phase"] = nxt
    elif phase == "tools":
        b["messages"] = add_messages(b["messages"], _run_tools(ctx, b["messages"], n))
        b["phase"] = "coder"
    elif phase == "evaluate":
        update = evaluate_candidate({**view, "pending": b["pending"]}, ctx, n, in_round=True)
        out["candidates"] = update["candidates"]
        b.update(phase="critic", pending=None)
    elif phase == "critic":
        update = criticise(view, ctx, n, held_out_gate=False)
        out["candidates"] = update["candidates"]
        verdict = update["verdict"]
        b.update(done=True, verdict=verdict,
                 outcome="passes on search" if verdict["accept"] else "rejected")


def _run_tools(ctx: RunContext, messages: list[Any], n: int) -> list[Any]:
    """The tool calls of candidate ``n``'s coder's last answer, run (and logged) as the tools
    node runs them, with its own current draft (`tools.drafts.writing_as`)."""
    from langgraph.prebuilt import ToolNode

    from agents.nodes.coder import tool_logger
    from tools.drafts import writing_as

    node = ToolNode(ctx.tools, handle_tool_errors=True, wrap_tool_call=tool_logger(ctx))
    with writing_as(str(n)):
        return list(node.invoke({"messages": messages})["messages"])


# --- the round's end ------------------------------------------------------------------------


def join(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Nothing while a branch is unfinished; then the round's close: one iteration, the held-out
    gate for its best candidate that passed on search, the round's verdict."""
    members = [str(n) for n in state.get("round_members") or []]
    branches = state.get("branches") or {}
    active = [m for m in members if not branches[m]["done"]]
    stops = [branches[m]["stop"] for m in members if branches[m].get("stop")]
    stopping = bool(stops) or _must_stop(ctx, state) is not None
    if active and not stopping:
        return {}
    update: dict[str, Any] = {}
    if active:  # the run stops: the unfinished candidates end here
        update["branches"] = {m: {**branches[m], "done": True, "messages": [],
                                  "outcome": "stopped with the run"} for m in active}
    if stops:
        update["stop_reason"] = stops[0]
    ctx.count_iteration()
    records = {m: state["candidates"][m] for m in members if m in (state.get("candidates") or {})}
    passing = [r for r in records.values() if r.get("search_pass")]
    objective = objective_of(state)
    verdict: dict[str, Any]
    gate_n = best_candidate(passing) if passing and not stopping else None
    changed: dict[str, dict[str, Any]] = {}
    if gate_n is not None:
        held = held_out_check(ctx, gate_n, objective)
        accept = bool(held["passed"])
        gap = "" if held["gap"] is None else f" (gap {held['gap']:+.1%} over its best baseline)"
        reasons = [*(branches[str(gate_n)].get("verdict") or {}).get("reasons", []),
                   f"held-out suite: {'passes' if accept else 'fails'}{gap}"]
        hint = "" if accept else "the search suite's gain did not hold on the held-out suite"
        verdict = {"candidate": gate_n, "accept": accept, "reasons": reasons, "hint": hint,
                   "score": records[str(gate_n)]["score"], "held_out": held}
        line = prompts.shorten(("accepted; " if accept else "rejected; ") + "; ".join(reasons),
                               400)
        changed[str(gate_n)] = {"accepted": accept, "held_out": held, "verdict_line": line}
        ctx.event("verdict", state, role="critic", candidate=gate_n, accept=accept,
                  reasons=reasons, hint=hint, score=records[str(gate_n)]["score"],
                  baseline_score=ctx.store.read_run().get("baseline", {}).get("score"),
                  held_out=held, stage="held-out", round=state.get("round"))
    else:
        verdict = _round_verdict(records, branches, members)
    merged = {m: {**records.get(m, {}), **changed.get(m, {})} for m in records}
    others = [r for r in candidate_records(state) if str(r["n"]) not in merged]
    best = best_candidate(others + list(merged.values()))
    final = {**branches, **update.get("branches", {})}
    ctx.event("round", state, round=state.get("round"), candidates=[int(m) for m in members],
              scores={m: records[m].get("score") if m in records else None for m in members},
              outcomes={m: final[m].get("outcome") for m in members},
              passed_search=sorted(int(r["n"]) for r in passing), held_out_gate=gate_n,
              accepted=verdict.get("accept", False), best=best)
    ctx.store.update_run(best_candidate=best)
    update.update(verdict=verdict, last=verdict.get("candidate"), best=best)
    if changed:
        update["candidates"] = changed
    return update


def _round_verdict(records: dict[str, dict[str, Any]], branches: dict[str, dict[str, Any]],
                   members: list[str]) -> dict[str, Any]:
    """The verdict of a round none of whose candidates passed: its best candidate's."""
    scored = [r for r in records.values() if r.get("rank") is not None]
    top = best_candidate(scored) if scored else None
    if top is None:
        reasons = [f"candidate {m}: {branches[m].get('outcome') or 'no result'}" for m in members]
        return {"candidate": int(members[0]) if members else None, "accept": False,
                "reasons": reasons, "hint": "get a verified result on every case",
                "score": None, "held_out": None}
    own = branches[str(top)].get("verdict") or {}
    return {"candidate": top, "accept": False, "reasons": list(own.get("reasons") or []),
            "hint": own.get("hint") or "", "score": records[str(top)].get("score"),
            "held_out": None}


def after_join(state: RunState, ctx: RunContext, gate: Any) -> Any:
    """The next steps of the round's unfinished candidates, or where the closed round leads."""
    from agents.nodes.critic import after_critic

    branches = state.get("branches") or {}
    if any(not branches[str(n)]["done"] for n in state.get("round_members") or []):
        return branch_sends(state)
    target = after_critic(state)
    return gate(ctx, state, target, new_round=target != "reviewer")

