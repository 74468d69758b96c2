"""The machine-readable forms of ``review --json`` and ``runs list --json``, as strict JSON.

`review_document` and `runs_document` build plain dicts from the views; `to_json` prints them
through `simulator.strict_json`, so a number that is not finite (a NaN score: e.g. a latency
objective when no pipeline completed) is ``null`` with a sibling ``<key>_note`` saying why, and
the text parses with any strict JSON parser.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agents.review.rundir import RunRow, RunView
from agents.review.summary import (
    costs_by_role,
    critic_reasons,
    describe,
    evaluation_timeline,
    event_usage,
    progress,
    rounds,
    totals,
    verdict_word,
)

# Why a score is not a number, for the keys that hold one (strict_json's default otherwise).
NOTES = {
    "score": "the objective's metric is not a finite number for this candidate (NaN: "
             "undefined, e.g. a latency when no pipeline completed; or infinite)",
    "best_score": "the best candidate's score is not a finite number (e.g. a latency when no "
                  "pipeline completed)",
}


def review_document(view: RunView) -> dict[str, Any]:
    """``review --json``: the run, spend, candidates, progress, costs by role and timeline."""
    best = view.best()
    candidates = []
    for c in view.candidates:
        accepted, reasons = critic_reasons(view, c)
        candidates.append({"candidate": c.n, "iteration": c.iteration, "status": c.status,
                           "reason": c.reason, "damaged": bool(c.damage), "damage": c.damage,
                           "score": c.score, "accepted": accepted,
                           "verdict": verdict_word(view, c), "reasons": reasons,
                           "summary": c.event.field("summary") if c.event else None})
    return {
        "run": view.run.model_dump(),
        "path": str(view.path),
        "warnings": view.warnings,
        "spent": asdict(totals(view.run, view)),
        "best_candidate": best.n if best else None,
        "candidates": candidates,
        "progress": [asdict(p) for p in progress(view)],
        "costs_by_role": [asdict(r) | {"tokens": r.tokens} for r in costs_by_role(view)],
        "rounds": [asdict(r) for r in rounds(view)],
        "evaluations": [asdict(s) for s in evaluation_timeline(view)],
        "timeline": [{"seq": e.seq, "elapsed_s": e.elapsed_s, "iteration": e.iteration,
                      "role": e.role, "type": e.type, "what": describe(e, 400),
                      "usage": event_usage(e)} for e in view.events],
    }


def runs_document(rows: list[RunRow]) -> list[dict[str, Any]]:
    """``runs list --json``: one object per run folder; an unreadable one has ``error``."""
    return [_row(row) for row in rows]


def to_json(document: Any) -> str:
    """The document as strict JSON text, one trailing newline."""
    from simulator.strict_json import dumps

    return dumps(document, NOTES, indent=1, default=str) + "\n"


def _row(row: RunRow) -> dict[str, Any]:
    if row.run is None:
        return {"run_id": row.name, "path": str(row.path), "error": row.problem}
    run, spent = row.run, totals(row.run)
    return {"run_id": run.run_id, "path": str(row.path), "created": run.created,
            "goal": run.goal, "objective_summary": run.objective_text, "suite": run.suite,
            "status": run.status, "stop_reason": run.stop_reason,
            "best_candidate": run.best_candidate, "accepted_candidate": run.accepted_candidate,
            "best_score": row.best_score, "baseline_score": run.baseline_score,
            "iterations": spent.iterations, "tokens": spent.tokens, "usd": spent.usd,
            "seconds": spent.seconds, "warnings": row.warnings}
