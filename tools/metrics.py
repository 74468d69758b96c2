"""How the tools compare and describe a score metric (the metrics themselves: `traces.metrics`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from traces.metrics import METRICS


def higher_is_better(metric: str) -> bool:
    """True for completed pipelines and throughput, False for adjusted latency."""
    return METRICS[metric].higher_is_better


def describe(metric: str) -> str:
    """``completed pipelines (higher is better)``."""
    m = METRICS[metric]
    return f"{m.label} ({'higher' if m.higher_is_better else 'lower'} is better)"


def bound_fraction_key(metric: str) -> str:
    """The key of ``bound_fractions`` that belongs to ``metric``."""
    return str(METRICS[metric].fraction_key)


def sort_key(metric: str, value: float | None) -> float:
    """Sort key that puts the best value first for ``metric`` (missing values last)."""
    if value is None or math.isnan(value):
        return math.inf
    return -value if higher_is_better(metric) else value


def better(metric: str, a: float, b: float) -> int:
    """1 if ``a`` beats ``b`` on ``metric``, -1 if it loses, 0 on a tie (NaN never wins)."""
    if math.isnan(a) or math.isnan(b):
        return int(math.isnan(b)) - int(math.isnan(a))
    if a == b:
        return 0
    return 1 if (a > b) == higher_is_better(metric) else -1


def relative_gap(score: float, baseline: float, *, higher_is_better: bool = True) -> float | None:
    """The one definition of "gap": how much better ``score`` is than the best baseline's, as a
    fraction of the baseline (> 0: better; for a lower-is-better metric, lower is better).
    None when the baseline is 0 (no fraction of it means anything)."""
    if not baseline:
        return None
    gap = (score - baseline) / abs(baseline)
    return gap if higher_is_better else -gap


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that exist, or None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None
