"""What every tool needs to know about the run it serves: the suite, the sandbox, the archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tools.drafts import DraftBook
from traces.metrics import SCORE_METRICS

if TYPE_CHECKING:
    from sandbox.backend import Backend, Limits


@dataclass
class ToolContext:
    """The run a set of tools serves.

    Tools only ever use the *search* part of ``suite``; the held-out part is never reachable
    from them. ``run_dir`` is the run directory (docs/run-directory.md) the archive tools read.
    """

    suite: str
    backend: Backend
    limits: Limits
    run_dir: Path | None = None
    metric: str = "completed_pipelines"
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
