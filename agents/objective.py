"""What a run optimises: the `Objective` (metric, direction, constraints, suite) and its metrics.

Every metric is read from one case's statistics (the JSON `policyforge simulate --json` prints,
as verified by the host); a suite's score is the median over its cases. The default objective is
the paper's: the most completed pipelines, with no priority class starved on any case.
"""

from __future__ import annotations

import statistics
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.errors import AgentError
from traces.metrics import METRICS, Stats, metric_value


class ObjectiveError(AgentError):
    """A bad objective file or field; the message names the file and field."""


LOWER_IS_BETTER = {name for name, m in METRICS.items() if not m.higher_is_better}


class Constraint(BaseModel):
    """A bound on one metric, e.g. ``query_p99_latency_s <= 30`` over the median of the cases."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    op: Literal["<=", ">="]
    value: float
    over: Literal["median", "every"] = "median"

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(sorted(METRICS))}")
        return v

    def check(self, per_case: list[Stats]) -> tuple[bool, str]:
        """Whether it holds on these cases, and a sentence with the numbers."""
        values = [metric_value(self.metric, s) for s in per_case]
        if not values:
            return False, f"{self.describe()}: no verified case"
        ok = (lambda v: v <= self.value) if self.op == "<=" else (lambda v: v >= self.value)
        if self.over == "every":
            bad = sum(1 for v in values if not ok(v))
            worst = max(values) if self.op == "<=" else min(values)
            return bad == 0, (f"{self.describe()}: holds on {len(values) - bad} of "
                              f"{len(values)} cases (worst {_fmt(worst)})")
        med = statistics.median(values)
        return ok(med), f"{self.describe()}: median {_fmt(med)}"

    def describe(self) -> str:
        """``query_p99_latency_s <= 30 (median)``."""
        return f"{self.metric} {self.op} {_fmt(self.value)} ({self.over})"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


DEFAULT_CONSTRAINTS = [Constraint(metric="starved_classes", op="<=", value=0, over="every")]


class Objective(BaseModel):
    """The metric to improve, its direction, the constraints and where it is measured."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["completed_pipelines", "throughput", "adjusted_latency"] = (
        "completed_pipelines")
    direction: Literal["maximize", "minimize"] | None = None
    constraints: list[Constraint] = Field(default_factory=lambda: list(DEFAULT_CONSTRAINTS))
    suite: str = "small"
    margin: float = Field(default=0.05, ge=0.0, le=10.0,
                          description="relative improvement over the best baseline's median")
    allow_true_sizes: bool = Field(
        default=False,
        description="whether a policy may read an operator's true resource profile")
    summary: str = ""

    @model_validator(mode="after")
    def _direction(self) -> Objective:
        if self.direction is None:
            self.direction = "minimize" if self.metric in LOWER_IS_BETTER else "maximize"
        if not self.summary:
            self.summary = (f"{self.direction} the median {self.metric} on {self.suite}"
                            + "".join(f"; {c.describe()}" for c in self.constraints))
        return self

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def needed(self, baseline: float) -> float:
        """The score a candidate must reach to beat ``baseline`` by the margin."""
        if self.direction == "maximize":
            return baseline * (1 + self.margin) if baseline > 0 else baseline + self.margin
        return baseline * (1 - self.margin)

    def score(self, per_case: list[Stats]) -> float | None:
        """The median of the objective's metric over the cases (None without any)."""
        values = [metric_value(self.metric, s) for s in per_case]
        return statistics.median(values) if values else None


def load_objective(path: str | Path) -> Objective:
    """An objective from a TOML or JSON file; `ObjectiveError` names the file and field."""
    import json

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ObjectiveError(f"cannot read objective file {p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ObjectiveError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: "
                             f"{exc}") from None
    try:
        return Objective.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ObjectiveError(f"{p}: field {where}: {first['msg']}") from None
