"""The run's archive of candidates (docs/run-directory.md), as the tools may see it.

Only two files per candidate are ever opened: ``candidates/<n>/policy.py`` and
``candidates/<n>/result.json`` (the search part). ``held_out.json`` is never read: held-out
numbers do not reach the planner or the coder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.context import RunObjective

POLICY_FILE = "policy.py"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Candidate:
    """One archived candidate: its number, folder and result (None while not evaluated)."""

    n: int
    folder: Path
    result: dict[str, Any] | None

    @property
    def status(self) -> str:
        """The evaluation status, or ``pending`` while there is no result."""
        if self.result is None:
            return "pending"
        return str(self.result.get("status") or "unknown")

    @property
    def score(self) -> float | None:
        """The objective's score over the search traces, its aggregate (None if there is none)."""
        value = (self.result or {}).get("score")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None

    @property
    def evaluation(self) -> dict[str, Any]:
        """The sandbox's evaluation report of the search part (empty if absent)."""
        value = (self.result or {}).get("evaluation")
        return value if isinstance(value, dict) else {}

    @property
    def verified(self) -> bool:
        """Every search case ran and the host's replay agreed."""
        ver = self.evaluation.get("verification") or {}
        compared, verified = ver.get("compared") or 0, ver.get("verified") or 0
        return self.status == "ok" and compared > 0 and verified == compared

    def per_trace(self, objective: RunObjective, allowed: list[str]) -> dict[str, float]:
        """The objective's figure on each search trace (only names in ``allowed``, the search
        part): each verified trace's, and each failed run the evaluation counted, at the figure
        it counted (`sandbox.evaluation.count_failed_runs`)."""
        out: dict[str, float] = {}
        for trace in self.evaluation.get("traces") or []:
            name, stats = trace.get("name"), trace.get("stats")
            if name in allowed and isinstance(stats, dict):
                try:
                    out[name] = objective.case_value(stats)
                except (KeyError, TypeError, ValueError):
                    continue
        counted = self.evaluation.get("failed_run_value")
        if isinstance(counted, int | float) and not isinstance(counted, bool):
            for name in (self.result or {}).get("failed_runs") or {}:
                if name in allowed:
                    out[name] = float(counted)
        if not out:  # an archive written without the full report: the stored per-trace scores
            for name, value in ((self.result or {}).get("per_trace") or {}).items():
                if name in allowed and isinstance(value, int | float):
                    out[name] = float(value)
        return {name: out[name] for name in allowed if name in out}

    def policy_source(self) -> str:
        """``policy.py`` as archived."""
        try:
            return (self.folder / POLICY_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ToolError(
                f"candidate {self.n} has no readable {POLICY_FILE} ({exc.strerror})") from None


def _candidates_dir(run_dir: Path | None) -> Path:
    if run_dir is None:
        raise ToolError("there is no run directory, so there is no archive of candidates yet")
    return run_dir / "candidates"


def _read_result(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"status": "unreadable", "reason": f"{RESULT_FILE} is unreadable: {exc}"}
    return data if isinstance(data, dict) else {"status": "unreadable",
                                               "reason": f"{RESULT_FILE} is not a JSON object"}


def candidate_numbers(run_dir: Path | None) -> list[int]:
    """The numbers of the archived candidates, ascending."""
    folder = _candidates_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def load_candidate(run_dir: Path | None, n: int) -> Candidate:
    """Candidate ``n``; `ToolError` naming the candidates there are if it does not exist."""
    numbers = candidate_numbers(run_dir)
    if n not in numbers:
        have = ", ".join(map(str, numbers[-20:])) if numbers else "none yet"
        raise ToolError(f"there is no candidate {n} (candidates: {have})")
    folder = _candidates_dir(run_dir) / str(n)
    return Candidate(n, folder, _read_result(folder))


def load_candidates(run_dir: Path | None) -> list[Candidate]:
    """Every archived candidate."""
    folder = _candidates_dir(run_dir)
    return [Candidate(n, folder / str(n), _read_result(folder / str(n)))
            for n in candidate_numbers(run_dir)]


def verdict_line(candidate: Candidate, width: int = 90) -> str:
    """One line saying what became of the candidate."""
    result = candidate.result or {}
    verdict = result.get("verdict")
    if isinstance(verdict, dict) and verdict:
        if verdict.get("accept"):
            text = "accepted by the critic"
        else:
            reasons = verdict.get("reasons") or []
            first = reasons[0] if reasons else verdict.get("hint") or "no reason given"
            text = f"rejected: {first}"
    elif candidate.status == "pending":
        text = "not evaluated yet"
    elif candidate.status != "ok":
        text = f"{candidate.status}: {result.get('reason') or 'no reason given'}"
    else:
        text = "evaluated, not judged yet"
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
