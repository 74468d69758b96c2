"""The objective's metric on one case's statistics, its direction, and its bound."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

# metric -> (what to call it, higher is better, the key of its fraction of the bound)
METRICS: dict[str, tuple[str, bool, str]] = {
    "completed_pipelines": ("completed pipelines", True, "completed_pipelines"),
    "throughput": ("container throughput (containers/s)", True, "throughput"),
    "adjusted_latency": ("adjusted latency (s)", False, "latency"),
}
# The bound that caps each metric per trace (adjusted latency has none, only per-pipeline floors).
BOUND_KEYS = {"completed_pipelines": "max_completed_pipelines",
              "throughput": "max_container_throughput"}


def metric_value(metric: str, stats: dict[str, Any]) -> float:
    """The metric of one case's statistics (the verified stats dict of an evaluation)."""
    from sandbox.evaluation import AGGREGATES

    return float(AGGREGATES[metric](stats))


def higher_is_better(metric: str) -> bool:
    """True for completed pipelines and throughput, False for adjusted latency."""
    return METRICS[metric][1]


def describe(metric: str) -> str:
    """``completed pipelines (higher is better)``."""
    label, up, _ = METRICS[metric]
    return f"{label} ({'higher' if up else 'lower'} is better)"


def bound_fraction_key(metric: str) -> str:
    """The key of ``bound_fractions`` that belongs to ``metric``."""
    return METRICS[metric][2]


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


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that exist, or None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None
