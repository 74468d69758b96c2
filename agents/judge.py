"""The critic's rules: does a candidate beat the best baseline, on the median and on most cases,
and meet every constraint? Pure numbers in, a `Judgement` with its reasons out.

The critic model may add reasons and a hint, and may reject, but it cannot accept a candidate
these rules reject: acceptance is decided by numbers the host verified, never by a model's word.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from agents.objective import FailedRun, Objective, ScoredCase
from tools.metrics import relative_gap
from traces.metrics import best_baseline


class Judgement(BaseModel):
    """The rules' verdict on one candidate for one suite part, with the numbers behind it."""

    passes: bool
    score: float | None
    baseline_policy: str
    baseline_score: float | None
    needed: float | None
    wins: int
    cases: int
    gap: float | None  # tools.metrics.relative_gap of the score over the best baseline's
    reasons: list[str]


def baseline_scores(objective: Objective,
                    baselines: Mapping[str, Mapping[str, ScoredCase]]) -> dict[str, float | None]:
    """Each built-in policy's score (its aggregate over the cases) under ``objective``."""
    return {name: objective.score(list(per_case.values())) for name, per_case in baselines.items()}


def strongest_baseline(objective: Objective,
                       baselines: Mapping[str, Mapping[str, ScoredCase]]
                       ) -> tuple[str, float | None]:
    """The built-in policy with the best score under ``objective`` ("" if none), and that score."""
    name, score = best_baseline(baseline_scores(objective, baselines),
                                higher_is_better=objective.direction == "maximize")
    return name or "", score


def judge(objective: Objective, candidate: Mapping[str, ScoredCase],
          baselines: Mapping[str, Mapping[str, ScoredCase]], case_names: list[str],
          bound: float | None = None) -> Judgement:
    """Judge ``candidate`` (verified stats, or a failed run the objective counts, per case)
    against the baselines on ``case_names`` (and the objective's targets, a fraction of the
    suite part's median ``bound`` among them). Constraints are read on the cases that ran."""
    reasons: list[str] = []
    name, base = strongest_baseline(objective, baselines)
    missing = [c for c in case_names if c not in candidate]
    score = objective.score([candidate[c] for c in case_names if c in candidate])
    if missing or score is None or base is None:
        reasons.append(f"no verified result on {len(missing)} of {len(case_names)} cases"
                       if missing else "no baseline to compare with")
        return Judgement(passes=False, score=score, baseline_policy=name, baseline_score=base,
                         needed=None, wins=0, cases=len(case_names), gap=None, reasons=reasons)
    needed = objective.needed(base)
    beats_median = score >= needed if objective.direction == "maximize" else score <= needed
    gap = relative_gap(score, base, higher_is_better=objective.direction == "maximize")
    reasons.append(
        f"{objective.aggregate} {objective.metric} {score:.4g} vs best baseline {name} {base:.4g}"
        + (f" (gap {gap:+.1%})" if gap is not None else "")
        + f", needs {'>=' if objective.direction == 'maximize' else '<='} {needed:.4g} for a "
        f"{objective.margin:.0%} margin: {'beats it' if beats_median else 'short'}")
    wins = sum(1 for c in case_names if objective.better(
        objective.case_value(candidate[c]), objective.case_value(baselines[name][c])))
    most = wins * 2 > len(case_names)
    reasons.append(f"better than {name} on {wins} of {len(case_names)} cases"
                   + ("" if most else " (needs most)"))
    ran = [s for c in case_names if not isinstance(s := candidate[c], FailedRun)]
    reasons += [objective.failed_run_text(c, f.reason) for c in case_names
                if isinstance(f := candidate[c], FailedRun)]
    constraints_ok = True
    for constraint in objective.constraints:
        ok, text = constraint.check(ran)
        constraints_ok &= ok
        reasons.append(f"{'meets' if ok else 'violates'} {text}")
    targets_ok = True
    for ok, text in objective.target_checks(score, bound):
        targets_ok &= ok
        reasons.append(text)
    return Judgement(passes=beats_median and most and constraints_ok and targets_ok, score=score,
                     baseline_policy=name, baseline_score=base, needed=needed, wins=wins,
                     cases=len(case_names), gap=gap, reasons=reasons)
