"""The graph's nodes: each takes the state and the `RunContext`, returns a state update.

LLM roles call their model through `RunContext.caller` (budgeted, priced, transcribed); with
``--model heuristic`` the planner and coder are the heuristic proposer and the critic and
reviewer are their rules alone, so the loop runs with no model at all.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from pydantic import BaseModel, Field

from agents import prompts
from agents.graph import RunContext, RunState
from agents.judge import judge
from agents.objective import Objective

MAX_CODER_TURNS = 8  # model turns per candidate (tool rounds included) before it must submit
MAX_REVIEW_ROUNDS = 2
Answer = TypeVar("Answer", bound=BaseModel)
FORMAT_RULES = {"syntax", "registration", "too-complex", "source-too-large"}


class CriticVerdict(BaseModel):
    """The critic model's structured verdict."""

    accept: bool = Field(description="accept only if the numbers beat the baseline as required")
    reasons: list[str] = Field(description="reasons, each with the numbers behind it")
    hint: str = Field(description="one concrete hint for the next attempt")


class ReviewVerdict(BaseModel):
    """The reviewer model's structured verdict."""

    approve: bool
    comments: list[str] = Field(default_factory=list)
    requested_changes: list[str] = Field(default_factory=list)


def _objective(state: RunState) -> Objective:
    return Objective.model_validate(state["objective"])


def _records(state: RunState) -> list[dict[str, Any]]:
    recs = state.get("candidates") or {}
    return [recs[k] for k in sorted(recs, key=int)]


def _malformed(ctx: RunContext, state: RunState, role: str, problem: str) -> None:
    ctx.event("error", state, role=role, message=f"malformed output: {problem}")


def _structured(ctx: RunContext, state: RunState, role: str, messages: list[Any],
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
        _malformed(ctx, state, role, problem)
        if attempt == 1:
            messages = [*messages, HumanMessage(
                f"Your answer could not be used: {problem}. Answer again with a valid "
                f"{schema.__name__} (call the {schema.__name__} tool with every field).")]
    return None


# --- prepare ----------------------------------------------------------------------------------


def prepare(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The built-in baselines and bounds on the search suite (in-process: trusted code)."""
    from agents.baselines import builtin_baselines

    ctx.caller.preflight()  # a dead model endpoint ends the run here, before any work
    stored = ctx.store.read_baselines() or {}
    if "search" not in stored:
        stored["search"] = builtin_baselines(ctx.config.suite, "search")
        ctx.store.write_baselines(stored)
    ctx.baselines = stored
    return {}


def baselines(ctx: RunContext, part: str) -> dict[str, Any]:
    """The baselines of a suite part, computed once per run and kept in baselines.json."""
    from agents.baselines import builtin_baselines

    if not ctx.baselines:
        ctx.baselines = ctx.store.read_baselines() or {}
    if part not in ctx.baselines:
        ctx.baselines[part] = builtin_baselines(ctx.config.suite, part)
        ctx.store.write_baselines(ctx.baselines)
    return ctx.baselines[part]


# --- planner ----------------------------------------------------------------------------------


def objective(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The run's `Objective`, once: from --objective, the default (heuristic), or the planner
    model. Its own step, so a resumed run never asks the model for it twice."""
    if state.get("objective") is not None:
        return {}
    planned = _plan_objective(state, ctx)
    if planned is None:  # malformed twice: a failed iteration, asked again (budget permitting)
        ctx.caller.spend = ctx.caller.spend.model_copy(
            update={"iterations": ctx.caller.spend.iterations + 1})
        return {}
    _write_objective(ctx, Objective.model_validate(planned))
    return {"objective": planned}


def after_objective(state: RunState) -> str:
    return "planner" if state.get("objective") is not None else "objective"


def planner(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The next direction for the coder, from the archive and the last verdict."""
    first = state.get("direction") is None
    direction = _direction(state, ctx)
    ctx.event("plan", state, role="planner", objective=state["objective"] if first else None,
              direction=direction)
    reset = [RemoveMessage(id=REMOVE_ALL_MESSAGES)]
    return {"direction": direction, "messages": reset, "coder_turns": 0, "reasks": 0,
            "pending": None, "review": None}


def _plan_objective(state: RunState, ctx: RunContext) -> dict[str, Any] | None:
    suite = ctx.config.suite
    if ctx.config.objective is not None:
        return Objective.model_validate({**ctx.config.objective, "suite": suite}).model_dump()
    if ctx.heuristic:
        return Objective(suite=suite).model_dump()
    from agents.objective import METRICS

    ask = (f"Goal: {state.get('goal') or 'the most completed pipelines, no class starved'}\n"
           f"Suite: {suite}. Metrics you may constrain: {', '.join(sorted(METRICS))}.\n"
           "Give the Objective.")
    out = _structured(ctx, state, "planner",
                      [SystemMessage(prompts.PLANNER_SYSTEM), HumanMessage(ask)], Objective)
    if out is None:
        return None
    data = out.model_dump()
    data["suite"] = suite  # the run's suite is the user's choice, never the model's
    data.pop("summary", None)
    return Objective.model_validate(data).model_dump()


def _write_objective(ctx: RunContext, objective: Objective) -> None:
    from agents.baselines import bound_score
    from agents.judge import best_baseline

    search = baselines(ctx, "search")
    name, score = best_baseline(objective, search["policies"])
    per = {c: objective.score([s]) for c, s in search["policies"].get(name, {}).items()}
    ctx.store.update_run(objective=objective.model_dump(),
                         baseline={"policy": name, "score": score, "per_trace": per},
                         bound=bound_score(objective, search["bounds"]))


def _direction(state: RunState, ctx: RunContext) -> str:
    records = _records(state)
    verdict = state.get("verdict") or {}
    if ctx.heuristic:
        if not records:
            return "Start from the default composition of known heuristics."
        return f"Tune from the best so far; last verdict: {verdict.get('hint') or '-'}"
    objective = _objective(state)
    run = ctx.store.read_run()
    ask = (f"Objective: {objective.summary}\n"
           f"Best baseline: {run.get('baseline', {}).get('policy')} with median "
           f"{run.get('baseline', {}).get('score')}; bound {run.get('bound', {}).get('score')}.\n"
           f"Archive:\n{prompts.archive_text(records)}\n"
           f"Last verdict: {json.dumps(verdict)[:1500] if verdict else 'none yet'}\n"
           "Give the coder the next direction in a few sentences.")
    answer = ctx.caller.invoke("planner", [SystemMessage(prompts.PLANNER_SYSTEM),
                                           HumanMessage(ask)])
    return str(answer.content).strip() or "Improve on the best candidate."


# --- coder ------------------------------------------------------------------------------------


def coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Heuristic: the proposer's next configuration. LLM: one model turn of the tool loop."""
    if ctx.heuristic:
        return _heuristic_coder(state, ctx)
    messages = list(state.get("messages") or [])
    fresh: list[Any] = []
    if not messages:
        fresh = [SystemMessage(prompts.CODER_SYSTEM), HumanMessage(_coder_task(state, ctx))]
        messages = fresh
    turns = state.get("coder_turns", 0)
    tools = ctx.tools if turns < MAX_CODER_TURNS - 1 else None
    if tools is None and not fresh:
        nudge = HumanMessage("No more tool calls: submit the whole policy file now.")
        fresh, messages = [nudge], [*messages, nudge]
    answer = ctx.caller.invoke("coder", messages, tools=tools)
    update: dict[str, Any] = {"messages": [*fresh, answer], "coder_turns": turns + 1}
    if isinstance(answer, AIMessage) and answer.tool_calls and tools:
        return update
    code = prompts.extract_code(str(answer.content))
    problem = _format_problem(code)
    if problem is None:
        update["pending"] = {"source": code, "summary": prompts.summary_line(str(answer.content)),
                             "author": "coder", "parent": state.get("best")}
        return update
    _malformed(ctx, state, "coder", problem)
    if state.get("reasks", 0) == 0:
        update["messages"].append(HumanMessage(
            f"Your answer could not be used: {problem}. Reply with the whole policy file in one "
            "```python code block."))
        update["reasks"] = 1
        return update
    ctx.caller.spend = ctx.caller.spend.model_copy(
        update={"iterations": ctx.caller.spend.iterations + 1})
    update["verdict"] = {"accept": False, "reasons": [f"malformed coder output: {problem}"],
                         "hint": "submit one complete policy file in a ```python block"}
    update["reasks"] = 2
    return update


def after_coder(state: RunState) -> str:
    """Where the coder's turn leads: its tools, a re-ask, evaluation, or a new round."""
    if state.get("pending"):
        return "evaluate"
    messages = state.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    if state.get("reasks", 0) == 1 and isinstance(last, HumanMessage):
        return "coder"
    return "planner"


def _format_problem(code: str | None) -> str | None:
    if code is None:
        return "no ```python code block with a registered policy"
    from sandbox.static_checks import check_policy_source

    report = check_policy_source(code, "policy.py")
    bad = [f for f in report.errors if f.rule in FORMAT_RULES]
    return bad[0].format("policy.py") if bad else None


def _coder_task(state: RunState, ctx: RunContext) -> str:
    objective = _objective(state)
    parts = [f"Objective: {objective.summary}.",
             f"Direction from the planner: {state.get('direction', '')}",
             f"Archive (best first):\n{prompts.archive_text(_records(state))}"]
    review = state.get("review")
    best = state.get("best")
    if review and not review.get("approve"):
        parts.append("The reviewer asks for changes to the accepted candidate #"
                     f"{review['candidate']}:\n- " + "\n- ".join(
                         review.get("requested_changes") or review.get("comments") or []))
        best = review["candidate"]
    if best:
        parts.append(f"Candidate #{best}'s code (edit it or start over):\n"
                     + prompts.fence(ctx.store.read_policy(best)))
    parts.append("Tools: api_reference, validate_policy, run_simulation, profile_run, "
                 "read_trace, profile_workload, compare_policies, list_candidates, get_candidate.")
    return "\n\n".join(parts)


def _heuristic_coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    from agents.heuristic.config import HeuristicConfig
    from agents.heuristic.feedback import HeuristicFeedback
    from agents.heuristic.render import render_policy

    history = [(HeuristicConfig.model_validate(r["config"]),
                HeuristicFeedback.model_validate(r["feedback"]))
               for r in _records(state) if r.get("config") and r.get("feedback")]
    config = ctx.proposer.propose(history)
    n = len(state.get("candidates") or {}) + 1
    base = HeuristicConfig()
    changed = {k: v for k, v in config.model_dump().items() if base.model_dump()[k] != v}
    summary = ("heuristic composition: " + ", ".join(f"{k}={v}" for k, v in changed.items())
               if changed else "heuristic composition: the defaults")
    return {"pending": {"source": render_policy(config, f"candidate_{n}"), "summary": summary,
                        "author": "heuristic", "parent": state.get("best"),
                        "config": config.model_dump()}}


def tool_logger(ctx: RunContext) -> Any:
    """ToolNode's wrapper: every tool call goes to the transcript with its result and time."""

    def wrap(request: Any, execute: Any) -> Any:
        t0 = time.monotonic()
        result = execute(request)
        text = str(getattr(result, "content", result))
        ok = getattr(result, "status", "success") != "error" and not text.startswith("error:")
        ctx.event("tool_call", role="coder", tool=request.tool_call["name"],
                  args=request.tool_call.get("args", {}), result=text[:4000], ok=ok,
                  latency_s=round(time.monotonic() - t0, 3))
        return result

    return wrap


# --- evaluate ---------------------------------------------------------------------------------


def evaluate(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Static checks, sandbox run on the search suite, host verification; result stored."""
    pending = state["pending"] or {}
    n = len(state.get("candidates") or {}) + 1
    source = pending["source"]
    ctx.store.write_policy(n, source)
    ctx.event("candidate", state, candidate=n, author=pending.get("author"),
              summary=pending.get("summary", ""), path=f"candidates/{n}/policy.py",
              parent=pending.get("parent"))
    result = _evaluation(ctx, n, source, "search")
    objective = _objective(state)
    record = _record(n, pending, result, objective)
    result["baseline"] = {k: v for k, v in (ctx.store.read_run().get("baseline") or {}).items()
                          if k in ("policy", "score")}
    ctx.store.write_result(n, result)  # now with the objective's score and per-trace scores
    if ctx.heuristic:
        record["feedback"] = _heuristic_feedback(result).model_dump()
    ctx.event("evaluation", state, candidate=n, status=result["status"], reason=result["reason"],
              score=result["score"], aggregate=result["evaluation"].get("aggregate"),
              bound_fractions=result["evaluation"].get("bound_fractions"),
              verified=result["verified"], seconds=result["seconds"])
    ctx.caller.spend = ctx.caller.spend.model_copy(
        update={"iterations": ctx.caller.spend.iterations + 1})
    best = _best(_records(state) + [record])
    ctx.store.update_run(best_candidate=best, spent=ctx.caller.spend.model_dump())
    return {"candidates": {str(n): record}, "last": n, "pending": None, "best": best}


def _evaluation(ctx: RunContext, n: int, source: str, part: str) -> dict[str, Any]:
    """Candidate ``n`` on a suite part: read back if it already finished, else run it."""
    from sandbox.evaluation import PolicyInput, evaluate_policy, suite_inputs

    held_out = part != "search"
    done = ctx.store.read_result(n, held_out=held_out)
    if done is not None and done.get("source_sha256") == _sha(source):
        return done
    t0 = time.monotonic()
    report = evaluate_policy(PolicyInput(f"candidate {n}", source=source), suite_inputs(
        ctx.config.suite, part), ctx.backend, ctx.limits, suite=ctx.config.suite, part=part,
        profile=not held_out)
    data = report.model_dump(mode="json")
    profile = data.pop("profile", None)
    per_trace = {t["name"]: t["stats"] for t in data["traces"] if t.get("stats")}
    result = {"candidate": n, "part": part, "status": report.status, "reason": report.reason,
              "verified": report.status == "ok", "per_trace_stats": per_trace,
              "evaluation": data, "profile": profile, "source_sha256": _sha(source),
              "seconds": round(time.monotonic() - t0, 3)}
    result["score"] = None
    ctx.store.write_result(n, result, held_out=held_out)
    return result


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _record(n: int, pending: dict[str, Any], result: dict[str, Any],
            objective: Objective) -> dict[str, Any]:
    per = result["per_trace_stats"] if result["status"] == "ok" else {}
    score = objective.score(list(per.values())) if per else None
    result["score"] = score
    result["per_trace"] = {c: objective.score([s]) for c, s in per.items()}
    rank = None if score is None else (score if objective.direction == "maximize" else -score)
    return {"n": n, "status": result["status"], "reason": result["reason"], "score": score,
            "rank": rank, "per_trace": result["per_trace"], "summary": pending.get("summary", ""),
            "author": pending.get("author"), "parent": pending.get("parent"),
            "config": pending.get("config"), "accepted": False, "held_out": None,
            "verdict_line": result["reason"] or ""}


def _best(records: list[dict[str, Any]]) -> int | None:
    """The best verified candidate: accepted first, then constraints met, then the score."""
    scored = [r for r in records if r.get("rank") is not None]
    if not scored:
        return None
    return max(scored, key=lambda r: (bool(r.get("accepted")),
                                      bool(r.get("constraints_ok", True)), r["rank"]))["n"]


def _heuristic_feedback(result: dict[str, Any]) -> Any:
    from agents.heuristic.feedback import CaseOutcome, summarise

    keys = {"QUERY": "pipelines_query", "INTERACTIVE": "pipelines_interactive",
            "BATCH_PIPELINE": "pipelines_batch"}
    outcomes = []
    for trace in result["evaluation"]["traces"]:
        stats, prof = trace.get("stats"), trace.get("profile_summary") or {}
        if not stats:
            reason = (trace.get("error") or {}).get("message") or result["reason"] or "failed"
            outcomes.append(CaseOutcome(case=trace["name"], error=reason))
            continue
        outcomes.append(CaseOutcome(
            case=trace["name"], completed=stats["pipelines_all"]["completion_count"],
            arrivals=stats["pipelines_all"]["arrival_count"],
            completed_by_priority={k: stats[v]["completion_count"] for k, v in keys.items()},
            arrivals_by_priority={k: stats[v]["arrival_count"] for k, v in keys.items()},
            oom_kills=int(prof.get("oom_kills", 0)),
            containers_completed=stats["containers_completed"],
            idle_cpu_fraction=prof.get("idle_cpu_fraction", 0.0),
            ram_allocated_fraction=prof.get("ram_allocated_fraction", 0.0),
            ram_used_fraction=prof.get("ram_used_fraction", 0.0)))
    if not outcomes:
        outcomes.append(CaseOutcome(case="-", error=result["reason"] or "failed"))
    return summarise(outcomes)


# --- critic -----------------------------------------------------------------------------------


def critic(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The rules' verdict (search, then held-out), then the critic model's reasons and hint."""
    n = state["last"]
    assert n is not None
    record = (state.get("candidates") or {})[str(n)]
    objective = _objective(state)
    result = ctx.store.read_result(n) or {}
    rules_pass, reasons, held = False, [], None
    hint = ""
    if record["status"] != "ok":
        reasons = [f"{record['status']}: {record['reason']}"]
        hint = "fix the failure first: " + (record["reason"] or "")[:300]
    else:
        search = baselines(ctx, "search")
        j = judge(objective, result["per_trace_stats"], search["policies"],
                  sorted(search["bounds"]))
        reasons = list(j.reasons)
        rules_pass = j.passes
        constraints_ok = all(not r.startswith("violates") for r in j.reasons)
        record = {**record, "constraints_ok": constraints_ok}
        if rules_pass:
            held = _held_out(ctx, n, objective)
            reasons.append(f"held-out suite: {'passes' if held['passed'] else 'fails'}"
                           f" (gap {held['gap']:+.1%})" if held["gap"] is not None
                           else f"held-out suite: {'passes' if held['passed'] else 'fails'}")
            rules_pass = held["passed"]
        hint = _rules_hint(j, record)
    accept = rules_pass
    if not ctx.heuristic and record["status"] == "ok":
        verdict = _critic_model(ctx, state, objective, record, reasons, rules_pass, result)
        if verdict is not None:
            accept = rules_pass and verdict.accept
            reasons += [r for r in verdict.reasons if r not in reasons]
            hint = verdict.hint or hint
    out = {"candidate": n, "accept": accept, "reasons": reasons, "hint": hint,
           "score": record["score"], "held_out": held}
    run = ctx.store.read_run()
    ctx.event("verdict", state, role="critic", candidate=n, accept=accept, reasons=reasons,
              hint=hint, score=record["score"],
              baseline_score=run.get("baseline", {}).get("score"), held_out=held)
    result["verdict"] = {"accept": accept, "reasons": reasons, "hint": hint}
    ctx.store.write_result(n, result)
    line = ("accepted; " if accept else "rejected; ") + "; ".join(reasons)[:300]
    update_record = {**record, "accepted": accept, "held_out": held, "verdict_line": line}
    best = _best([r for r in _records(state) if r["n"] != n] + [update_record])
    return {"verdict": out, "candidates": {str(n): update_record}, "best": best}


def after_critic(state: RunState) -> str:
    return "reviewer" if (state.get("verdict") or {}).get("accept") else "planner"


def _held_out(ctx: RunContext, n: int, objective: Objective) -> dict[str, Any]:
    """Pass/fail and the relative gap on the held-out suite: all the loop ever learns of it."""
    source = ctx.store.read_policy(n)
    result = _evaluation(ctx, n, source, "held-out")
    held = baselines(ctx, "held-out")
    if result["status"] != "ok":
        return {"passed": False, "gap": None}
    j = judge(objective, result["per_trace_stats"], held["policies"], sorted(held["bounds"]))
    result["verdict"] = {"passed": j.passes, "reasons": j.reasons}
    result["score"] = j.score
    result["per_trace"] = {c: objective.score([s]) for c, s in result["per_trace_stats"].items()}
    ctx.store.write_result(n, result, held_out=True)
    return {"passed": j.passes, "gap": None if j.gap is None else round(j.gap, 3)}


def _rules_hint(j: Any, record: dict[str, Any]) -> str:
    if j.passes:
        return "the numbers pass on the search suite"
    if not record.get("constraints_ok", True):
        return "meet the constraints first: " + "; ".join(
            r for r in j.reasons if r.startswith("violates"))[:300]
    if j.score is None or j.needed is None:
        return "get a verified result on every case"
    return (f"raise the median score from {j.score:.4g} to at least {j.needed:.4g} and beat "
            f"{j.baseline_policy} on most cases")


def _critic_model(ctx: RunContext, state: RunState, objective: Objective, record: dict[str, Any],
                  reasons: list[str], rules_pass: bool, result: dict[str, Any]) -> Any:
    prof = result.get("profile") or {}
    where = _profile_text(prof.get("profile") or {})
    ask = (f"Objective: {objective.summary}\nCandidate #{record['n']}: {record['summary']}\n"
           f"Rules' verdict: {'pass' if rules_pass else 'reject'}\n- " + "\n- ".join(reasons)
           + f"\nWhere the time went (first case): {where}\nGive your verdict.")
    return _structured(ctx, state, "critic", [SystemMessage(prompts.CRITIC_SYSTEM),
                                              HumanMessage(ask)], CriticVerdict)


def _profile_text(profile: dict[str, Any]) -> str:
    if not profile:
        return "no profile"
    q = profile.get("queueing", {})
    waits = ", ".join(f"{k} mean wait {v['mean_wait_s']:.1f} s ({v['never_started']} never "
                      f"started)" for k, v in q.items() if v.get("mean_wait_s") is not None)
    oom = profile.get("oom", {})
    idle = profile.get("idle_capacity", {})
    return (f"{oom.get('kills', 0)} OOM kills wasting {oom.get('wasted_cpu_seconds', 0):.0f} "
            f"CPU-s; {idle.get('cpu_seconds_idle_while_work_ready', 0):.0f} CPU-s idle while "
            f"work was ready; {profile.get('suspensions', {}).get('count', 0)} suspensions; "
            f"{waits}")


# --- reviewer ---------------------------------------------------------------------------------


def reviewer(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """A maintainer's read of the accepted policy: approve, or send it back with changes."""
    from sandbox.static_checks import check_policy_source

    n = state["last"]
    assert n is not None
    objective = _objective(state)
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
        verdict = _structured(ctx, state, "reviewer", [SystemMessage(prompts.REVIEWER_SYSTEM),
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
                                         "verdict_line": "reviewer: " + "; ".join(changes)[:200]}}
        update["messages"] = [RemoveMessage(id=REMOVE_ALL_MESSAGES)]
        update.update(coder_turns=0, reasks=0, pending=None)
    return update


def _robustness(ctx: RunContext, n: int, source: str) -> list[str]:
    """The robustness probe's problems, kept in the candidate's result (run once per policy)."""
    from agents.robustness import probe

    result = ctx.store.read_result(n) or {}
    kept = result.get("robustness")
    if kept is not None and kept.get("source_sha256") == _sha(source):
        return list(kept["problems"])
    problems = probe(source, ctx.backend, ctx.limits)
    result["robustness"] = {"source_sha256": _sha(source), "problems": problems}
    ctx.store.write_result(n, result)
    return problems


def after_reviewer(state: RunState) -> str:
    if state.get("accepted") is not None:
        return "finish"
    return "coder" if state.get("review_rounds", 0) <= MAX_REVIEW_ROUNDS else "planner"


# --- finish -----------------------------------------------------------------------------------


def finish(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Why the run stopped, its best verified candidate, and the final run.json."""
    from agents.budget import Spend
    from agents.graph import limit_reached

    accepted = state.get("accepted")
    spend = Spend(**state.get("spend", {})).model_copy(
        update={"seconds": ctx.store.transcript.elapsed()})
    if accepted is not None:
        reason, status = "accepted", "accepted"
    elif ctx.cancel is not None and ctx.cancel.is_set() and not state.get("stop_reason"):
        reason, status = "stopped", "stopped"
    else:
        reason = state.get("stop_reason") or limit_reached(ctx.budget, spend, iterations=True) \
            or "stopped"
        status = "budget_exhausted" if reason.startswith("max_") else "failed"
    best = accepted if accepted is not None else state.get("best")
    records = _records(state)
    scores = [r["score"] for r in records if r.get("score") is not None]
    ctx.store.update_run(status=status, stop_reason=reason, best_candidate=best,
                         accepted_candidate=accepted, spent=spend.model_dump(),
                         median_candidate_score=statistics.median(scores) if scores else None)
    ctx.event("run_finished", state, status=status, stop_reason=reason, best_candidate=best,
              accepted_candidate=accepted, spent=spend.model_dump())
    return {"stop_reason": reason, "best": best}
