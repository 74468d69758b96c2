"""What every tool needs to know about the run it serves: the suite, the sandbox, the objective,
the archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tools.drafts import DraftBook
from traces.metrics import SCORE_METRICS

if TYPE_CHECKING:
    from sandbox.backend import Backend, Limits
    from sandbox.protocol import EvaluationReport


class RunObjective(Protocol):
    """The run's objective as the tools read it (`agents.objective.Objective` is one; the tools
    take it from the layer above, they never import it): the metric and how cases combine, one
    case's figure, which way is better, and what a failed run counts."""

    @property
    def metric(self) -> str: ...

    @property
    def aggregate(self) -> str: ...

    @property
    def direction(self) -> str | None: ...

    @property
    def failed_case_value(self) -> float | None: ...

    @property
    def summary(self) -> str: ...

    def case_value(self, case: Any) -> float:
        """One case's figure from its verified statistics."""
        ...

    def combine(self, values: list[float]) -> float | None:
        """The cases' figures as one score (the objective's aggregate)."""
        ...

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        ...

    def penalised(self, value: float, unfinished: float) -> float:
        """``value`` with the objective's penalty for ``unfinished`` pipelines."""
        ...

    def count_failed_runs(self, report: EvaluationReport) -> EvaluationReport:
        """``report`` with its failed runs counted, where the objective counts them."""
        ...

    def failed_run_text(self, case: str, reason: str) -> str:
        """``x16-seed61: run failed (...) - counts 720 s``."""
        ...


@dataclass
class ToolContext:
    """The run a set of tools serves.

    Tools only ever use the *search* part of ``suite``; the held-out part is never reachable
    from them. ``objective`` is what a score means (the run's; an agent sets it once the run
    has chosen one). ``run_dir`` is the run directory (docs/run-directory.md) the archive tools
    read.
    """

    suite: str
    backend: Backend
    limits: Limits
    objective: RunObjective
    run_dir: Path | None = None
    baselines: tuple[str, ...] = ("naive", "priority", "priority_pool")
    max_quick_cases: int = 3
    drafts: DraftBook = field(default_factory=DraftBook)

    def __post_init__(self) -> None:
        if self.metric not in SCORE_METRICS:
            raise ValueError(
                f"unknown metric {self.metric!r}; expected one of {', '.join(SCORE_METRICS)}")
        if self.max_quick_cases < 1:
            raise ValueError(f"max_quick_cases must be at least 1, got {self.max_quick_cases}")
        if self.run_dir is not None:
            self.run_dir = Path(self.run_dir)
            if self.drafts.run_dir is None:
                self.drafts.run_dir = self.run_dir

    @property
    def metric(self) -> str:
        """The objective's metric (the figure one trace is scored by)."""
        return self.objective.metric
