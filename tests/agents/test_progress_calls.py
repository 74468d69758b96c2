"""What `agents.progress.Progress` shows of model calls: every retry with its reason (also with
--quiet), and a long streaming answer's progress without a terminal every 30 s."""

from __future__ import annotations

import io

from agents.progress import STREAM_LINE_S, Progress


def test_a_retry_is_a_line_with_its_reason_even_when_quiet() -> None:
    for quiet in (False, True):
        out = io.StringIO()
        Progress(quiet=quiet, stream=out).model_retry(
            "coder", "no answer before the request timeout (3 s)", 2, 3, 1.0)
        assert out.getvalue() == ("  retry coder: no answer before the request timeout (3 s); "
                                  "attempt 2 of 3 in 1 s\n")


def test_a_long_answer_without_a_terminal_gets_a_line_every_30_seconds() -> None:
    out = io.StringIO()
    progress = Progress(stream=out)
    for seconds in (0.5, 10.0, STREAM_LINE_S + 1, STREAM_LINE_S + 5, 2 * STREAM_LINE_S + 2):
        progress.model_streaming("critic", int(seconds * 100), seconds)
    assert out.getvalue().splitlines() == ["  critic answering: 3,100 characters in 31 s",
                                           "  critic answering: 6,200 characters in 62 s"]
    quiet = io.StringIO()
    Progress(quiet=True, stream=quiet).model_streaming("critic", 10_000, 100.0)
    assert quiet.getvalue() == ""


def test_a_preflight_warning_is_shown() -> None:
    out = io.StringIO()
    Progress(stream=out).notice("warning: http://127.0.0.1:8000/v1 does not list model x")
    assert "does not list model x" in out.getvalue()
