"""What the heuristic proposer learns from evaluating one policy on a set of cases.

The default objective: the most completed pipelines (the median over the cases), with no priority
class starved. A class is *starved* in a case when it had arrivals there but no completions; a
starved class (or a run error) fails the objective whatever the score.
"""

from __future__ import annotations

import statistics

from pydantic import BaseModel, ConfigDict

PRIORITY_CLASSES = ("QUERY", "INTERACTIVE", "BATCH_PIPELINE")


class CaseOutcome(BaseModel):
    """One case's result: completions by class, OOM kills, capacity use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: str
    completed: int = 0
    arrivals: int = 0
    completed_by_priority: dict[str, int] = {}
    arrivals_by_priority: dict[str, int] = {}
    oom_kills: int = 0
    containers_completed: int = 0
    idle_cpu_fraction: float = 0.0
    ram_allocated_fraction: float = 0.0
    ram_used_fraction: float = 0.0
    error: str | None = None

    @property
    def starved(self) -> list[str]:
        """Classes with arrivals but no completions in this case."""
        return [
            name
            for name in PRIORITY_CLASSES
            if self.arrivals_by_priority.get(name, 0) > 0
            and self.completed_by_priority.get(name, 0) == 0
        ]


class HeuristicFeedback(BaseModel):
    """The proposer's view of one evaluation: score, completion by class, OOMs, idle capacity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: float
    mean_completed: float
    objective_met: bool
    completion_by_priority: dict[str, float]
    oom_kills: float
    oom_kill_rate: float
    idle_cpu_fraction: float
    ram_allocated_fraction: float
    ram_used_fraction: float
    starved: list[str]
    errors: list[str]
    verdict_hint: str
    cases: list[CaseOutcome]
    # the run objective's score, turned so that larger is better (its negation when the
    # objective minimizes, e.g. a latency); None: rank by the median completions
    objective_rank: float | None = None

    def fitness(self) -> tuple[bool, float, float]:
        """Sort key, larger is better: objective met, then the objective's score (else the
        median completions), then mean completions."""
        rank = self.score if self.objective_rank is None else self.objective_rank
        return (self.objective_met, rank, self.mean_completed)


def summarise(cases: list[CaseOutcome]) -> HeuristicFeedback:
    """Aggregate per-case outcomes into feedback (median score, rates, a verdict hint)."""
    ok = [c for c in cases if c.error is None]
    errors = [f"{c.case}: {c.error}" for c in cases if c.error is not None]
    completed = [float(c.completed) if c.error is None else 0.0 for c in cases]
    by_priority: dict[str, float] = {}
    for name in PRIORITY_CLASSES:
        arrived = sum(c.arrivals_by_priority.get(name, 0) for c in ok)
        if arrived:
            by_priority[name] = sum(c.completed_by_priority.get(name, 0) for c in ok) / arrived
    kills = sum(c.oom_kills for c in ok)
    started = kills + sum(c.containers_completed for c in ok)
    starved = [f"{c.case}:{name}" for c in ok for name in c.starved]
    n = max(1, len(ok))
    feedback = HeuristicFeedback(
        score=statistics.median(completed) if completed else 0.0,
        mean_completed=statistics.fmean(completed) if completed else 0.0,
        objective_met=bool(cases) and not errors and not starved,
        completion_by_priority=by_priority,
        oom_kills=kills / n,
        oom_kill_rate=kills / started if started else 0.0,
        idle_cpu_fraction=sum(c.idle_cpu_fraction for c in ok) / n,
        ram_allocated_fraction=sum(c.ram_allocated_fraction for c in ok) / n,
        ram_used_fraction=sum(c.ram_used_fraction for c in ok) / n,
        starved=starved,
        errors=errors,
        verdict_hint="",
        cases=cases,
    )
    return feedback.model_copy(update={"verdict_hint": verdict_hint(feedback)})


def verdict_hint(fb: HeuristicFeedback) -> str:
    """A few sentences on what the numbers suggest, for transcripts and the next proposal."""
    notes = [f"median {fb.score:g} completed pipelines (mean {fb.mean_completed:.1f})"]
    if fb.errors:
        notes.append(f"run errors: {'; '.join(fb.errors[:3])}")
    if fb.starved:
        notes.append(f"objective failed, starved: {', '.join(fb.starved[:6])}")
    if fb.oom_kill_rate > 0.02:
        notes.append(
            f"{fb.oom_kills:.1f} OOM kills per case ({fb.oom_kill_rate:.0%} of containers): "
            "start larger or grow retries faster"
        )
    elif fb.idle_cpu_fraction > 0.25:
        notes.append(
            f"{fb.idle_cpu_fraction:.0%} of CPU idle while ready work waited and few OOMs: "
            "smaller slices would fit more containers"
        )
    weak = [f"{k} {v:.0%}" for k, v in fb.completion_by_priority.items() if v < 0.5]
    if weak:
        notes.append(f"low completion: {', '.join(weak)}")
    return "; ".join(notes) + "."
