"""How the tools rank, describe and bound a score by the run's objective
(`tools.context.RunObjective`; the metrics themselves: `traces.metrics`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from traces.metrics import BOUND_KEYS, METRICS

if TYPE_CHECKING:
    from tools.context import RunObjective


def describe_score(objective: RunObjective) -> str:
    """``median completed pipelines (higher is better)``: what a score by ``objective`` is, with
    what a trace whose run fails counts where it counts one."""
    m = METRICS[objective.metric]
    better = "higher" if objective.direction == "maximize" else "lower"
    text = f"{objective.aggregate} {m.label} ({better} is better)"
    if objective.failed_case_value is not None:
        text += f"; a trace whose run fails counts {objective.failed_case_value:g}"
    return text


def rank_key(objective: RunObjective, value: float | None) -> float:
    """Sort key that puts the best score by ``objective`` first (missing or NaN last)."""
    if value is None or math.isnan(value):
        return math.inf
    return -value if objective.direction == "maximize" else value


def relative_gap(score: float, baseline: float, *, higher_is_better: bool = True) -> float | None:
    """The one definition of "gap": how much better ``score`` is than the best baseline's, as a
    fraction of the baseline (> 0: better; for a lower-is-better metric, lower is better).
    None when the baseline is 0 (no fraction of it means anything)."""
    if not baseline:
        return None
    gap = (score - baseline) / abs(baseline)
    return gap if higher_is_better else -gap


def versus(objective: RunObjective, a: float, b: float) -> int:
    """1 if score ``a`` beats ``b`` by ``objective``, -1 if it loses, 0 on a tie (NaN never
    wins)."""
    if math.isnan(a) or math.isnan(b):
        return int(math.isnan(b)) - int(math.isnan(a))
    return 1 if objective.better(a, b) else -1 if objective.better(b, a) else 0


def bound_score(objective: RunObjective, bounds: Mapping[str, Mapping[str, Any]]
                ) -> dict[str, Any]:
    """The bound of the objective's figure: per case the metric's bound with the penalty of the
    pipelines no policy can complete, then the objective's aggregate of those (None where the
    metric has no bound, or some case has none)."""
    key = BOUND_KEYS.get(objective.metric)
    per: dict[str, float] = {}
    for case, b in bounds.items():
        value = b.get(key) if key else None
        if value is None:
            return {"score": None, "per_trace": {}}
        per[case] = objective.penalised(float(value), float(b.get("min_unfinished_pipelines", 0)))
    return {"score": objective.combine(list(per.values())) if per else None, "per_trace": per}


def bound_share(objective: RunObjective, score: float | None, bound: float | None) -> float | None:
    """``score`` as a fraction of its ``bound`` (1 = as good as possible): score / bound when
    maximizing, bound / score when minimizing; None when either is missing or zero."""
    if score is None or bound is None or not score or not bound:
        return None
    return score / bound if objective.direction == "maximize" else bound / score
