"""Small defects of the loop, each pinned: summaries and archive lines cut at word boundaries,
progress without ``[iter ?]`` and with lines during the held-out evaluation and the probe."""

from __future__ import annotations

import io
import re

from agents import prompts
from agents.progress import Progress
from tests.agents.scripted import (
    ACCEPT,
    APPROVE,
    GOOD,
    PLAN,
    answer,
    direction,
    run,
    tool_call,
)


def test_shorten_never_cuts_inside_a_word_or_a_number() -> None:
    text = "Reserve 12.5% of pool 0 for queries; size RAM at 1.5x the last OOM; age batch work"
    for limit in range(10, len(text) + 5):
        short = prompts.shorten(text, limit)
        assert len(short) <= limit
        if short == text:
            continue
        assert short.endswith("…")
        kept = short[:-1]
        assert text.startswith(kept)
        assert text[len(kept):].startswith((" ", ",", ";", ":")), (limit, short)
    assert prompts.shorten("a " * 3 + "\n b", 100) == "a a a b"


def test_a_summary_keeps_its_semicolons_and_whole_words() -> None:
    said = ("Priority classes first; RAM sized from OOM history; batch work aged so it never "
            "starves.\nSecond paragraph line.\n\nUnrelated trailing text.\n\n```python\nx=1\n```")
    assert prompts.summary_line(said) == ("Priority classes first; RAM sized from OOM history; "
                                          "batch work aged so it never starves. Second "
                                          "paragraph line.")
    long = "word " * 100
    line = prompts.summary_line(long)
    assert line.endswith("…") and line[:-1].split() == ["word"] * len(line[:-1].split())


def test_archive_lines_cut_at_word_boundaries() -> None:
    summary = "Deadline-aware priority with RAM sized from OOM history " * 5
    verdict = "rejected; median completed_pipelines 30 vs best baseline priority 14 " * 6
    text = prompts.archive_text([{"n": 1, "status": "ok", "score": 3.0, "rank": 3.0,
                                  "summary": summary, "verdict_line": verdict}])
    head, tail = text.split(" | ")
    shown = head.split(": ", 1)[1]
    assert shown.endswith("…") and summary.startswith(shown[:-1])
    assert summary[len(shown) - 1] == " "
    assert tail.endswith("…") and verdict.startswith(tail[:-1]) and verdict[len(tail) - 1] == " "


def test_progress_has_no_unknown_iteration_and_says_when_held_out_and_probe_run(
        tmp_path) -> None:
    out = io.StringIO()
    scripts = {"planner": [PLAN, direction(1)],
               "coder": [tool_call("validate_policy", {"code": GOOD}), answer(GOOD)],
               "critic": [ACCEPT], "reviewer": [APPROVE]}
    outcome, _, _ = run(tmp_path, scripts, progress=Progress(stream=out))
    assert outcome.accepted_candidate == 1
    text = out.getvalue()
    assert "[iter ?]" not in text
    assert re.search(r"^\[iter 0\] tools", text, re.M)
    lines = text.splitlines()
    held = next(i for i, x in enumerate(lines) if "evaluating it on the held-out suite" in x)
    probe = next(i for i, x in enumerate(lines) if "running the robustness probe" in x)
    critic = next(i for i, x in enumerate(lines) if re.match(r"\[iter \d+\] critic", x))
    reviewer = next(i for i, x in enumerate(lines) if re.match(r"\[iter \d+\] reviewer", x))
    assert held < critic < probe < reviewer


def test_a_best_tied_with_a_later_candidate_says_so_and_keeps_the_first(tmp_path) -> None:
    import json

    from agents.nodes.evaluate import best_candidate

    recs = [{"n": 1, "rank": 32.0, "score": 32.0}, {"n": 2, "rank": 32.0, "score": 32.0}]
    assert best_candidate(recs) == 1 and best_candidate(recs[::-1]) == 1
    progress = Progress(stream=io.StringIO())
    (tmp_path / "run.json").write_text(json.dumps({"baseline": {"policy": "priority",
                                                                "score": 14}}))
    progress.run_dir = tmp_path
    progress.records = {"1": recs[0], "2": recs[1]}
    progress.best_n = 1
    assert "best 32 (#1, tied with #2) vs priority 14" in progress._standing()


def test_one_definition_of_gap_for_search_and_held_out() -> None:
    from agents.judge import judge
    from agents.objective import Objective
    from tools.metrics import relative_gap

    def stats(done: int) -> dict:
        per = {"arrival_count": 10, "completion_count": done}
        return {"pipelines_all": per, "pipelines_query": per, "pipelines_interactive": per,
                "pipelines_batch": per, "throughput": 1.0, "adjusted_latency": 1.0}

    objective = Objective(suite="small", margin=0.05)
    for ours, theirs in ((32, 14), (20, 19), (10, 12)):
        cases = ["a", "b", "c"]
        j = judge(objective, {c: stats(ours) for c in cases},
                  {"priority": {c: stats(theirs) for c in cases}}, cases)
        assert j.gap == relative_gap(ours, theirs) == (ours - theirs) / theirs
        assert f"(gap {j.gap:+.1%})" in j.reasons[0]
    latency = Objective(suite="small", metric="adjusted_latency", direction="minimize",
                        constraints=[])
    assert relative_gap(8.0, 10.0, higher_is_better=False) == 0.2
    j = judge(latency, {"a": {**stats(1), "adjusted_latency": 8.0}},
              {"priority": {"a": {**stats(1), "adjusted_latency": 10.0}}}, ["a"])
    assert j.gap == 0.2 and relative_gap(5.0, 0.0) is None
