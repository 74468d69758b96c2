"""The critic: the judge's rules on the numbers, the held-out gate, and (with a model) its
verdict in words."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from agents import prompts
from agents.baselines import scored_baselines
from agents.judge import judge
from agents.nodes.common import baselines, candidate_records, objective_of, structured_answer
from agents.nodes.evaluate import best_candidate, run_evaluation, scored_cases
from agents.objective import Objective
from agents.state import RunContext, RunState
from tools.metrics import bound_score


class CriticVerdict(BaseModel):
    """The critic model's structured verdict."""

    accept: bool = Field(description="accept only if the numbers beat the baseline as required")
    reasons: list[str] = Field(description="reasons, each with the numbers behind it")
    hint: str = Field(description="one concrete hint for the next attempt")



def critic(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The rules' verdict (search, then held-out), then the critic model's reasons and hint."""
    n = state["last"]
    assert n is not None
    return criticise(state, ctx, n, held_out_gate=True)


def criticise(state: RunState, ctx: RunContext, n: int, *,
              held_out_gate: bool) -> dict[str, Any]:
    """Candidate ``n``'s verdict. Without ``held_out_gate`` (a population's candidate) the
    verdict is the search suite's alone: the round's best passing candidate then goes to the
    held-out gate (`agents.nodes.population`), and ``accept`` means "passes on search"."""
    record = (state.get("candidates") or {})[str(n)]
    objective = objective_of(state)
    result = ctx.store.read_result(n) or {}
    rules_pass, reasons, held = False, [], None
    hint = ""
    if record["status"] == "screened":  # stopped by the cascade after its first case
        reasons = [str(record["reason"])]
        hint = ("far below the best baseline on the smallest search case already: change the "
                "approach, not a detail")
    elif record["status"] != "ok":
        reasons = [f"{record['status']}: {record['reason']}"]
        hint = "fix the failure first: " + (record["reason"] or "")[:300]
    else:
        search = baselines(ctx, "search")
        j = judge(objective, scored_cases(result), scored_baselines(objective, search),
                  sorted(search["bounds"]), bound_score(objective, search["bounds"])["score"])
        reasons = list(j.reasons)
        rules_pass = j.passes
        floor = _floor(state, objective, record)
        if floor is not None:
            reasons.append(floor)
            rules_pass = False
        constraints_ok = all(not r.startswith("violates") for r in j.reasons)
        record = {**record, "constraints_ok": constraints_ok}
        if rules_pass and held_out_gate:
            held = held_out_check(ctx, n, objective)
            reasons.append(f"held-out suite: {'passes' if held['passed'] else 'fails'}"
                           f" (gap {held['gap']:+.1%} over its best baseline)"
                           if held["gap"] is not None
                           else f"held-out suite: {'passes' if held['passed'] else 'fails'}")
            rules_pass = held["passed"]
        hint = _rules_hint(j, record, objective)
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
              baseline_score=run.get("baseline", {}).get("score"), held_out=held,
              **({} if held_out_gate else {"stage": "search", "round": state.get("round")}))
    result["verdict"] = {"accept": accept, "reasons": reasons, "hint": hint}
    ctx.store.write_result(n, result)
    if held_out_gate:
        line = prompts.shorten(("accepted; " if accept else "rejected; ") + "; ".join(reasons),
                               400)
        update_record = {**record, "accepted": accept, "held_out": held, "verdict_line": line}
    else:
        line = prompts.shorten(("passes on search; " if accept else "rejected; ")
                               + "; ".join(reasons), 400)
        update_record = {**record, "accepted": False, "search_pass": accept, "held_out": None,
                         "verdict_line": line}
    best = best_candidate([r for r in candidate_records(state) if r["n"] != n] + [update_record])
    return {"verdict": out, "candidates": {str(n): update_record}, "best": best}


def _floor(state: RunState, objective: Objective, record: dict[str, Any]) -> str | None:
    """Why a candidate does not beat the accepted one (``--until budget``), else None."""
    a = state.get("accepted")
    if a is None or record.get("score") is None:
        return None
    floor = ((state.get("candidates") or {}).get(str(a)) or {}).get("score")
    if floor is None or objective.better(record["score"], floor):
        return None
    return (f"not better than the accepted candidate {a} ({floor:.4g}), the floor the search "
            "must beat from here on")


def after_critic(state: RunState) -> str:
    return "reviewer" if (state.get("verdict") or {}).get("accept") else "planner"


def held_out_check(ctx: RunContext, n: int, objective: Objective) -> dict[str, Any]:
    """Pass/fail and the relative gap on the held-out suite: all the loop ever learns of it."""
    source = ctx.store.read_policy(n)
    ctx.say(f"candidate {n} passes on the search suite: evaluating it on the held-out suite")
    result = run_evaluation(ctx, n, source, "held-out", objective)
    held = baselines(ctx, "held-out")
    if result["status"] != "ok":
        return {"passed": False, "gap": None}
    cases = scored_cases(result)
    j = judge(objective, cases, scored_baselines(objective, held), sorted(held["bounds"]),
              bound_score(objective, held["bounds"])["score"])
    result["verdict"] = {"passed": j.passes, "reasons": j.reasons}
    result["score"] = j.score
    result["per_trace"] = {c: objective.case_value(s) for c, s in cases.items()}
    ctx.store.write_result(n, result, held_out=True)
    return {"passed": j.passes, "gap": None if j.gap is None else round(j.gap, 3)}


def _rules_hint(j: Any, record: dict[str, Any], objective: Objective) -> str:
    if j.passes:
        return "the numbers pass on the search suite"
    if not record.get("constraints_ok", True):
        return "meet the constraints first: " + "; ".join(
            r for r in j.reasons if r.startswith("violates"))[:300]
    if j.score is None or j.needed is None:
        return "get a verified result on every case"
    maximize = objective.direction == "maximize"
    wants = []
    if (j.score < j.needed) if maximize else (j.score > j.needed):
        wants.append(f"{'raise' if maximize else 'lower'} the {objective.aggregate} score from "
                     f"{j.score:.4g} to {'at least' if maximize else 'at most'} {j.needed:.4g}")
    if j.wins * 2 <= j.cases:
        wants.append(f"beat {j.baseline_policy} on most cases (better on {j.wins} of {j.cases})")
    misses = [r for r in j.reasons if r.startswith("misses")]
    return " and ".join(wants) if wants else "; ".join(misses) or "; ".join(j.reasons)[:300]


def _critic_model(ctx: RunContext, state: RunState, objective: Objective, record: dict[str, Any],
                  reasons: list[str], rules_pass: bool, result: dict[str, Any]) -> Any:
    ask = (f"Objective: {objective.summary}\nCandidate #{record['n']}: {record['summary']}\n"
           f"Rules' verdict: {'pass' if rules_pass else 'reject'}\n- " + "\n- ".join(reasons)
           + f"\n{headroom_text(result, objective.metric)}\n{_cost(ctx, record['n'])}"
           "\nGive your verdict.")
    return structured_answer(ctx, state, "critic", [SystemMessage(prompts.CRITIC_SYSTEM),
                                              HumanMessage(ask)], CriticVerdict)


def headroom_case(result: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """The verified case farthest from its bound (the most to gain), else the first case."""
    from traces.metrics import METRICS

    traces = [t for t in (result.get("evaluation") or {}).get("traces") or [] if t.get("stats")]
    if not traces:
        return None
    key = METRICS[metric].fraction_key if metric in METRICS else None

    def room(t: dict[str, Any]) -> float:
        fraction = (t.get("bound_fractions") or {}).get(key) if key else None
        return -1.0 if fraction is None else 1.0 - float(fraction)

    return max(traces, key=room)  # max keeps the first of equals


def headroom_text(result: dict[str, Any], metric: str) -> str:
    """What the critic reads about where time went: the case with the most headroom (its
    numbers against the bound, its capacity figures, its simulation time), with the full
    profile when the evaluation kept that case's; and every case's simulation time."""
    from traces.metrics import BOUND_KEYS, METRICS, metric_value

    case = headroom_case(result, metric)
    if case is None:
        return "Where the time went: no verified case."
    name = case["name"]
    value = metric_value(metric, case["stats"]) if metric in METRICS else None
    bound = (case.get("bounds") or {}).get(BOUND_KEYS.get(metric, ""))
    key = METRICS[metric].fraction_key if metric in METRICS else None
    fraction = (case.get("bound_fractions") or {}).get(key) if key else None
    head = f"Case with the most headroom: {name}: {metric} {prompts.num(value)}"
    if bound is not None:
        head += f" of a bound {prompts.num(bound)}"
    if fraction is not None:
        head += f" ({fraction:.0%} of the bound)"
    summary = case.get("profile_summary") or {}
    figures = ", ".join(f"{k} {prompts.num(v)}" for k, v in summary.items())
    lines = [head + (f"; {figures}" if figures else "")]
    kept = result.get("profile") or {}
    if kept.get("case") == name:
        lines.append(f"Where the time went on {name}: {_profile_text(kept.get('profile') or {})}")
    from tools.policy_cost import calls_text

    costs = [f"{t['name']} {prompts.num(t.get('seconds'))} s"
             + (f" ({c})" if (c := calls_text(t.get("policy_calls"), t.get("ticks"))) else "")
             for t in (result.get("evaluation") or {}).get("traces") or []]
    if costs:
        lines.append("Simulation time per case: " + ", ".join(costs))
    return "\n".join(lines)


def _cost(ctx: RunContext, n: int) -> str:
    """Why the policy may be slow to simulate (its first unguarded time-varying read)."""
    from tools.policy_cost import first_time_varying_read

    read = first_time_varying_read(ctx.store.read_policy(n))
    if read is None or read.guarded:
        return "Simulation cost: event-driven (no unguarded time-varying read)."
    return (f"Simulation cost: line {read.line} reads {read.what} (`{read.text}`) with no early "
            "return before it, so the policy is called on every tick, not only on events.")


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
