"""``policyforge run`` as a real process against endpoints that are down, failing or slow, all on
127.0.0.1: a dead endpoint is exit 1 with its cause on the console, never "budget ran out"; a
slow one is waited for (or retried once) as ``--request-timeout`` says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.agents.fake_openai import FakeOpenAI
from tests.agents.scripted import OBJECTIVE
from tests.agents.test_endpoint import closed_port
from tests.sandbox.helpers import ROOT


def run(base_url: str, runs_dir: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                             float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "policyforge", "run", "--model", "fake-model",
         "--base-url", base_url, "--suite", "small", "--sandbox", "local",
         "--runs-dir", str(runs_dir), "--goal", "most completed pipelines", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-not-a-real-key-0123"})
    return proc, time.monotonic() - started


def events(runs_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [run_dir] = list(runs_dir.iterdir())
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return json.loads((run_dir / "run.json").read_text()), [json.loads(x) for x in lines]


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    return line


def test_a_closed_port_is_exit_1_with_the_cause_on_the_console(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc, seconds = run(url, tmp_path / "runs")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error_line(proc) == (f"error: model endpoint {url}: connection refused (is the server "
                                "running, on that port?) (preflight GET /models, 3 attempts)")
    assert proc.stdout.count("retry planner: preflight:") == 2  # attempts 2 and 3, shown
    assert "budget" not in error_line(proc)
    run_json, log = events(tmp_path / "runs")
    assert run_json["status"] == "failed" and "connection refused" in run_json["stop_reason"]
    assert run_json["spent"]["model_calls"] == 0 and run_json["spent"]["input_tokens"] == 0
    assert [e["attempt"] for e in log if e["type"] == "model_retry"] == [1, 2]
    [finished] = [e for e in log if e["type"] == "run_finished"]
    assert finished["status"] == "failed" and "connection refused" in finished["stop_reason"]
    print(f"closed port: exit 1 after {seconds:.1f} s")  # the retry waits are 1 s + 2 s


def test_a_server_answering_500_is_exit_1_with_the_cause_on_the_console(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.answer_everything_with = 500
        proc, seconds = run(server.base_url, tmp_path / "runs")
        listed = server.model_list_requests
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error_line(proc) == (f"error: model endpoint {server.base_url}: HTTP 500: injected "
                                "server failure (preflight GET /models, 3 attempts)")
    assert listed == 3
    run_json, _ = events(tmp_path / "runs")
    assert run_json["status"] == "failed" and run_json["spent"]["model_calls"] == 0
    print(f"500 server: exit 1 after {seconds:.1f} s")


def test_completions_failing_with_500_end_the_run_after_three_attempts(tmp_path: Path) -> None:
    with FakeOpenAI() as server:  # GET /models answers: the preflight passes
        for _ in range(3):
            server.fail(500, message="CUDA out of memory")
        server.reply("never asked")
        proc, _ = run(server.base_url, tmp_path / "runs")
        posts = len(server.requests)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert posts == 3
    assert error_line(proc) == (f"error: model endpoint {server.base_url}: HTTP 500: CUDA out of "
                                "memory (planner call, 3 attempts)")
    run_json, log = events(tmp_path / "runs")
    assert run_json["status"] == "failed"
    assert run_json["spent"]["model_calls"] == 3 and run_json["spent"]["failed_calls"] == 3
    assert len([e for e in log if e["type"] == "model_retry"]) == 2


def slow_objective(server: FakeOpenAI, delay_s: float) -> None:
    """The objective answered after ``delay_s``, with usage large enough that the token budget
    (--max-tokens 50000) ends the run right after it: the test is about this one call."""
    server.reply_tool_calls([("Objective", OBJECTIVE.model_dump(mode="json"))],
                            prompt_tokens=100_000, completion_tokens=50, delay_s=delay_s)


def test_a_slow_answer_within_the_request_timeout_is_used_and_nothing_retried(
        tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        slow_objective(server, 6.0)
        proc, _ = run(server.base_url, tmp_path / "runs", "--request-timeout", "10",
                      "--max-tokens", "50000")
        posts = len(server.requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # the token budget, as arranged
    assert posts == 1 and "retry" not in proc.stdout
    run_json, log = events(tmp_path / "runs")
    assert run_json["objective"]["metric"] == OBJECTIVE.metric  # the slow answer was used
    [call] = [e for e in log if e["type"] == "model_call"]
    assert call["ok"] and call["latency_s"] >= 6.0 and call["timeout_s"] == 10
    assert not [e for e in log if e["type"] == "model_retry"]


def test_a_slow_answer_past_the_request_timeout_is_retried_exactly_once_and_shown(
        tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        slow_objective(server, 6.0)  # the first attempt gives up on this one after 3 s
        slow_objective(server, 0.0)  # the retry is answered at once
        proc, _ = run(server.base_url, tmp_path / "runs", "--request-timeout", "3",
                      "--max-tokens", "50000")
        posts = len(server.requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert posts == 2
    [shown] = [x for x in proc.stdout.splitlines() if "retry" in x]
    assert shown.strip() == ("retry planner: no answer before the request timeout (3 s); "
                             "attempt 2 of 3 in 1 s")
    run_json, log = events(tmp_path / "runs")
    [retry] = [e for e in log if e["type"] == "model_retry"]
    assert retry["reason"] == "no answer before the request timeout (3 s)"
    assert "TimeoutError" in retry["error"]
    calls = [e for e in log if e["type"] == "model_call"]
    assert [c["ok"] for c in calls] == [False, True]
    assert run_json["objective"]["metric"] == OBJECTIVE.metric


def test_run_and_chat_help_show_the_request_timeout_and_nonsense_is_refused(
        tmp_path: Path) -> None:
    for command in ("run", "chat"):
        proc = subprocess.run([sys.executable, "-m", "policyforge", command, "--help"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0 and "--request-timeout S" in proc.stdout, command
    proc, _ = run("http://127.0.0.1:9/v1", tmp_path / "runs", "--request-timeout", "0")
    assert proc.returncode == 2 and "--request-timeout must be positive" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_models_file_gives_one_role_its_own_request_timeout(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        models = tmp_path / "models.toml"
        models.write_text(f'model = "fake-model"\nbase_url = "{server.base_url}"\n\n'
                          "[roles.planner]\nrequest_timeout_s = 3\n")
        slow_objective(server, 6.0)
        slow_objective(server, 0.0)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "policyforge", "run", "--models", str(models),
             "--suite", "small", "--sandbox", "local", "--runs-dir", str(tmp_path / "runs"),
             "--max-tokens", "50000"],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        posts = len(server.requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert posts == 2 and "no answer before the request timeout (3 s)" in proc.stdout
    run_json, _ = events(tmp_path / "runs")
    assert run_json["config"]["models"]["planner"]["request_timeout_s"] == 3
    assert run_json["config"]["models"]["coder"]["request_timeout_s"] == 600
    print(f"models file run: {time.monotonic() - started:.1f} s")


def test_chat_with_a_dead_endpoint_says_why_and_goes_on(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = subprocess.run(
        [sys.executable, "-m", "policyforge", "chat", "--model", "m", "--base-url", url,
         "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT, input="hello\n/quit\n", capture_output=True, text=True, timeout=120,
        check=False, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"error: model endpoint {url}: connection refused" in proc.stdout
    assert proc.stdout.count("[retry planner:") == 2 and "session saved" in proc.stdout


def test_on_a_terminal_a_streaming_answer_is_counted_as_it_arrives(tmp_path: Path) -> None:
    import pexpect

    with FakeOpenAI() as server:
        server.reply_tool_calls([("Objective", OBJECTIVE.model_dump(mode="json"))],
                                prompt_tokens=100_000, completion_tokens=50,
                                chunk_delay_s=0.15)  # ~30 chunks over ~4 s
        child = pexpect.spawn(
            sys.executable, ["-m", "policyforge", "run", "--model", "fake-model",
                             "--base-url", server.base_url, "--suite", "small", "--sandbox",
                             "local", "--runs-dir", str(tmp_path / "runs"), "--max-tokens",
                             "50000"],
            cwd=str(ROOT), encoding="utf-8", timeout=240,
            env={**os.environ, "COLUMNS": "160", "TERM": "xterm",
                 "OPENAI_API_KEY": "sk-test-not-a-real-key-0123"})
        child.expect(r"setting the objective: \d+ characters in \d+ s")
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 3  # the token budget, as arranged


def test_an_endpoint_always_slower_than_the_request_timeout_is_retried_once_then_exit_1(
        tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        for _ in range(3):
            slow_objective(server, 6.0)
        proc, _ = run(server.base_url, tmp_path / "runs", "--request-timeout", "3")
        posts = len(server.requests)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert posts == 2 and proc.stdout.count("retry planner:") == 1
    assert error_line(proc) == (f"error: model endpoint {server.base_url}: no answer within 3 s "
                                "(raise --request-timeout) (planner call, 2 attempts)")
    run_json, log = events(tmp_path / "runs")
    assert run_json["status"] == "failed" and "no answer within 3 s" in run_json["stop_reason"]
    assert len([e for e in log if e["type"] == "model_retry"]) == 1
