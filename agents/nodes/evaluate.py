"""The ``evaluate`` step (no model): static checks, the sandbox on the search suite, host
verification, and the candidate's record."""

from __future__ import annotations

import time
from typing import Any

from agents import prompts
from agents.baselines import scored_baselines
from agents.nodes.common import baselines, candidate_records, objective_of
from agents.objective import FailedRun, Objective, ScoredCase, case_outcomes, report_cases
from agents.state import RunContext, RunState


def evaluate(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Static checks, sandbox run on the search suite, host verification; result stored."""
    return evaluate_candidate(state, ctx, next_number(state), in_round=False)


def next_number(state: RunState) -> int:
    """The number of the next candidate: one more than any given so far (a population's round
    numbers its candidates when they are proposed, so some numbers may have no record)."""
    given = [int(k) for k in (state.get("candidates") or {})]
    given += [int(k) for k in (state.get("branches") or {})]
    return max(given, default=0) + 1


def evaluate_candidate(state: RunState, ctx: RunContext, n: int, *,
                       in_round: bool) -> dict[str, Any]:
    """Candidate ``n`` (``state['pending']``) on the search suite: its record and result."""
    pending = state["pending"] or {}
    source = pending["source"]
    # A step cut short after its evaluation finished (a killed run, resumed) repeats only what
    # the transcript lacks: the result is read back, and no event is written twice.
    logged = _logged_events(ctx, n) if _finished(ctx, n, source) else set()
    ctx.store.write_policy(n, source)
    if "candidate" not in logged:
        ctx.event("candidate", state, candidate=n, author=pending.get("author"),
                  summary=pending.get("summary", ""), path=f"candidates/{n}/policy.py",
                  parent=pending.get("parent"), round=state.get("round") if in_round else None)
    objective = objective_of(state)
    result = run_evaluation(ctx, n, source, "search", objective)
    if result.get("cascade") is not None and "cascade" not in logged:
        ctx.event("cascade", state, candidate=n, **result["cascade"])
    record = _record(n, pending, result, objective)
    result["baseline"] = {k: v for k, v in (ctx.store.read_run().get("baseline") or {}).items()
                          if k in ("policy", "score")}
    ctx.store.write_result(n, result)  # now with the objective's score and per-trace scores
    if ctx.heuristic:
        # the proposer ranks candidates by what the run optimises, not only by completions
        feedback = _heuristic_feedback(result).model_copy(update={"objective_rank": record["rank"]})
        record["feedback"] = feedback.model_dump()
    if "evaluation" not in logged:
        ctx.event("evaluation", state, candidate=n, status=result["status"],
                  reason=result["reason"], score=result["score"],
                  aggregate=result["evaluation"].get("aggregate"),
                  bound_fractions=result["evaluation"].get("bound_fractions"),
                  failed_runs=result.get("failed_runs") or {},
                  verified=result["verified"], seconds=result["seconds"],
                  worker=result.get("worker"), started_s=result.get("started_s"))
    if not in_round:  # a population's round counts one iteration for all its candidates
        ctx.count_iteration()
    best = best_candidate(candidate_records(state) + [record])
    ctx.store.update_run(best_candidate=best, spent=ctx.caller.spend.model_dump())
    return {"candidates": {str(n): record}, "last": n, "pending": None, "best": best}


def run_evaluation(ctx: RunContext, n: int, source: str, part: str,
                   objective: Objective | None = None) -> dict[str, Any]:
    """Candidate ``n`` on a suite part: read back if it already finished, else run it (on the
    search suite with ``--cascade``: its smallest case first, the others only if it is not far
    below the best baseline there; see `_cascade`)."""
    from sandbox.evaluation import PolicyInput, counted_failed_runs, suite_inputs

    held_out = part != "search"
    done = ctx.store.read_result(n, held_out=held_out)
    if done is not None and done.get("source_sha256") == source_sha(source):
        # Finished, but the step that ran it was cut short (a resumed run): counted now, since
        # the spend of a step that did not finish is not in the checkpoint.
        if not done.get("counted_on_resume"):
            ctx.count_evaluation()
            done["counted_on_resume"] = True
            ctx.store.write_result(n, done, held_out=held_out)
        return done
    policy = PolicyInput(f"candidate {n}", source=source)
    cases = suite_inputs(ctx.config.suite, part)
    t0 = time.monotonic()
    cascade = None
    if part == "search" and ctx.config.cascade and objective is not None and len(cases) > 1:
        report, worker, started_s, cascade = _cascade(ctx, n, policy, cases, objective)
    else:
        report, worker, started_s = _batch(ctx, n, policy, cases, part, part)
    ctx.count_evaluation()
    report = objective.count_failed_runs(report) if objective is not None else report
    data = report.model_dump(mode="json")
    profile = data.pop("profile", None)
    per_trace = {t["name"]: t["stats"] for t in data["traces"] if t.get("stats")}
    failed = counted_failed_runs(report)
    # an evaluation whose failed runs the objective counts is ok; its reason names them
    reason = report.reason if objective is None or not failed else "; ".join(
        objective.failed_run_text(case, why) for case, why in failed.items())
    result = {"candidate": n, "part": part, "status": report.status, "reason": reason,
              "verified": report.status == "ok", "per_trace_stats": per_trace,
              "failed_runs": failed, "evaluation": data, "profile": profile,
              "source_sha256": source_sha(source), "seconds": round(time.monotonic() - t0, 3),
              "worker": worker, "started_s": started_s}
    if cascade is not None:
        result["cascade"] = cascade
        if cascade["stopped"] and report.status == "ok":
            result.update(status="screened", reason=cascade["reason"])
    result["score"] = None
    ctx.store.write_result(n, result, held_out=held_out)
    return result


def scored_cases(result: dict[str, Any]) -> dict[str, ScoredCase]:
    """A stored evaluation's cases as its objective scores them: each verified case's
    statistics, each counted failed run as a `FailedRun`."""
    return case_outcomes(result.get("per_trace_stats") or {}, result.get("failed_runs") or {})


def _finished(ctx: RunContext, n: int, source: str) -> bool:
    """Whether candidate ``n``'s search evaluation of ``source`` already finished."""
    done = ctx.store.read_result(n)
    return done is not None and done.get("source_sha256") == source_sha(source)


def _logged_events(ctx: RunContext, n: int) -> set[str]:
    """The kinds of event the transcript already has for candidate ``n``."""
    return {str(e.get("type")) for e in ctx.store.transcript.events()
            if e.get("candidate") == n}


def _batch(ctx: RunContext, n: int, policy: Any, cases: list[Any], part: str,
           lane: str) -> tuple[Any, int, float]:
    """One sandbox evaluation of ``cases`` on a free worker: (report, worker, started_s)."""
    from sandbox.evaluation import evaluate_policy

    profile = part == "search"
    worker = ctx.evaluations.begin(n, lane)  # waits for a free worker
    started_s = round(ctx.store.transcript.elapsed(), 3)
    try:
        if ctx.executor is None:
            report = evaluate_policy(policy, cases, ctx.backend, ctx.limits,
                                     suite=ctx.config.suite, part=part, profile=profile)
        else:
            from sandbox.backend import on_lane
            from sandbox.executor import EvaluationJob

            at_once = min(ctx.evaluations.workers, ctx.config.population)
            limits = ctx.limits if ctx.config.ray_address else on_lane(  # a local Ray: pinned
                ctx.limits, worker, at_once)
            report = ctx.executor.evaluate([EvaluationJob(
                key=f"{n}-{lane}", policy=policy, cases=tuple(cases), limits=limits,
                suite=ctx.config.suite, part=part, profile=profile)])[0]
    finally:
        ctx.evaluations.end(n, lane)
    return report, worker, started_s


def _cascade(ctx: RunContext, n: int, policy: Any, cases: list[Any],
             objective: Objective) -> tuple[Any, int, float, dict[str, Any]]:
    """The search suite in two stages: the smallest case (fewest trace bytes) first; a
    candidate that fails there, or scores below the best baseline's on it by more than the
    objective's margin, stops there; otherwise the other cases run and the first case's
    verified result is reused in the whole suite's report. The first stage is kept in
    ``candidates/<n>/cascade.json``, so a resumed run does not run it again."""
    from agents.judge import strongest_baseline
    from sandbox.evaluation import merge_reports
    from sandbox.protocol import EvaluationReport

    first_case = min(cases, key=lambda c: (len(c.trace_csv_text), c.name))
    sha = source_sha(policy.source)
    kept = ctx.store.read_cascade(n)
    if kept is not None and kept.get("source_sha256") == sha:
        first = EvaluationReport.model_validate(kept["report"])
        worker, started_s = kept["worker"], kept["started_s"]
    else:
        first, worker, started_s = _batch(ctx, n, policy, [first_case], "search", "search:first")
        ctx.store.write_cascade(n, {"source_sha256": sha, "report": first.model_dump(mode="json"),
                                    "worker": worker, "started_s": started_s})
    first = objective.count_failed_runs(first)
    case = report_cases(first).get(first_case.name)
    policies = scored_baselines(objective, baselines(ctx, "search"))
    name, base = strongest_baseline(objective, {p: {first_case.name: s[first_case.name]}
                                                for p, s in policies.items()
                                                if first_case.name in s})
    score = objective.score([case]) if case is not None else None
    failed = (f" ({objective.failed_run_text(first_case.name, case.reason)})"
              if isinstance(case, FailedRun) else "")
    decision: dict[str, Any] = {"case": first_case.name, "score": score,
                                "baseline_policy": name, "baseline_score": base,
                                "margin": objective.margin, "cases": len(cases)}
    others = len(cases) - 1
    if first.status != "ok" or score is None:
        decision.update(stopped=True, reason=f"cascade: {first.reason or 'no verified result'} "
                                             f"on {first_case.name}; not run on the other "
                                             f"{others} cases")
        return first, worker, started_s, decision
    if base is not None and objective.far_worse(score, base):
        decision.update(stopped=True, reason=(
            f"cascade: on {first_case.name} (the smallest search case) it scored {score:.4g}"
            f"{failed} against {name}'s {base:.4g}, more than the {objective.margin:.0%} margin "
            "worse; "
            f"not run on the other {others} cases"))
        return first, worker, started_s, decision
    rest, _, _ = _batch(ctx, n, policy, [c for c in cases if c is not first_case], "search",
                        "search")
    decision.update(stopped=False, reason=(
        f"cascade: on {first_case.name} it scored {score:.4g}{failed} against {name}'s "
        f"{prompts.num(base)}: run on the other {others} cases, its first result reused"))
    return merge_reports(first, rest, [c.name for c in cases]), worker, started_s, decision


def source_sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _record(n: int, pending: dict[str, Any], result: dict[str, Any],
            objective: Objective) -> dict[str, Any]:
    per = scored_cases(result) if result["status"] == "ok" else {}
    score = objective.score(list(per.values())) if per else None
    result["score"] = score
    result["per_trace"] = {c: objective.case_value(s) for c, s in per.items()}
    rank = None if score is None else (score if objective.direction == "maximize" else -score)
    return {"n": n, "status": result["status"], "reason": result["reason"], "score": score,
            "rank": rank, "per_trace": result["per_trace"], "summary": pending.get("summary", ""),
            "author": pending.get("author"), "parent": pending.get("parent"),
            "config": pending.get("config"), "accepted": False, "held_out": None,
            "verdict_line": result["reason"] or ""}


def best_candidate(records: list[dict[str, Any]]) -> int | None:
    """The best verified candidate: accepted first, then constraints met, then the score; of
    equals, the earliest (a later candidate with the same score never takes its place)."""
    scored = [r for r in records if r.get("rank") is not None]
    if not scored:
        return None
    return max(scored, key=lambda r: (bool(r.get("accepted")),
                                      bool(r.get("constraints_ok", True)), r["rank"],
                                      -int(r["n"])))["n"]


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
