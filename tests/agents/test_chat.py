"""``policyforge chat`` driven through a pseudo-terminal with the scripted model: the goal
dialogue, the approval interrupt, a run, a question answered from the run's data, the slash
commands, and resuming the session."""

from __future__ import annotations

import io
import json
import os
import sys

import pexpect
import pytest

from tests.sandbox.helpers import ROOT

KEY = "sk-chat-canary-0123456789abcdef0123"
PROPOSE = {"content": "", "tool_calls": [{"name": "propose_run", "id": "p1", "args": {
    "goal": "most completed pipelines, no class starved",
    "objective": {"metric": "completed_pipelines", "margin": 0.05}, "max_iterations": 3}}]}


def spawn(tmp_path, script: dict, *args: str) -> pexpect.spawn:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
    path.write_text(json.dumps(script))
    env = {**os.environ, "POLICYFORGE_SCRIPTED_MODELS": str(path), "OPENAI_API_KEY": KEY,
           "COLUMNS": "120", "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, ["-m", "policyforge", "chat", "--run-model",
                                           "heuristic", "--sandbox", "local", "--runs-dir",
                                           str(tmp_path / "runs"), *args],
                          cwd=str(ROOT), env=env, encoding="utf-8", timeout=120)
    return child


def _say(child: pexpect.spawn, text: str) -> None:
    child.expect("you>")
    child.sendline(text)


def test_chat_agrees_a_goal_waits_for_approval_runs_and_answers_from_the_data(tmp_path):
    script = {"planner": [
        "What matters most to you: completed pipelines or query latency? And the budget?",
        PROPOSE,
        "The run has started; ask me anything about it.",
        {"content": "", "tool_calls": [{"name": "list_candidates", "args": {}, "id": "t1"}]},
        "Candidate 1 is the best: see its score above.",
    ]}
    child = spawn(tmp_path, script)
    child.expect("session (chat-[0-9a-f-]+)")
    session = child.match.group(1)
    _say(child, "/help")
    child.expect("/budget")
    _say(child, "I want the most completed pipelines, and no class should starve")
    child.expect("What matters most")
    _say(child, "completed pipelines; three iterations")
    child.expect("Proposed run")
    child.expect("Start this run\\?")
    assert not (tmp_path / "runs").exists() or not any(
        p.is_dir() and (p / "run.json").exists() for p in (tmp_path / "runs").iterdir())
    child.sendline("yes")
    child.expect("The run has started")
    child.expect(r"\[run (\S+) accepted \(accepted\)")  # the background run reports its end
    run_dir = tmp_path / "runs" / child.match.group(1)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["goal"] == "most completed pipelines, no class starved"
    best = json.loads((run_dir / "candidates/1/result.json").read_text())["score"]
    child.sendline("/status")
    child.expect(f'"best_score": {best}')
    _say(child, "why is candidate 1 better than the built-ins?")
    child.expect("tool list_candidates")
    child.expect(f"1 +ok +{best:g}")  # the tool read the run's own archive
    child.expect("Candidate 1 is the best")
    _say(child, "/budget iterations=4 usd=0.5")
    child.expect("max_iterations': 4")
    _say(child, "/stop")
    child.expect(f"--resume {session}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert KEY not in child.before

    # Resume: the conversation and its run are still there.
    recap = f"We spoke about completed pipelines; run {run_dir.name} is accepted."
    child = spawn(tmp_path, {"planner": [recap]}, "--resume", session)
    child.expect("why is candidate 1 better")  # the history is shown again
    assert "you> [policyforge]" not in child.before  # the session's own notes are not the person's
    _say(child, "/status")
    child.expect(run_dir.name)
    _say(child, "what did we agree?")
    child.expect("We spoke about completed pipelines")
    _say(child, "/quit")
    child.expect(pexpect.EOF)


def test_questions_during_a_run_and_stop_leave_it_resumable(tmp_path):
    script = {"planner": [
        PROPOSE, "Started.",
        {"content": "", "tool_calls": [{"name": "run_status", "args": {}, "id": "s1"}]},
        "It is still running; the status is above.",
    ]}
    child = spawn(tmp_path, script, "--suite", "paper")  # long enough to talk during it
    seen = child.logfile_read = io.StringIO()
    _say(child, "maximise completed pipelines")
    child.expect("Start this run\\?")
    child.sendline("yes")
    child.expect("Started.")
    _say(child, "how is it going?")
    child.expect("tool run_status")
    child.expect('"status": "running"')
    child.expect("It is still running")
    _say(child, "/stop")
    child.expect("stopping run (\\S+) after its current step")
    run_id = child.match.group(1)
    child.expect(r"\[run \S+ stopped \(stopped\)")
    _say(child, "/quit")
    child.expect(pexpect.EOF)
    run = json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
    assert run["status"] == "stopped" and run["stop_reason"] == "stopped"
    # the slow first step says what it is doing, and the prompt comes back after it
    assert f"[run {run_id}: running the built-in baselines and bounds on paper" in seen.getvalue()


def test_quit_at_the_approval_question_ends_the_session_and_keeps_the_proposal(tmp_path):
    child = spawn(tmp_path, {"planner": [PROPOSE]})
    child.expect("session (chat-[0-9a-f-]+)")
    session = child.match.group(1)
    _say(child, "maximise completed pipelines")
    child.expect("Start this run\\?")
    child.sendline("/help")  # a slash command works here too, and the question comes back
    child.expect("/budget")
    child.expect("Start this run\\?")
    child.sendline("/quit")
    child.expect(f"--resume {session}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    runs = tmp_path / "runs"
    assert not [p for p in runs.iterdir() if (p / "run.json").exists()]  # nothing ran
    child = spawn(tmp_path, {"planner": []}, "--resume", session)
    child.expect("Proposed run")  # still waiting for the answer
    child.expect("Start this run\\?")
    child.sendline("/stop")
    child.expect(pexpect.EOF)


def test_declining_a_proposal_runs_nothing(tmp_path):
    script = {"planner": [PROPOSE, "Understood: what should change?"]}
    child = spawn(tmp_path, script)
    _say(child, "maximise completed pipelines")
    child.expect("Start this run\\?")
    child.sendline("no, only 2 iterations")
    child.expect("what should change")
    _say(child, "/quit")
    child.expect(pexpect.EOF)
    runs = tmp_path / "runs"
    assert not [p for p in runs.iterdir() if (p / "run.json").exists()]


@pytest.mark.parametrize("args, message", [
    (["--resume", "chat-nope"], "no chat session 'chat-nope'"),
])
def test_chat_bad_input_is_a_clear_error(tmp_path, args, message):
    child = spawn(tmp_path, {"planner": []}, *args)
    child.expect(message)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2


def test_chat_through_an_openai_compatible_server(tmp_path):
    from tests.agents.fake_openai import FakeOpenAI

    proposal = PROPOSE["tool_calls"][0]["args"]
    with FakeOpenAI() as server:
        server.reply("Shall I optimise completed pipelines with three iterations?")
        server.reply_tool_calls([("propose_run", proposal)])
        server.reply("Started; I will tell you when it is done.")
        env = {**os.environ, "OPENAI_API_KEY": KEY, "COLUMNS": "120"}
        env.pop("POLICYFORGE_SCRIPTED_MODELS", None)
        child = pexpect.spawn(sys.executable, [
            "-m", "policyforge", "chat", "--model", "fake-model", "--base-url",
            server.base_url, "--run-model", "heuristic", "--sandbox", "local", "--runs-dir",
            str(tmp_path / "runs")], cwd=str(ROOT), env=env, encoding="utf-8", timeout=120)
        _say(child, "most completed pipelines please")
        child.expect("Shall I optimise")
        _say(child, "yes, go ahead")
        child.expect("Start this run\\?")
        child.sendline("yes")
        child.expect("Started; I will tell you")
        child.expect(r"\[run \S+ accepted")
        child.sendline("/quit")  # the prompt is already up: the run reported in the background
        child.expect(pexpect.EOF)
        requests = server.requests
    assert len(requests) == 3
    assert all(any(t["function"]["name"] == "propose_run" for t in r.body["tools"])
               for r in requests)
    answered = [m for m in requests[2].body["messages"] if m["role"] == "tool"]
    assert answered and answered[0]["content"].startswith("approved")
    assert KEY not in child.before


def test_the_chat_proposes_until_budget_and_a_target_and_runs_a_population(tmp_path):
    propose = {"content": "", "tool_calls": [{"name": "propose_run", "id": "p1", "args": {
        "goal": "the best policy two rounds buy",
        "objective": {"metric": "completed_pipelines", "margin": 0.05, "target": 20},
        "max_iterations": 2, "until": "budget"}}]}
    child = spawn(tmp_path, {"planner": [propose, "Started."]}, "--population", "2")
    _say(child, "the best you can find in two rounds, at least 20 pipelines")
    child.expect("Proposed run")
    child.expect("the budget is spent")
    child.expect("Start this run\\?")
    child.sendline("yes")
    child.expect(r"evaluating candidate 2 on search")
    child.expect(r"\[run (\S+) accepted \(max_iterations\)")
    run_dir = tmp_path / "runs" / child.match.group(1)
    _say(child, "/quit")
    child.expect(pexpect.EOF)
    config = json.loads((run_dir / "run.json").read_text())["config"]
    assert (config["population"], config["until"]) == (2, "budget")
    assert config["objective"]["target"] == 20
    events = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert sum(e["type"] == "candidate" for e in events) == 4  # two rounds of two
    verdicts = [e for e in events if e["type"] == "verdict"]
    assert any("meets the target >= 20" in r for v in verdicts for r in v["reasons"])


def test_the_chat_tools_score_by_the_chosen_runs_suite_and_objective(tmp_path, monkeypatch):
    from agents.chat.session import ChatSession
    from policyforge.commands.chat import _parser

    script = tmp_path / "script.json"
    script.write_text(json.dumps({"planner": []}))
    monkeypatch.setenv("POLICYFORGE_SCRIPTED_MODELS", str(script))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    runs = tmp_path / "runs"
    args = _parser().parse_args(["--suite", "small", "--sandbox", "local",
                                 "--runs-dir", str(runs)])
    session = ChatSession(args, console=None)
    try:
        assert session.tool_ctx.suite == "small"
        assert session.tool_ctx.objective.aggregate == "median"
        run = runs / "r1"
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"suite": "scales", "objective": {
            "metric": "adjusted_latency_penalised", "aggregate": "geomean",
            "direction": "minimize", "suite": "scales", "failed_case_value": 720.0}}))
        session._set_run("r1")
        assert session.tool_ctx.suite == "scales"
        assert session.tool_ctx.objective.aggregate == "geomean"
        assert session.tool_ctx.objective.failed_case_value == 720.0
        (run / "run.json").write_text("{ damaged")
        session._set_run("r1")  # a damaged run.json: the session's own, not a crash
        assert session.tool_ctx.suite == "small"
        session._set_run(None)
        assert session.tool_ctx.objective.aggregate == "median"
    finally:
        session.close()
