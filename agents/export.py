"""A run's policy as a standalone file: the candidate's code under a header saying what it
optimises and how it scored. The code itself is unchanged, so the file runs in policyforge's
simulator and in Eudoxia (``eudoxia run -i``) alike.

Export only reads the run folder (a live run may be writing it). It works on every run folder
a version wrote: ``"objective": null`` and a damaged ``result.json`` only thin the header (it
says what could not be read); a missing ``policy.py`` is an `ExportError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.errors import AgentError
from agents.run_store import RunStore


class ExportError(AgentError):
    """Nothing to export, or no such candidate."""


def export_policy(run_dir: Path, out: Path, candidate: int | None = None) -> int:
    """Write candidate ``candidate`` (default: the accepted one, else the best) to ``out``."""
    run = RunStore.read_run_json(run_dir)  # read-only: no RunStore, which would write
    n = candidate if candidate is not None else (
        _int(run.get("accepted_candidate")) or _int(run.get("best_candidate")))
    if n is None:
        raise ExportError(f"run {run['run_id']} has no verified candidate to export "
                          f"(status {run.get('status', 'unknown')}"
                          f"{': ' + str(run['stop_reason']) if run.get('stop_reason') else ''}; "
                          "pass --candidate N for another one)")
    policy = run_dir / "candidates" / str(n) / "policy.py"
    if not policy.is_file():
        raise ExportError(f"run {run['run_id']} has no candidate {n} ({policy} is missing)")
    try:
        source = policy.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExportError(f"{policy} is damaged: not UTF-8 text (byte {exc.start})") from None
    result, problem = _read_result(run_dir / "candidates" / str(n) / "result.json")
    out.write_text(header(run, n, result, problem) + source, encoding="utf-8")
    return n


def _read_result(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A candidate's result.json, or None and why it could not be read (None if absent)."""
    if not path.is_file():
        return None, "no result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"result.json cannot be read ({exc})"
    except json.JSONDecodeError as exc:
        return None, f"result.json is damaged ({exc.lineno}:{exc.colno}: {exc.msg})"
    if not isinstance(data, dict):
        return None, f"result.json is damaged (a JSON {type(data).__name__}, not an object)"
    return data, None


def header(run: dict, n: int, result: dict | None, problem: str | None = None) -> str:
    """The comment block placed above the exported code (``problem``: why the result is
    unknown)."""
    objective = _dict(run.get("objective")).get("summary") or "the run's objective"
    baseline = _dict(run.get("baseline"))
    bound = _dict(run.get("bound")).get("score")
    score = _dict(result).get("score")
    accepted = run.get("accepted_candidate") == n
    reasons = _dict(_dict(result).get("verdict")).get("reasons")
    verdict = [str(r) for r in reasons] if isinstance(reasons, list) else []
    status = ("accepted by the critic and the reviewer" if accepted
              else "not accepted: the best verified candidate"
              if run.get("best_candidate") == n else "not accepted")
    lines = [
        f"policyforge run {run['run_id']}, candidate {n} ({status})",
        f"Optimises: {objective}",
        (f"Score on the '{run.get('suite')}' search suite: {_num(score)} "
         f"(best built-in {baseline.get('policy')}: {_num(baseline.get('score'))}; "
         f"bound: {_num(bound)})"),
        *([f"Its score is unknown: {problem}"] if problem else []),
        *[f"  {r}" for r in verdict[:6]],
        f"Goal: {run.get('goal') or '-'}",
        ("Runs unchanged in policyforge (`policyforge simulate PARAMS --policy THIS.py`) and "
         "in Eudoxia (`eudoxia run -i`)."),
    ]
    # Every line of a multi-line goal or reason stays a comment: none may become code.
    return "".join(f"# {part}\n" for line in lines for part in line.splitlines() or [""]) + "\n"


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _dict(v: object) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}
