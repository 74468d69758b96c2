"""The JSON forms of ``runs list`` and ``review``, and the scrubbing of secrets from a run view."""

from __future__ import annotations

from typing import Any


def secret_env_names(models: list[dict[str, Any]]) -> list[str]:
    names = []
    for per_role in models:
        for config in (per_role or {}).values():
            if isinstance(config, dict) and config.get("api_key_env"):
                names.append(str(config["api_key_env"]))
    return names


def scrubbed_view(view: Any) -> tuple[list[str], Any]:
    """The secrets to hide, and the view with them removed from every string it holds."""
    from agents.review.rundir import RunView, scrub, secret_values

    secrets = secret_values(secret_env_names([view.run.models]))
    if not secrets:
        return secrets, view
    return secrets, RunView.model_validate(scrub(view.model_dump(), secrets))


def run_row_json(row: Any) -> dict[str, Any]:
    from agents.review.summary import totals

    if row.run is None:
        return {"run_id": row.name, "path": str(row.path), "error": row.problem}
    run, spent = row.run, totals(row.run)
    return {"run_id": run.run_id, "path": str(row.path), "created": run.created,
            "goal": run.goal, "suite": run.suite, "status": run.status,
            "stop_reason": run.stop_reason, "best_candidate": run.best_candidate,
            "accepted_candidate": run.accepted_candidate, "best_score": row.best_score,
            "baseline_score": run.baseline_score, "iterations": spent.iterations,
            "tokens": spent.tokens, "usd": spent.usd, "seconds": spent.seconds}


def review_json(view: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from agents.review.summary import (
        costs_by_role,
        critic_reasons,
        describe,
        event_usage,
        progress,
        totals,
    )

    best = view.best()
    candidates = []
    for c in view.candidates:
        accepted, reasons = critic_reasons(view, c)
        candidates.append({"candidate": c.n, "iteration": c.iteration, "status": c.status,
                           "reason": (c.result or {}).get("reason"), "score": c.score,
                           "accepted": accepted, "reasons": reasons,
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
        "timeline": [{"seq": e.seq, "elapsed_s": e.elapsed_s, "iteration": e.iteration,
                      "role": e.role, "type": e.type, "what": describe(e, 400),
                      "usage": event_usage(e)} for e in view.events],
    }

