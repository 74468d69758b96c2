"""A run folder recorded before the "One house" redesign (commit 850faea: one heuristic candidate
on `small`, stopped by --max-iterations 1 with an unreachable margin) still reviews and resumes:
node names, checkpoint state keys and the run-folder format are unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "runs" / "20261203-111205-3c75c8"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "policyforge", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]


def test_a_run_recorded_before_the_redesign_is_listed_and_reviewed(tmp_path: Path) -> None:
    shutil.copytree(RECORDED, tmp_path / "runs" / RECORDED.name)
    listed = _cli("runs", "list", "--runs-dir", "runs", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["status"] == "budget_exhausted" and row["best_candidate"] == 1
    review = _cli("review", RECORDED.name, "--runs-dir", "runs", "--json", cwd=tmp_path)
    assert review.returncode == 0, review.stderr
    assert [c["candidate"] for c in json.loads(review.stdout)["candidates"]] == [1]


def test_a_run_recorded_before_the_redesign_resumes_where_it_stopped(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / RECORDED.name
    shutil.copytree(RECORDED, run_dir)
    done = _cli("run", "--resume", RECORDED.name, "--runs-dir", "runs", "--max-iterations", "2",
                "--quiet", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr  # the margin stays out of reach
    evaluations = [e["candidate"] for e in _events(run_dir) if e["type"] == "evaluation"]
    assert evaluations == [1, 2]  # candidate 1 is not evaluated again
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "budget_exhausted" and run["spent"]["iterations"] == 2
    assert (run_dir / "candidates" / "2" / "result.json").is_file()
