"""Run folders that failed early or were damaged: listed, reviewed (terminal, JSON, HTML), never
blocking the review of what is intact; the JSON passes a strict parser."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.review.html import render_html
from agents.review.json_report import review_document, runs_document, to_json
from agents.review.rundir import RunDirError, list_runs, load_run
from agents.review.terminal import render_runs_table, render_terminal
from agents.run_lock import RunLock
from tests.agents.review.rundir_factory import (
    AUTH_ERROR,
    FAILED_OBJECTIVE_RUN,
    RunSpec,
    write_failed_objective_run,
    write_run,
)
from tests.simulator.test_strict_json import strict_loads

RUN_ID = "20261124-153012-ab12cd"


def terminal(view: Any) -> str:
    return render_terminal(view, color=False, width=200)


# --- a run that failed at its objective step ---------------------------------------------------


def test_a_run_failed_at_the_objective_step_is_listed_with_its_status_and_reason(
        tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs)
    write_failed_objective_run(runs)
    rows = {r.name: r for r in list_runs(runs)}
    failed = rows[FAILED_OBJECTIVE_RUN]
    assert failed.problem is None and failed.run is not None and failed.warnings == []
    assert failed.run.objective is None and failed.run.status == "failed"
    table = render_runs_table(list(rows.values()), color=False, width=200)
    line = next(x for x in table.splitlines() if FAILED_OBJECTIVE_RUN in x)
    assert "unreadable" not in table and "| failed " in line
    assert "error: objective planner model" in line
    (doc,) = [d for d in strict_loads(to_json(runs_document(list(rows.values()))))
              if d["run_id"] == FAILED_OBJECTIVE_RUN]
    assert doc["status"] == "failed" and doc["stop_reason"] == f"error: objective {AUTH_ERROR}"
    assert doc["objective_summary"] == "none: the run ended before its objective was set"
    assert doc["best_score"] is None and doc["tokens"] == 636


def test_a_run_failed_at_the_objective_step_is_reviewable(tmp_path: Path) -> None:
    view = load_run(write_failed_objective_run(tmp_path / "runs"))
    assert view.warnings == [] and view.candidates == [] and view.best() is None
    text = terminal(view)
    assert "Objective  none: the run ended before its objective was set" in text
    assert f"Status     failed (error: objective {AUTH_ERROR})" in text
    assert "FAILED (OpenAIAuthenticationError: Error code: 401 - invalid api key)" in text
    assert "no candidates yet" in text and "planner      1       1" in text
    doc = strict_loads(to_json(review_document(view)))
    assert doc["run"]["objective"] is None and doc["run"]["status"] == "failed"
    assert doc["candidates"] == [] and doc["best_candidate"] is None
    assert doc["timeline"][-1]["what"].startswith("finished: failed (error: objective")
    page = render_html(view)
    assert "none: the run ended before its objective was set" in page
    assert '<span class="status failed">failed</span>' in page
    assert "no evaluated candidate yet" in page and "No candidate policy." in page


def test_a_running_run_without_objective_yet_says_so(tmp_path: Path) -> None:
    root = write_failed_objective_run(tmp_path / "runs")
    run = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**run, "status": "running",
                                               "stop_reason": None}))
    with RunLock(root):  # a live process works on it
        assert "Objective  not set yet" in terminal(load_run(root))


def test_a_running_run_whose_process_is_gone_is_listed_as_interrupted(tmp_path: Path) -> None:
    root = write_failed_objective_run(tmp_path / "runs")
    run = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**run, "status": "running",
                                               "stop_reason": None}))
    with RunLock(root):
        [live] = list_runs(tmp_path / "runs")
        assert live.run is not None and live.run.status == "running"
    [gone] = list_runs(tmp_path / "runs")  # the holder released the lock: as if it died
    assert gone.run is not None and gone.run.status == "interrupted"
    assert any("no process holds the run" in w for w in gone.warnings)


# --- damaged candidates ------------------------------------------------------------------------


def test_a_truncated_result_json_is_shown_damaged_and_the_others_reviewed(
        tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(truncate_results=(2,)))
    view = load_run(root)
    assert [c.status for c in view.candidates] == ["ok", "damaged", "ok"]
    assert view.candidate(2).reason.startswith("candidates/2/result.json:")  # type: ignore[union-attr]
    assert "invalid JSON" in (view.candidate(2).reason or "")
    assert view.best() is not None and view.best().n == 3  # type: ignore[union-attr]
    text = terminal(view)
    rows = text[text.index("Candidates"):text.index("Cost by role")]
    assert "damaged" in rows and "candidates/2/result.json:" in rows
    assert "56 vs 14 (300.0% better)" in rows  # 3 as usual
    assert "50 vs 14 (257.1% better)" in rows  # 1 as usual
    assert "Warning    candidate 2 is damaged: candidates/2/result.json:" in text
    assert "diff candidate 1 -> 2" in text  # its policy is still there
    doc = strict_loads(to_json(review_document(view)))
    by_n = {c["candidate"]: c for c in doc["candidates"]}
    assert by_n[2]["damaged"] is True and by_n[2]["status"] == "damaged"
    assert by_n[2]["damage"][0].startswith("candidates/2/result.json:")
    # The transcript's evaluation event still knows the damaged candidate's score.
    assert by_n[2]["score"] == 53.0 and by_n[1]["damaged"] is False and by_n[3]["score"] == 56.0
    page = render_html(view)
    assert page.count('<tr class="damaged">') == 1 and "Accepted policy: candidate 3" in page


def test_a_missing_policy_is_damage_and_the_report_says_which(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(drop_policies=(3,)))
    view = load_run(root)
    assert view.candidate(3).status == "damaged"
    assert view.candidate(3).reason == "candidates/3/policy.py is missing"
    assert view.candidate(3).score == 56.0  # its result is intact
    assert "Candidate 3 is damaged: candidates/3/policy.py is missing." in render_html(view)
    text = terminal(view)
    assert "candidates/3/policy.py is missing" in text
    assert "(no diff: the policy of candidate 3 is missing)" in text
    assert "diff candidate 1 -> 2" in text and "+RAM_HEADROOM = 1.05" in text


def test_the_report_diffs_from_the_first_candidate_that_has_a_policy(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(drop_policies=(1,)))
    page = render_html(load_run(root))
    assert "Diff from candidate 2" in page and "Accepted policy: candidate 3" in page


def test_a_damaged_held_out_json_and_baselines_json_are_reported(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(with_baselines_json=True))
    (root / "candidates" / "3" / "held_out.json").write_text("[1, 2")
    (root / "baselines.json").write_bytes(b"\xff\xfe{")
    view = load_run(root)
    assert view.candidate(3).status == "damaged" and view.baselines is None
    assert "candidates/3/held_out.json:1:" in (view.candidate(3).reason or "")
    assert any("baselines.json: not UTF-8 text" in w for w in view.warnings)
    assert "damaged" in terminal(view)


def test_a_candidate_folder_without_any_file_yet_is_damaged_not_fatal(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs")
    (root / "candidates" / "4").mkdir()
    view = load_run(root)
    assert view.candidate(4).status == "damaged" and view.best().n == 3  # type: ignore[union-attr]


# --- transcript and run.json from other versions -----------------------------------------------


def test_a_half_line_left_before_a_resume_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs")
    path = root / "transcript.jsonl"
    lines = path.read_text().splitlines()
    resumed = {"seq": 99, "elapsed_s": 30.0, "type": "run_started", "resumed": True}
    # What a kill in the middle of line 5 and then `run --resume` leave (agents.run_store).
    lines = [*lines[:4], lines[4][:30], json.dumps(resumed), *lines[5:]]
    path.write_text("\n".join(lines) + "\n")
    view = load_run(root)
    assert view.warnings == [("transcript.jsonl:5: line is incomplete (the run was killed while "
                             "writing it, then resumed); ignored")]
    assert len(view.events) == len(lines) - 1


def test_event_fields_of_the_wrong_type_take_defaults_with_a_warning(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs")
    path = root / "transcript.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    events[1].update(elapsed_s=None, role=5)
    del events[2]["seq"]
    events[3]["iteration"] = "two"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    view = load_run(root)
    assert len(view.events) == len(events)
    assert view.events[1].elapsed_s == 0.0 and view.events[1].role is None
    assert view.events[2].seq == 3 and view.events[3].iteration is None
    assert view.warnings == [
        "transcript.jsonl:2: field role: Input should be a valid string; ignored",
        ("transcript.jsonl:4: field iteration: Input should be a valid integer, unable to parse "
        "string as an integer; ignored")]
    assert "Timeline" in terminal(view)


def test_run_json_fields_of_the_wrong_type_are_ignored_with_a_warning(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs")
    run = json.loads((root / "run.json").read_text())
    del run["run_id"]
    run.update(budget="ten", spent=None, best_candidate="3", goal=None)
    (root / "run.json").write_text(json.dumps(run))
    view = load_run(root)
    assert view.run.run_id == RUN_ID and view.run.budget == {} and view.run.goal == ""
    assert view.run.best_candidate == 3  # pydantic reads "3" as 3 (lax mode)
    assert view.warnings == [("run.json has no run_id; the folder's name "
                             f"'{RUN_ID}' is used"),
                             "run.json field budget: Input should be a valid dictionary; ignored"]
    assert "iterations 3 of no limit" in terminal(view)
    (row,) = list_runs(root.parent)
    assert row.run is not None and len(row.warnings) == 2


def test_a_run_killed_while_writing_its_first_run_json_is_listed_with_the_reason(
        tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs)
    killed = runs / "20261127-000000-aaaaaa"
    killed.mkdir()
    (killed / "run.json.tmp").write_text('{"run_id": "20261127-')
    (runs / "notes").mkdir()  # not a run: not listed
    rows = {r.name: r for r in list_runs(runs)}
    assert set(rows) == {RUN_ID, killed.name}
    assert rows[killed.name].run is None
    assert "run.json is missing (the run was probably killed" in (rows[killed.name].problem or "")
    assert "unreadable" in render_runs_table(list(rows.values()), color=False, width=200)


def test_a_run_json_that_is_not_an_object_is_still_an_error_naming_the_file(
        tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs")
    (root / "run.json").write_text("[]")
    with pytest.raises(RunDirError, match=r"run\.json: expected a JSON object, got list"):
        load_run(root)


# --- non-finite numbers ------------------------------------------------------------------------


def test_nan_scores_are_null_with_a_note_in_strict_json(tmp_path: Path) -> None:
    root = write_run(tmp_path / "runs", RunSpec(nan_scores=(1, 3)))
    run = json.loads((root / "run.json").read_text())
    run["median_candidate_score"] = math.nan
    (root / "run.json").write_text(json.dumps(run))  # json.dumps writes NaN, as run.json may
    view = load_run(root)
    text = to_json(review_document(view))
    doc = strict_loads(text)
    by_n = {c["candidate"]: c for c in doc["candidates"]}
    assert by_n[1]["score"] is None and "not a finite number" in by_n[1]["score_note"]
    assert by_n[2]["score"] == 53.0 and "score_note" not in by_n[2]
    assert doc["run"]["median_candidate_score"] is None
    assert doc["run"]["median_candidate_score_note"].startswith("NaN: undefined")
    assert [p["best"] for p in doc["progress"]] == [None, 53.0, 53.0]  # NaN is never the best
    listed = strict_loads(to_json(runs_document(list_runs(root.parent))))
    assert listed[0]["best_score"] is None and "best_score_note" in listed[0]
    out = terminal(view)
    assert "NaN vs 14" in out
    assert "<svg" in render_html(view)


# --- anything a damaged file may hold: never a crash -------------------------------------------

json_values = st.recursive(
    st.sampled_from([math.nan, math.inf, -math.inf, "", "x", 0, -1, 1e300]) | st.none()
    | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=6)


def paths(doc: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[Any, ...]]:
    """Every key path into ``doc`` down to ``depth`` (list items: the first two)."""
    out = [prefix] if prefix else []
    if depth == 0:
        return out
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, (*prefix, key), depth - 1)
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:2]):
            out += paths(value, (*prefix, i), depth - 1)
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``doc`` with the value at ``path`` replaced (unchanged if an earlier change
    removed the path)."""
    if not path:
        return value
    if not isinstance(doc, dict | list) or (isinstance(doc, dict) and path[0] not in doc) or (
            isinstance(doc, list) and not isinstance(path[0], int) or isinstance(doc, list)
            and path[0] >= len(doc)):
        return doc
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], value)
    return copy


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("pristine") / "runs")


class Documents(dict):  # type: ignore[type-arg]
    """The pristine files as parsed JSON (a short repr: hypothesis prints its arguments)."""

    def __repr__(self) -> str:
        return "Documents(...)"


@pytest.fixture(scope="module")
def documents(pristine: Path) -> Documents:
    """The pristine run's run.json, one candidate's result.json and the transcript's events."""
    result = json.loads((pristine / "candidates" / "2" / "result.json").read_text())
    lines = (pristine / "transcript.jsonl").read_text().splitlines()
    return Documents({"run.json": json.loads((pristine / "run.json").read_text()),
                      "candidates/2/result.json": result,
                      "events": [json.loads(line) for line in lines]})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_odd_values_anywhere_in_the_run_files_never_crash_the_review(
        pristine: Path, documents: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, data: st.DataObject) -> None:
    # The baseline's host-side run is the same for every example and tested elsewhere.
    monkeypatch.setattr("agents.review.html.baseline_first_case",
                        lambda view: (None, None, "not computed in this test"))
    root = tmp_path / "runs" / pristine.name
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(pristine, root)
    for name in ("run.json", "candidates/2/result.json", "events"):
        doc = documents[name]
        for path in data.draw(st.lists(st.sampled_from(paths(doc)), max_size=3), label=name):
            doc = replaced(doc, path, data.draw(json_values, label=str(path)))
        if name == "events":
            text = "\n".join(json.dumps(e) for e in doc) + "\n"
            (root / "transcript.jsonl").write_text(text)
        else:
            (root / name).write_text(json.dumps(doc))
    try:
        view = load_run(root)
    except RunDirError as exc:  # only a transcript event without its seq/type, or run.json
        assert "transcript.jsonl:" in str(exc) or "run.json" in str(exc)
        return
    assert [c.n for c in view.candidates] == [1, 2, 3]
    strict_loads(to_json(review_document(view)))
    strict_loads(to_json(runs_document(list_runs(root.parent))))
    assert view.run.run_id in terminal(view)
    render_runs_table(list_runs(root.parent), color=False, width=160)
    assert render_html(view).startswith("<!DOCTYPE html>")
