"""docs/run-directory.md lists the statuses runs really end with (chat's `/stop` included)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from agents.budget import BudgetLimits
from agents.lifecycle import RunConfig, start_run
from agents.review.rundir import list_runs, load_run
from agents.review.terminal import render_terminal

DOC = Path(__file__).resolve().parents[3] / "docs" / "run-directory.md"


def documented(field: str) -> list[str]:
    """The values the doc's run.json example lists for ``field`` (``"a | b | c"``)."""
    match = re.search(rf'"{field}": "([^"]+)"', DOC.read_text(encoding="utf-8"))
    assert match, f"no {field} line in {DOC}"
    return [v.strip() for v in match.group(1).split("|")]


def test_every_status_in_the_example_has_a_row_saying_what_it_means() -> None:
    text = DOC.read_text(encoding="utf-8")
    for status in documented("status"):
        assert re.search(rf"^\| `{status}` \| \w", text, re.M), status


def test_the_status_chat_stop_gives_is_documented_and_reviewable(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()  # what chat's /stop does; the run stops at the next edge of its graph
    outcome = start_run(RunConfig(run_id="stopped-run", goal="most completed", suite="small",
                                  sandbox="local", heuristic=True,
                                  budget=BudgetLimits(max_iterations=2)),
                        tmp_path, cancel=cancel)
    assert (outcome.status, outcome.stop_reason) == ("stopped", "stopped")
    assert outcome.status in documented("status")
    assert outcome.stop_reason in documented("stop_reason")
    (row,) = list_runs(tmp_path)
    assert row.run is not None and row.run.status == "stopped" and row.warnings == []
    text = render_terminal(load_run(tmp_path / "stopped-run"), color=False, width=160)
    assert "Status     stopped (stopped)" in text
