"""``agents.export``: read-only, and every run folder a version wrote (a run failed at its
objective step, a damaged result.json, multi-line text in the header) gives a clear answer."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest

from agents.export import ExportError, export_policy
from tests.agents.review.rundir_factory import RunSpec, write_failed_objective_run, write_run


def tree_digest(root: Path) -> str:
    """A hash of every file's path and bytes under ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def test_export_writes_nothing_into_the_run_folder(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(truncate_last_line=True))
    before = tree_digest(root)
    assert export_policy(root, tmp_path / "best.py") == 3
    assert tree_digest(root) == before  # the cut-short transcript line is left as it was


def test_a_run_failed_at_the_objective_step_has_nothing_to_export_and_says_why(
        tmp_path: Path) -> None:
    root = write_failed_objective_run(tmp_path / "runs")
    with pytest.raises(ExportError, match=r"no verified candidate to export \(status failed: "
                                          r"error: objective planner model"):
        export_policy(root, tmp_path / "x.py")
    assert not (tmp_path / "x.py").exists()


def test_a_damaged_result_json_still_exports_the_policy_and_the_header_says_so(
        tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(truncate_results=(3,)))
    out = tmp_path / "best.py"
    assert export_policy(root, out) == 3
    text = out.read_text()
    assert "# Its score is unknown: result.json is damaged (" in text
    assert text.endswith((root / "candidates" / "3" / "policy.py").read_text())
    ast.parse(text)


def test_multi_line_goal_and_reasons_stay_comments(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(goal="line one\nimport os; os.remove('x')"))
    result_path = root / "candidates" / "1" / "result.json"
    result = json.loads(result_path.read_text())
    result["verdict"]["reasons"] = ["fine\nraise SystemExit(3)"]
    result_path.write_text(json.dumps(result))
    out = tmp_path / "one.py"
    assert export_policy(root, out, candidate=1) == 1
    header = out.read_text().split("\n\n")[0].splitlines()
    assert all(line.startswith("#") for line in header), header
    assert "# import os; os.remove('x')" in header and "# raise SystemExit(3)" in header
    assert "(not accepted)" in header[0]  # candidate 1 is neither accepted nor the best
