"""The one metric vocabulary: every figure a score, a constraint, a tool or a review reads from
one case's statistics (the JSON `policyforge simulate --json` prints, as verified by the host).

Each `Metric` says what it is called, which way is better, how it reads a case's statistics, and
which bound caps it per trace (`traces.bounds`). The score metrics are the sandbox report's
aggregates (their medians over a suite's cases); the per-class metrics and ``starved_classes``
serve constraints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Stats = Mapping[str, Any]

# Priority class -> its statistics key (``all`` is every pipeline).
CLASSES = {"query": "pipelines_query", "interactive": "pipelines_interactive",
           "batch": "pipelines_batch", "all": "pipelines_all"}


@dataclass(frozen=True)
class Metric:
    """One figure of a case's statistics."""

    name: str
    label: str
    higher_is_better: bool
    read: Callable[[Stats], float]
    bound_key: str | None = None  # the `Bounds` field that caps it on each trace
    fraction_key: str | None = None  # its key in an evaluation's ``bound_fractions``
    score: bool = False  # may be an objective's score (and is one of the report's aggregates)

    def value(self, stats: Stats) -> float:
        """This metric of one case's statistics."""
        return float(self.read(stats))


def _class_field(key: str, field: str) -> Callable[[Stats], float]:
    return lambda s: float(s[key][field])


def _rate(key: str) -> Callable[[Stats], float]:
    def rate(s: Stats) -> float:
        arrived = s[key]["arrival_count"]
        return s[key]["completion_count"] / arrived if arrived else 1.0
    return rate


def _p99_spread(s: Stats) -> float:
    """The largest class p99 latency over the smallest, among classes that completed work (1
    with fewer than two such classes; infinite when the smallest is 0)."""
    p99 = [s[k]["p99_latency_seconds"] for k in ("pipelines_query", "pipelines_interactive",
                                                  "pipelines_batch")
           if s[k]["completion_count"] > 0]
    if len(p99) < 2:
        return 1.0
    low = min(p99)
    return max(p99) / low if low > 0 else math.inf


def _min_class_rate(s: Stats) -> float:
    """The fairness floor: the lowest completion rate among classes with arrivals (1 without)."""
    return min((_rate(k)(s) for k in ("pipelines_query", "pipelines_interactive",
                                       "pipelines_batch") if s[k]["arrival_count"] > 0),
               default=1.0)


def _starved(s: Stats) -> float:
    return float(sum(1 for k in ("pipelines_query", "pipelines_interactive", "pipelines_batch")
                     if s[k]["arrival_count"] > 0 and s[k]["completion_count"] == 0))


def _table() -> dict[str, Metric]:
    # The score metrics in the order the sandbox report has always listed its aggregates.
    metrics = [
        Metric("throughput", "container throughput (containers/s)", True,
               lambda s: s["throughput"], bound_key="max_container_throughput",
               fraction_key="throughput", score=True),
        # its bound is the floor of the score itself (`traces.bounds`), its fraction the floor
        # over the score
        Metric("adjusted_latency", "adjusted latency (s)", False,
               lambda s: s["adjusted_latency"], bound_key="min_adjusted_latency",
               fraction_key="adjusted_latency", score=True),
        # Eudoxia's CLI form: unfinished pipelines at 2 x max_job_seconds (a deadline suite's
        # latency); a result from before the field existed has no value (NaN)
        Metric("adjusted_latency_penalised",
               "adjusted latency, unfinished pipelines at 2 x max_job_seconds (s)", False,
               lambda s: s.get("adjusted_latency_penalised", math.nan),
               bound_key="min_adjusted_latency_penalised",
               fraction_key="adjusted_latency_penalised", score=True),
        Metric("completed_pipelines", "completed pipelines", True,
               lambda s: s["pipelines_all"]["completion_count"],
               bound_key="max_completed_pipelines", fraction_key="completed_pipelines",
               score=True),
        # failed or never finished: what a per-pipeline penalty counts (`Objective`)
        Metric("unfinished_pipelines", "pipelines failed or unfinished", False,
               lambda s: s["pipelines_all"]["arrival_count"]
               - s["pipelines_all"]["completion_count"],
               bound_key="min_unfinished_pipelines"),
        Metric("starved_classes", "priority classes with arrivals and no completion", False,
               _starved),
        Metric("min_class_completion_rate",
               "lowest completion rate of a priority class with arrivals", True,
               _min_class_rate),
        Metric("class_p99_spread", "largest class p99 latency over the smallest", False,
               _p99_spread),
    ]
    for name, key in CLASSES.items():
        metrics += [
            Metric(f"{name}_completed", f"{name} pipelines completed", True,
                   _class_field(key, "completion_count")),
            Metric(f"{name}_completion_rate", f"{name} completion rate", True, _rate(key)),
            Metric(f"{name}_mean_latency_s", f"{name} mean latency (s)", False,
                   _class_field(key, "mean_latency_seconds")),
            Metric(f"{name}_p99_latency_s", f"{name} p99 latency (s)", False,
                   _class_field(key, "p99_latency_seconds")),
        ]
    return {m.name: m for m in metrics}


METRICS: dict[str, Metric] = _table()
SCORE_METRICS = tuple(name for name, m in METRICS.items() if m.score)
# The bound of each metric per trace (a ceiling when higher is better, else a floor).
BOUND_KEYS = {name: m.bound_key for name, m in METRICS.items() if m.bound_key}


def metric_value(name: str, stats: Stats) -> float:
    """Metric ``name`` of one case's statistics; `KeyError` for an unknown name."""
    return METRICS[name].value(stats)


def best_baseline(scores: Mapping[str, float | None], *,
                  higher_is_better: bool) -> tuple[str | None, float | None]:
    """The baseline with the best score (the first of equals), and that score.

    Baselines without a score (None or NaN) never win; with none left, ``(None, None)``.
    """
    up = higher_is_better
    best: tuple[str | None, float | None] = (None, None)
    for name, score in scores.items():
        if score is None or math.isnan(score):
            continue
        if best[1] is None or (score > best[1] if up else score < best[1]):
            best = (name, score)
    return best
