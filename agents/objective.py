"""What a run optimises: the `Objective` (metric, direction, constraints, suite) and its metrics.

Every metric is read from one case's statistics (the JSON `policyforge simulate --json` prints,
as verified by the host); a suite's score is the objective's aggregate over its cases (the median
unless it says otherwise). A case whose run failed (`FailedRun`: the policy raised, made a
decision the simulator refuses, or ran out of time; `sandbox.evaluation` draws the line between
that and a trust failure) has no statistics: it fails the candidate, unless the objective's
``failed_case_value`` says what figure it counts instead. The default objective is the paper's:
the most completed pipelines, with no priority class starved on any case.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.errors import AgentError
from traces.metrics import METRICS, Stats, metric_value

if TYPE_CHECKING:
    from sandbox.protocol import EvaluationReport


class ObjectiveError(AgentError):
    """A bad objective file or field; the message names the file and field."""


LOWER_IS_BETTER = {name for name, m in METRICS.items() if not m.higher_is_better}


@dataclass(frozen=True)
class FailedRun:
    """A case whose run failed (the policy's own error, or the time limit: `sandbox.evaluation`),
    with why. It has no statistics; an objective with ``failed_case_value`` counts that figure."""

    reason: str


# One case as an objective scores it: the host's verified statistics, or its failed run.
ScoredCase = Stats | FailedRun


def case_outcomes(stats: Mapping[str, Stats],
                  failed_runs: Mapping[str, str]) -> dict[str, ScoredCase]:
    """Each case's verified statistics, and each failed run (case -> why) as a `FailedRun`."""
    return {**stats, **{case: FailedRun(why) for case, why in failed_runs.items()}}


def report_cases(report: EvaluationReport) -> dict[str, ScoredCase]:
    """An evaluation report's cases as its objective scores them: each verified case's
    statistics, each failed run it counted (`Objective.count_failed_runs`) as a `FailedRun`."""
    from sandbox.evaluation import counted_failed_runs

    verified = {t.name: t.stats for t in report.traces if t.stats is not None}
    return case_outcomes(verified, counted_failed_runs(report))


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

    metric: Literal["completed_pipelines", "throughput", "adjusted_latency",
                    "adjusted_latency_penalised"] = "completed_pipelines"
    aggregate: Literal["median", "mean", "geomean", "worst"] = Field(
        default="median",
        description="how a suite's cases make one score (and its bound: the same aggregate of "
                    "the per-case bounds): median, mean, geometric mean, or the worst case")
    direction: Literal["maximize", "minimize"] | None = None
    constraints: list[Constraint] = Field(default_factory=lambda: list(DEFAULT_CONSTRAINTS))
    suite: str = "small"
    margin: float = Field(default=0.05, ge=0.0, le=10.0,
                          description="relative improvement over the best baseline's median")
    allow_true_sizes: bool = Field(
        default=False,
        description="whether a policy may read an operator's true resource profile")
    penalise_unfinished: bool | None = Field(
        default=None,
        description="for adjusted_latency: count every unfinished pipeline at 2 x "
                    "max_job_seconds (Eudoxia's CLI form, adjusted_latency_penalised); default: "
                    "yes on a suite with deadlines (max_job_seconds > 0), no elsewhere")
    unfinished_penalty: float = Field(
        default=0.0, ge=0.0,
        description="a penalty per pipeline that failed or did not finish, in the metric's "
                    "units: added to each case's figure when minimizing, subtracted when "
                    "maximizing (its floor counts the pipelines no policy can complete)")
    failed_case_value: float | None = Field(
        default=None, allow_inf_nan=False,
        description="the figure a case whose run fails (the policy raises, makes a decision the "
                    "simulator refuses, or runs out of time) counts in the aggregate, instead of "
                    "failing the candidate; a trust failure (static-check errors, a forged or "
                    "unverifiable result, non-determinism, a sandbox limit) still fails it. Make "
                    "it no better than the worst figure a finished run can reach, or failing "
                    "would pay. Default: none, a failed run fails the candidate")
    target: float | None = Field(
        default=None,
        description="a median score acceptance also requires (at least it when maximizing, at "
                    "most it when minimizing), on the search and the held-out suite")
    target_bound_fraction: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="acceptance also requires the median score to reach this fraction of the "
                    "median bound (maximize: score >= f x bound; minimize: score <= bound / f)")
    summary: str = ""

    @model_validator(mode="after")
    def _direction(self) -> Objective:
        if self.direction is None:
            self.direction = "minimize" if self.metric in LOWER_IS_BETTER else "maximize"
        if self.aggregate == "geomean" and self.failed_case_value is not None \
                and not self.failed_case_value > 0:
            raise ValueError(f"failed_case_value must be positive with the geomean aggregate "
                             f"(got {_fmt(self.failed_case_value)}): a geometric mean is defined "
                             "over positive figures only")
        if not self.summary:
            self.summary = (f"{self.direction} the {self.aggregate} {self.metric}"
                            + (f" with {_fmt(self.unfinished_penalty)} per unfinished pipeline"
                               if self.unfinished_penalty else "")
                            + f" on {self.suite}"
                            + (f"; a case whose run fails counts "
                               f"{_fmt(self.failed_case_value)}{self.unit()}"
                               if self.failed_case_value is not None else "")
                            + "".join(f"; {c.describe()}" for c in self.constraints)
                            + "".join(f"; {t}" for t in self.target_texts()))
        return self

    def on_suite(self, deadlines: bool) -> Objective:
        """This objective on a suite with or without deadlines: ``adjusted_latency`` becomes
        ``adjusted_latency_penalised`` where unfinished pipelines are to be penalised (on a
        deadline suite unless ``penalise_unfinished = false``), so the figure optimised is the
        one Eudoxia's CLI prints there."""
        penalise = self.penalise_unfinished if self.penalise_unfinished is not None else deadlines
        if self.metric != "adjusted_latency" or not penalise:
            return self
        data = self.model_dump()
        data.update(metric="adjusted_latency_penalised", summary="")
        return Objective.model_validate(data)

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def target_texts(self) -> list[str]:
        """``target >= 150``, ``target >= 80% of the bound``: what acceptance also requires."""
        op = ">=" if self.direction == "maximize" else "<="
        out = [f"target {op} {_fmt(self.target)}"] if self.target is not None else []
        if self.target_bound_fraction is not None:
            out.append(f"target {self.target_bound_fraction:.0%} of the bound")
        return out

    def target_checks(self, score: float, bound: float | None) -> list[tuple[bool, str]]:
        """Each target with whether ``score`` (a median) meets it; a fraction of a bound that
        is not known cannot be met."""
        maximize = self.direction == "maximize"
        out = []
        if self.target is not None:
            ok = score >= self.target if maximize else score <= self.target
            op = ">=" if maximize else "<="
            word = "meets" if ok else "misses"
            out.append((ok, f"{word} the target {op} {_fmt(self.target)} ({_fmt(score)})"))
        f = self.target_bound_fraction
        if f is not None:
            if bound is None or bound <= 0:
                out.append((False, f"misses the target {f:.0%} of the bound (no bound known)"))
            else:
                need = f * bound if maximize else bound / f
                ok = score >= need if maximize else score <= need
                op, word = (">=" if maximize else "<="), ("meets" if ok else "misses")
                text = (f"{word} the target {f:.0%} of the bound {_fmt(bound)}: "
                        f"{op} {_fmt(need)} ({_fmt(score)})")
                out.append((ok, text))
        return out

    def far_worse(self, a: float, b: float) -> bool:
        """Whether score ``a`` is worse than ``b`` by more than the margin (the cascade stops a
        candidate whose first case scores so far below the best baseline's)."""
        if self.direction == "maximize":
            return a < (b * (1 - self.margin) if b > 0 else b - self.margin)
        return a > (b * (1 + self.margin) if b > 0 else b + self.margin)

    def needed(self, baseline: float) -> float:
        """The score a candidate must reach to beat ``baseline`` by the margin."""
        if self.direction == "maximize":
            return baseline * (1 + self.margin) if baseline > 0 else baseline + self.margin
        return baseline * (1 - self.margin)

    def case_value(self, case: ScoredCase) -> float:
        """One case's figure: the metric, with the penalty per failed or unfinished pipeline; a
        failed run's is ``failed_case_value`` (`ObjectiveError` if the objective has none)."""
        if isinstance(case, FailedRun):
            if self.failed_case_value is None:
                raise ObjectiveError(f"this objective counts no failed run ({case.reason}); "
                                     "set failed_case_value to count one")
            return self.failed_case_value
        return self.penalised(metric_value(self.metric, case),
                              metric_value("unfinished_pipelines", case))

    def count_failed_runs(self, report: EvaluationReport) -> EvaluationReport:
        """``report`` as this objective scores it: with ``failed_case_value``, ``ok`` and its
        failed runs counted when nothing else failed (`sandbox.evaluation.count_failed_runs`: a
        trust failure still fails it); else unchanged."""
        from sandbox.evaluation import count_failed_runs

        if self.failed_case_value is None:
            return report
        return count_failed_runs(report, self.failed_case_value)

    def unit(self) -> str:
        """`` s`` for a metric in seconds, else nothing (for figures in sentences)."""
        return " s" if METRICS[self.metric].label.endswith("(s)") else ""

    def failed_run_text(self, case: str, reason: str) -> str:
        """``x16-seed61: run failed (the policy raised ...) - counts 720 s``."""
        value = self.case_value(FailedRun(reason))
        return f"{case}: run failed ({reason}) - counts {_fmt(value)}{self.unit()}"

    def penalised(self, value: float, unfinished: float) -> float:
        """``value`` with ``unfinished`` pipelines' penalty: worse in the objective's direction.
        The same rule turns a case's bound and its never-completable pipelines into the bound
        of its figure."""
        if not self.unfinished_penalty:
            return value
        sign = 1.0 if self.direction == "minimize" else -1.0
        return value + sign * self.unfinished_penalty * unfinished

    def score(self, per_case: Sequence[ScoredCase]) -> float | None:
        """The objective's figure over the cases, aggregated (None without any)."""
        return self.combine([self.case_value(s) for s in per_case])

    def combine(self, values: list[float]) -> float | None:
        """``values`` (one per case) as one figure: the objective's aggregate. The geometric mean
        of values that are not all positive is NaN (it is undefined), the worst of a maximized
        metric its minimum."""
        if not values:
            return None
        if self.aggregate == "median":
            return statistics.median(values)
        if self.aggregate == "mean":
            return statistics.fmean(values)
        if self.aggregate == "geomean":
            if any(not v > 0 for v in values):
                return math.nan
            return statistics.geometric_mean(values)
        return min(values) if self.direction == "maximize" else max(values)


def suite_objective(suite: str) -> Objective:
    """The objective suite ``suite`` is scored by (the default where it names none), in the
    form its deadlines call for (`Objective.on_suite`)."""
    from traces.suites import get_suite

    return Objective.model_validate({**get_suite(suite).objective, "suite": suite}).on_suite(
        has_deadlines(suite))


def has_deadlines(suite: str) -> bool:
    """Whether any search case of ``suite`` sets ``max_job_seconds > 0``."""
    from traces.suites import get_suite

    return any(float(c.params.get("max_job_seconds") or 0) > 0
               for c in get_suite(suite).search_cases())


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
