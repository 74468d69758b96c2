"""A run's policy as a standalone file: the candidate's code under a header saying what it
optimises and how it scored. The code itself is unchanged, so the file runs in policyforge's
simulator and in Eudoxia (``eudoxia run -i``) alike."""

from __future__ import annotations

from pathlib import Path

from agents.errors import AgentError
from agents.run_store import RunStore


class ExportError(AgentError):
    """Nothing to export, or no such candidate."""


def export_policy(run_dir: Path, out: Path, candidate: int | None = None) -> int:
    """Write candidate ``candidate`` (default: the accepted one, else the best) to ``out``."""
    store = RunStore(run_dir)
    run = store.read_run()
    n = candidate or run.get("accepted_candidate") or run.get("best_candidate")
    if n is None:
        raise ExportError(f"run {run['run_id']} has no verified candidate to export "
                          "(pass --candidate N for another one)")
    policy = run_dir / "candidates" / str(n) / "policy.py"
    if not policy.is_file():
        raise ExportError(f"run {run['run_id']} has no candidate {n} ({policy} is missing)")
    out.write_text(header(run, n, store.read_result(n)) + policy.read_text(encoding="utf-8"),
                   encoding="utf-8")
    return n


def header(run: dict, n: int, result: dict | None) -> str:
    """The comment block placed above the exported code."""
    objective = (run.get("objective") or {}).get("summary") or "the run's objective"
    baseline = run.get("baseline") or {}
    bound = (run.get("bound") or {}).get("score")
    score = (result or {}).get("score")
    accepted = run.get("accepted_candidate") == n
    verdict = ((result or {}).get("verdict") or {}).get("reasons") or []
    status = ("accepted by the critic and the reviewer" if accepted
              else "not accepted: the best verified candidate")
    lines = [
        f"policyforge run {run['run_id']}, candidate {n} ({status})",
        f"Optimises: {objective}",
        (f"Score on the '{run.get('suite')}' search suite: {_num(score)} "
         f"(best built-in {baseline.get('policy')}: {_num(baseline.get('score'))}; "
         f"bound: {_num(bound)})"),
        *[f"  {r}" for r in verdict[:6]],
        f"Goal: {run.get('goal') or '-'}",
        ("Runs unchanged in policyforge (`policyforge simulate PARAMS --policy THIS.py`) and "
         "in Eudoxia (`eudoxia run -i`)."),
    ]
    return "".join(f"# {line}\n" for line in lines) + "\n"


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) else "-"
