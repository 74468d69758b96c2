"""Eudoxia's statistics: `SimulatorStats`, `PipelineStats`, `adjusted_latency` (spec §12)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from simulator.workload import Priority

DEFAULT_WEIGHTS = {Priority.QUERY: 10, Priority.INTERACTIVE: 5, Priority.BATCH_PIPELINE: 1}


class PipelineStats(NamedTuple):
    """Arrivals, completions, timeouts and latency of one priority class (or all)."""

    arrival_count: int
    completion_count: int
    timeout_count: int
    mean_latency_seconds: float
    p99_latency_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The five fields, in Eudoxia's order."""
        return {
            "arrival_count": self.arrival_count,
            "completion_count": self.completion_count,
            "timeout_count": self.timeout_count,
            "mean_latency_seconds": self.mean_latency_seconds,
            "p99_latency_seconds": self.p99_latency_seconds,
        }


def compute_pipeline_stats(
    arrivals: int, latencies_ticks: list[int], timeouts: int, tps: float
) -> PipelineStats:
    """Eudoxia's per-class numbers: numpy mean and 99th percentile of latency ticks / tps."""
    # numpy.float64 values, as Eudoxia returns them (a float subclass)
    mean: float = float("nan")
    p99: float = float("nan")
    if latencies_ticks:
        mean = np.mean(latencies_ticks) / tps  # type: ignore[assignment]
        p99 = np.percentile(latencies_ticks, 99) / tps  # type: ignore[assignment]
    return PipelineStats(arrivals, len(latencies_ticks), timeouts, mean, p99)


class SimulatorStats(NamedTuple):
    """Everything Eudoxia reports about a run."""

    pipelines_created: int
    containers_completed: int
    throughput: float
    p99_latency: float
    assignments: int
    suspensions: int
    failures: int
    failure_error_counts: dict[str, int]
    mean_memory_allocated_percent: float
    mean_memory_consumed_percent: float
    pipelines_all: PipelineStats
    pipelines_query: PipelineStats
    pipelines_interactive: PipelineStats
    pipelines_batch: PipelineStats

    def to_dict(self) -> dict[str, Any]:
        """Exactly Eudoxia's regression keys (the memory means are not part of it)."""
        return {
            "pipelines_created": self.pipelines_created,
            "containers_completed": self.containers_completed,
            "throughput": self.throughput,
            "p99_latency": self.p99_latency,
            "assignments": self.assignments,
            "suspensions": self.suspensions,
            "failures": self.failures,
            "failure_error_counts": dict(self.failure_error_counts),
            "pipelines_all": self.pipelines_all.to_dict(),
            "pipelines_query": self.pipelines_query.to_dict(),
            "pipelines_interactive": self.pipelines_interactive.to_dict(),
            "pipelines_batch": self.pipelines_batch.to_dict(),
        }

    def by_priority(self) -> dict[Priority, PipelineStats]:
        """Per-class stats keyed by Priority."""
        return {
            Priority.QUERY: self.pipelines_query,
            Priority.INTERACTIVE: self.pipelines_interactive,
            Priority.BATCH_PIPELINE: self.pipelines_batch,
        }

    def adjusted_latency(
        self,
        weights: dict[Priority, float] | None = None,
        divide_by_completion_rate: bool = True,
        unfinished_penalty_seconds: float | None = None,
    ) -> float:
        """Priority-weighted mean latency, optionally penalising unfinished pipelines (§12.2)."""
        assert not (divide_by_completion_rate and unfinished_penalty_seconds is not None), (
            "pass divide_by_completion_rate=False together with unfinished_penalty_seconds"
        )
        if self.pipelines_all.completion_count == 0 and unfinished_penalty_seconds is None:
            return math.inf
        table: dict[Priority, float] = dict(DEFAULT_WEIGHTS) if weights is None else weights
        weight_sum = 0.0
        latency_sum = 0.0
        arrivals = 0
        completions = 0
        for prio, st in self.by_priority().items():
            w = table.get(prio, 1)
            arrivals += st.arrival_count
            completions += st.completion_count
            if st.completion_count > 0:
                weight_sum += w * st.completion_count
                latency_sum += w * st.completion_count * st.mean_latency_seconds
            unfinished = st.arrival_count - st.completion_count
            if unfinished_penalty_seconds is not None and unfinished > 0:
                weight_sum += w * unfinished
                latency_sum += w * unfinished * unfinished_penalty_seconds
        assert arrivals == self.pipelines_all.arrival_count
        adjusted = latency_sum / weight_sum
        if divide_by_completion_rate:
            adjusted /= completions / arrivals
        return adjusted

    def cli_adjusted_latency(self, max_job_seconds: float) -> float:
        """The adjusted latency `eudoxia run` prints (penalty form when deadlines are on)."""
        if max_job_seconds > 0:
            return self.adjusted_latency(
                divide_by_completion_rate=False, unfinished_penalty_seconds=2 * max_job_seconds
            )
        return self.adjusted_latency()


# Why a figure of `SimulationResult.stats_json` is not a finite number, for strict JSON output
# (`simulator.strict_json`): the sibling ``<key>_note``.
NOT_FINITE_NOTES = {
    "mean_latency_seconds": "no pipeline of this class completed",
    "p99_latency_seconds": "no pipeline of this class completed",
    "adjusted_latency": "no pipeline completed (Eudoxia divides by the completion rate)",
    "adjusted_latency_penalised": "no pipeline completed and the params set no max_job_seconds",
    "p99_latency": "no container completed",
    "mean_memory_allocated_percent": "no tick was simulated",
    "mean_memory_consumed_percent": "no tick was simulated",
    "median_latency_seconds": "no pipeline completed",
}

