"""The installed console script (``.venv/bin/policyforge``) on run folders that failed early or
were damaged: `runs list`, `review` (terminal, --json, --html) and `export`; JSON output parses
with a strict parser (no NaN/Infinity)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.review.browser import dump_dom
from tests.agents.fake_openai import FakeOpenAI
from tests.agents.review.rundir_factory import (
    FAILED_OBJECTIVE_RUN,
    RunSpec,
    write_failed_objective_run,
    write_run,
)
from tests.agents.review.test_browser import COLLECTOR, chromium  # noqa: F401 - fixture
from tests.simulator.test_strict_json import strict_loads

REPO = Path(__file__).resolve().parents[3]
POLICYFORGE = Path(sys.executable).with_name("policyforge")
RUN_ID = "20261124-153012-ab12cd"


def policyforge(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script, not a terminal, with a fixed width."""
    assert POLICYFORGE.is_file(), f"{POLICYFORGE} is missing: pip install -e '.[dev]'"
    return subprocess.run([str(POLICYFORGE), *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300, check=False)


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    done = policyforge(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def strict_json(*args: str) -> Any:
    """Run a ``--json`` command and parse its output as a strict parser would."""
    return strict_loads(ok(*args).stdout)


def test_a_run_failed_at_the_objective_step_is_listed_and_reviewable(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs)
    root = write_failed_objective_run(runs)
    listed = ok("runs", "list", "--runs-dir", str(runs)).stdout
    line = next(x for x in listed.splitlines() if FAILED_OBJECTIVE_RUN in x)
    assert "unreadable" not in listed and "| failed " in line and "error: objective" in line
    rows = {r["run_id"]: r for r in strict_json("runs", "list", "--runs-dir", str(runs),
                                                "--json")}
    assert rows[FAILED_OBJECTIVE_RUN]["status"] == "failed"
    assert "401 - invalid api key" in rows[FAILED_OBJECTIVE_RUN]["stop_reason"]
    assert rows[RUN_ID]["status"] == "accepted"

    text = ok("review", FAILED_OBJECTIVE_RUN, "--runs-dir", str(runs)).stdout
    assert "Objective  none: the run ended before its objective was set" in text
    assert "Status     failed (error: objective planner model" in text
    report = strict_json("review", str(root), "--json")
    assert report["run"]["objective"] is None and report["candidates"] == []
    page = tmp_path / "failed.html"
    ok("review", str(root), "--html", str(page))
    assert "none: the run ended before its objective was set" in page.read_text()
    export = policyforge("export", str(root), str(tmp_path / "x.py"))
    assert export.returncode == 2 and "no verified candidate to export (status failed" in \
        export.stderr and "Traceback" not in export.stderr


def test_a_truncated_candidate_is_damaged_and_the_others_are_reviewed(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(truncate_results=(2,)))
    done = ok("review", str(root))
    assert "warning: candidate 2 is damaged: candidates/2/result.json:" in done.stderr
    candidates = done.stdout[done.stdout.index("Candidates"):done.stdout.index("Cost by role")]
    assert re.search(r"^\s*2\s+2\s+damaged\s+53 vs 14 .*candidates/2/result\.json:", candidates,
                     re.M), candidates
    assert re.search(r"^\s*3\*\s+3\s+ok\s+56 vs 14", candidates, re.M), candidates
    report = strict_json("review", str(root), "--json")
    assert [c["status"] for c in report["candidates"]] == ["ok", "damaged", "ok"]
    assert report["best_candidate"] == 3
    page = tmp_path / "report.html"
    ok("review", str(root), "--html", str(page))
    assert page.read_text().count('<tr class="damaged">') == 1
    (row,) = strict_json("runs", "list", "--runs-dir", str(root.parent), "--json")
    assert row["best_score"] == 56.0


def test_json_outputs_never_print_nan_or_infinity(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(nan_scores=(1, 2, 3)))
    assert "NaN" in (root / "candidates" / "1" / "result.json").read_text()  # as stored
    for args in (("review", str(root), "--json"),
                 ("runs", "list", "--runs-dir", str(root.parent), "--json")):
        out = ok(*args).stdout
        assert not re.search(r"[:\[,]\s*-?(NaN|Infinity)\b", out), args
        strict_loads(out)
    report = strict_json("review", str(root), "--json")
    assert all(c["score"] is None and c["score_note"] for c in report["candidates"])
    assert report["best_candidate"] == 3  # run.json names it; the view does not re-rank NaN


def test_a_real_run_that_fails_at_its_objective_step_is_reviewable(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with FakeOpenAI() as server:
        for _ in range(4):
            server.fail(401, "invalid api key")
        run = subprocess.run(
            [str(POLICYFORGE), "run", "--model", "fake-model", "--base-url", server.base_url,
             "--suite", "small", "--sandbox", "local", "--runs-dir", str(runs),
             "--goal", "most completed pipelines"],
            capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
            env={**os.environ, "OPENAI_API_KEY": "sk-test-not-a-real-key-000000"})
    assert run.returncode == 1, run.stdout + run.stderr
    [root] = list(runs.iterdir())
    (row,) = strict_json("runs", "list", "--runs-dir", str(runs), "--json")
    assert row["status"] == "failed" and row["stop_reason"].startswith("error:")
    assert "401" in row["stop_reason"]
    report = strict_json("review", str(root), "--json")
    assert report["run"]["objective"] is None and report["run"]["status"] == "failed"
    assert any(e["type"] == "run_finished" for e in report["timeline"])
    text = ok("review", str(root)).stdout
    assert "Objective  none: the run ended before its objective was set" in text
    ok("review", str(root), "--html", str(tmp_path / "report.html"))


@pytest.mark.usefixtures("chromium")
def test_the_report_of_a_run_without_candidates_runs_in_a_browser(tmp_path: Path) -> None:
    root = write_failed_objective_run(tmp_path / "runs")
    page = tmp_path / "report.html"
    ok("review", str(root), "--html", str(page))
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("<head>", "<head>" + COLLECTOR, 1))
    seen = dump_dom(probe)
    assert seen.errors == [], seen.errors
    assert re.search(r'data-report-ready="\d+"', seen.dom)
    for name in ("score", "cost", "latency", "utilisation"):
        assert re.search(rf'<svg [^>]*data-chart="{name}"', seen.dom), name
