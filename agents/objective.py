"""What a run optimises: the `Objective` (metric, direction, constraints, suite) and its metrics.

Every metric is read from one case's statistics (the JSON `policyforge simulate --json` prints,
as verified by the host); a suite's score is the median over its cases. The default objective is
the paper's: the most completed pipelines, with no priority class starved on any case.
"""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sandbox.evaluation import AGGREGATES

Stats = Mapping[str, Any]

CLASSES = {"query": "pipelines_query", "interactive": "pipelines_interactive",
           "batch": "pipelines_batch", "all": "pipelines_all"}


class ObjectiveError(Exception):
    """A bad objective file or field; the message names the file and field."""


def _class_metric(key: str, field: str) -> Callable[[Stats], float]:
    return lambda s: float(s[key][field])


def _rate(key: str) -> Callable[[Stats], float]:
    def rate(s: Stats) -> float:
        arrived = s[key]["arrival_count"]
        return s[key]["completion_count"] / arrived if arrived else 1.0
    return rate


def _starved(s: Stats) -> float:
    return float(sum(1 for k in ("pipelines_query", "pipelines_interactive", "pipelines_batch")
                     if s[k]["arrival_count"] > 0 and s[k]["completion_count"] == 0))


# The three score metrics are the sandbox report's aggregates (one definition for both).
def _aggregate(get: Callable[[Stats], Any]) -> Callable[[Stats], float]:
    return lambda s: float(get(s))


METRICS: dict[str, Callable[[Stats], float]] = {
    name: _aggregate(get) for name, get in AGGREGATES.items()}
METRICS["starved_classes"] = _starved
for _name, _key in CLASSES.items():
    METRICS[f"{_name}_completed"] = _class_metric(_key, "completion_count")
    METRICS[f"{_name}_completion_rate"] = _rate(_key)
    METRICS[f"{_name}_mean_latency_s"] = _class_metric(_key, "mean_latency_seconds")
    METRICS[f"{_name}_p99_latency_s"] = _class_metric(_key, "p99_latency_seconds")

SCORE_METRICS = ("completed_pipelines", "throughput", "adjusted_latency")
LOWER_IS_BETTER = {"adjusted_latency"} | {m for m in METRICS if m.endswith("latency_s")}


def metric_value(name: str, stats: Stats) -> float:
    """One metric of one case's statistics."""
    return METRICS[name](stats)


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
