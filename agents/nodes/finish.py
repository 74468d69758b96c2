"""The ``finish`` step: why the run stopped, its best verified candidate, the final run.json."""

from __future__ import annotations

import statistics
from typing import Any

from agents.nodes.common import candidate_records
from agents.state import RunContext, RunState


def finish(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Why the run stopped, its best verified candidate, and the final run.json."""
    from agents.budget import Spend, exhausted

    accepted = state.get("accepted")
    spend = Spend(**state.get("spend", {})).model_copy(
        update={"seconds": ctx.store.transcript.elapsed()})
    if accepted is not None:  # with --until budget: the budget limit that ended the search
        status = "accepted"
        reason = (state.get("stop_reason") or exhausted(ctx.budget, spend) or "accepted"
                  if ctx.config.until == "budget" else "accepted")
    elif ctx.cancel is not None and ctx.cancel.is_set() and not state.get("stop_reason"):
        reason, status = "stopped", "stopped"
    else:
        reason = state.get("stop_reason") or exhausted(ctx.budget, spend) \
            or "stopped"
        status = "budget_exhausted" if reason.startswith("max_") else "failed"
    best = accepted if accepted is not None else state.get("best")
    records = candidate_records(state)
    scores = [r["score"] for r in records if r.get("score") is not None]
    ctx.store.update_run(status=status, stop_reason=reason, best_candidate=best,
                         accepted_candidate=accepted, spent=spend.model_dump(),
                         median_candidate_score=statistics.median(scores) if scores else None)
    ctx.event("run_finished", state, status=status, stop_reason=reason, best_candidate=best,
              accepted_candidate=accepted, spent=spend.model_dump())
    return {"stop_reason": reason, "best": best}
