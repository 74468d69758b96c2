"""Loading run directories: views, a killed run's truncated line, bad files named with line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents.review.rundir import (
    RunDirError,
    RunNotFound,
    baseline_first_case,
    find_run,
    list_runs,
    load_run,
    scrub,
    scrub_text,
)
from agents.review.summary import costs_by_role, policy_diff, progress
from agents.secrets import REDACTED
from tests.agents.review.rundir_factory import RunSpec, evaluate, write_run

RUN_ID = "20261124-153012-ab12cd"


def test_load_run_reads_run_events_and_real_candidates(runs_dir: Path) -> None:
    view = load_run(runs_dir / RUN_ID)
    assert view.run.run_id == RUN_ID and view.run.status == "accepted"
    assert [c.n for c in view.candidates] == [1, 2, 3]
    assert all(c.source and "register_scheduler" in c.source for c in view.candidates)
    assert view.events[0].type == "run_started" and view.events[-1].type == "run_finished"
    assert view.warnings == []
    best = view.best()
    assert best is not None and best.n == view.run.accepted_candidate == 3
    case, stats, profile = best.first_case()
    assert case == "seed1" and stats is not None and profile is not None
    assert len(profile["utilisation"]["seconds"]) == len(profile["utilisation"]["cpu_allocated"])


def test_progress_tracks_best_score_and_cumulative_spend(runs_dir: Path) -> None:
    points = progress(load_run(runs_dir / RUN_ID))
    assert [p.candidate for p in points] == [1, 2, 3]
    assert all(a.best is not None and b.best is not None and b.best >= a.best
               for a, b in zip(points, points[1:], strict=False))
    assert points[0].usd > 0 and points[-1].tokens > points[0].tokens


def test_costs_by_role_sum_model_calls(runs_dir: Path) -> None:
    view = load_run(runs_dir / RUN_ID)
    roles = {r.role: r for r in costs_by_role(view)}
    assert set(roles) == {"planner", "coder", "critic", "reviewer"}
    assert roles["coder"].tool_calls == 6 and roles["coder"].calls == 3
    total = sum(r.input_tokens + r.output_tokens for r in roles.values())
    spent = view.run.spent
    assert total == spent["input_tokens"] + spent["output_tokens"]


def test_truncated_last_transcript_line_is_reported_not_fatal(killed_run: Path) -> None:
    view = load_run(killed_run)
    assert len(view.warnings) == 1 and "last line is incomplete" in view.warnings[0]
    assert view.events and view.events[-1].type != "run_finished"


def test_bad_json_inside_the_transcript_names_file_and_line(runs_dir: Path) -> None:
    path = runs_dir / RUN_ID / "transcript.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = lines[4][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDirError, match=r"transcript\.jsonl:5:\d+: invalid JSON"):
        load_run(runs_dir / RUN_ID)


def test_event_without_type_names_the_field(runs_dir: Path) -> None:
    path = runs_dir / RUN_ID / "transcript.jsonl"
    path.write_text(json.dumps({"seq": 1}) + "\n")
    with pytest.raises(RunDirError, match=r"transcript\.jsonl:1: field type"):
        load_run(runs_dir / RUN_ID)


def test_bad_result_json_damages_only_its_candidate_naming_the_file(runs_dir: Path) -> None:
    (runs_dir / RUN_ID / "candidates" / "2" / "result.json").write_text('{"score": 1,')
    view = load_run(runs_dir / RUN_ID)
    damaged = view.candidate(2)
    assert damaged.status == "damaged" and damaged.result is None
    assert re.fullmatch(r"candidates/2/result\.json:1:\d+: invalid JSON: .+", damaged.reason or "")
    assert [c.status for c in view.candidates] == ["ok", "damaged", "ok"]
    assert any(w.startswith("candidate 2 is damaged: candidates/2/result.json:1:")
               for w in view.warnings)


def test_find_run_by_id_or_path_and_unknown_lists_where_it_looked(runs_dir: Path) -> None:
    assert find_run(RUN_ID, runs_dir) == runs_dir / RUN_ID
    assert find_run(str(runs_dir / RUN_ID), "elsewhere") == runs_dir / RUN_ID
    with pytest.raises(RunNotFound) as info:
        find_run("nope", runs_dir)
    assert str(runs_dir / "nope" / "run.json") in str(info.value)
    assert "nope/run.json" in str(info.value).split(" and ")[0]


def test_list_runs_keeps_an_unreadable_run_with_its_reason(runs_dir: Path) -> None:
    broken = runs_dir / "20261126-000000-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{")
    rows = {r.name: r for r in list_runs(runs_dir)}
    assert rows[RUN_ID].best_score == rows[RUN_ID].run.baseline_score + 42  # type: ignore[union-attr]
    assert rows[broken.name].run is None and "invalid JSON" in (rows[broken.name].problem or "")


def test_baseline_is_computed_on_the_host_from_the_first_search_case(tmp_path: Path) -> None:
    view = load_run(write_run(tmp_path / "a"))
    stats, profile, where = baseline_first_case(view)
    assert "computed on this host (priority on small/seed1)" == where
    assert stats == evaluate("priority").traces[0]["stats"]
    assert profile == evaluate("priority").profile


def test_baseline_falls_back_to_baselines_json_stats(tmp_path: Path) -> None:
    root = write_run(tmp_path / "b", RunSpec(with_baselines_json=True))
    run = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**run, "suite": "no-such-suite"}))
    stats, profile, where = baseline_first_case(load_run(root))
    assert where.startswith("baselines.json (priority); no profile")
    assert stats == evaluate("priority").traces[0]["stats"] and profile is None


def test_policy_diff_is_a_unified_diff_between_candidates(runs_dir: Path) -> None:
    view = load_run(runs_dir / RUN_ID)
    diff = policy_diff(view.candidate(1), view.candidate(3))
    assert diff.startswith("--- candidates/1/policy.py\n+++ candidates/3/policy.py\n")
    assert "-QUEUE_ORDER = 'priority_fifo'" in diff and "+QUEUE_ORDER = 'priority_shortest'" in diff


def test_scrub_replaces_secrets_in_nested_values_and_escaped_forms() -> None:
    secret = "sk-a&b<c>d-123"
    data = {"x": [f"key={secret}", {"y": secret}], "n": 3}
    assert "sk-a" not in json.dumps(scrub(data, [secret]))
    assert scrub_text("k=sk-a&amp;b&lt;c&gt;d-123", [secret]) == f"k={REDACTED}"


def test_a_result_without_score_takes_the_evaluation_event_or_aggregate(runs_dir: Path) -> None:
    # Real runs (agents/nodes.py at this writing) may leave result.json's score null.
    for n in (1, 2, 3):
        path = runs_dir / RUN_ID / "candidates" / str(n) / "result.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "score": None}))
    view = load_run(runs_dir / RUN_ID)
    assert [c.score for c in view.candidates] == [50.0, 53.0, 56.0]
    (row,) = list_runs(runs_dir)
    assert row.best_score == 56.0  # from the evaluation report's aggregate
