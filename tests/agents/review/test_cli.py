"""The real CLI in a subprocess: `runs list`, `review` (text, --json, --diff, --html), secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from agents.secrets import REDACTED
from tests.agents.review.conftest import CANARY

REPO = Path(__file__).resolve().parents[3]
RUN_ID = "20261124-153012-ab12cd"
KILLED = "20261125-101010-ffffff"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m policyforge ARGS`` with a canary API key in the environment, not a tty."""
    env = {**os.environ, "OPENAI_API_KEY": CANARY, "COLUMNS": "160"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "policyforge", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=120, check=False)


def test_runs_list_prints_one_row_per_run(runs_dir: Path, killed_run: Path) -> None:
    done = cli("runs", "list", "--runs-dir", str(runs_dir))
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("|2026")]
    assert len(rows) == 2
    assert "accepted" in rows[0] and "56 vs 14 (300% better)" in rows[0] and "small" in rows[0]
    assert "interrupted" in rows[1]
    assert "\x1b[" not in done.stdout  # plain text when stdout is not a terminal


def test_runs_list_json_has_spend_and_scores(runs_dir: Path) -> None:
    done = cli("runs", "list", "--runs-dir", str(runs_dir), "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["run_id"] == RUN_ID and row["best_score"] == 56.0 and row["baseline_score"] == 14
    assert row["tokens"] > 0 and row["usd"] > 0 and row["iterations"] == 3


def test_runs_list_defaults_to_runs_in_the_current_folder(runs_dir: Path) -> None:
    done = cli("runs", "list", cwd=runs_dir.parent)
    assert done.returncode == 0 and RUN_ID in done.stdout


def test_review_text_shows_header_timeline_reasons_diffs_and_costs(runs_dir: Path) -> None:
    done = cli("review", RUN_ID, "--runs-dir", str(runs_dir))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for needle in ("maximise completed pipelines", "accepted (accepted)", "Budget",
                   "iterations 3 of 10", "Timeline", "tool validate_policy ok",
                   "critic accepts candidate 3", "held-out suite agrees", "Candidates",
                   "diff candidate 1 -> 2", "diff candidate 2 -> 3", "+RAM_HEADROOM = 1.05",
                   "Cost by role", "reviewer"):
        assert needle in out, needle
    timeline = out[out.index("Timeline"):out.index("Candidates")]
    assert re.search(r"^\s+\d+\.\ds\s+1\s+coder\s+gpt-4\.1-mini: calls validate_policy\s+"
                     r"5200\+1400 tok \$0\.0043$", timeline, re.M)


def test_review_diff_picks_two_candidates(runs_dir: Path) -> None:
    done = cli("review", RUN_ID, "--runs-dir", str(runs_dir), "--diff", "1", "3")
    assert done.returncode == 0, done.stderr
    assert "diff candidate 1 -> 3" in done.stdout and "diff candidate 1 -> 2" not in done.stdout
    bad = cli("review", RUN_ID, "--runs-dir", str(runs_dir), "--diff", "1", "9")
    assert bad.returncode == 2 and "no candidate 9 (candidates: 1, 2, 3)" in bad.stderr


def test_review_by_path_and_json(runs_dir: Path) -> None:
    done = cli("review", str(runs_dir / RUN_ID), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["best_candidate"] == 3 and len(data["candidates"]) == 3
    assert data["candidates"][2]["accepted"] is True
    assert {r["role"] for r in data["costs_by_role"]} == {"planner", "coder", "critic",
                                                           "reviewer"}
    assert data["timeline"][0]["type"] == "run_started"


def test_unknown_run_exits_2_and_says_where_it_looked(tmp_path: Path) -> None:
    done = cli("review", "20990101-000000-nope", "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 2 and not done.stdout
    assert str(tmp_path / "runs" / "20990101-000000-nope" / "run.json") in done.stderr
    assert "Traceback" not in done.stderr


def test_corrupt_transcript_exits_2_naming_file_and_line(runs_dir: Path) -> None:
    path = runs_dir / RUN_ID / "transcript.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    done = cli("review", RUN_ID, "--runs-dir", str(runs_dir))
    assert done.returncode == 2 and "transcript.jsonl:3:" in done.stderr
    assert "Traceback" not in done.stderr


def test_killed_run_is_reviewed_with_a_warning(killed_run: Path) -> None:
    done = cli("review", str(killed_run))
    assert done.returncode == 0, done.stderr
    assert "last line is incomplete" in done.stderr and "last line is incomplete" in done.stdout
    assert "interrupted" in done.stdout


def test_no_output_contains_the_api_key(killed_run: Path, tmp_path: Path) -> None:
    assert CANARY in (killed_run / "transcript.jsonl").read_text()  # planted in a message
    html = tmp_path / "report.html"
    outputs = [cli("review", str(killed_run)), cli("review", str(killed_run), "--json"),
               cli("review", str(killed_run), "--html", str(html)),
               cli("runs", "list", "--runs-dir", str(killed_run.parent), "--json")]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert CANARY not in done.stdout + done.stderr
    page = html.read_text()
    assert CANARY not in page and REDACTED in page
