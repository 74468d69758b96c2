"""``policyforge run`` end to end against a fake OpenAI-compatible server on loopback: the real
ChatOpenAI path for every role, a 429 and a 500 retried, tokens and dollars counted, no key in
the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from agents.nodes import CriticVerdict, ReviewVerdict
from tests.agents.fake_openai import FakeOpenAI
from tests.agents.scripted import GOOD, OBJECTIVE, answer
from tests.sandbox.helpers import ROOT

KEY = "sk-policyforge-canary-0123456789abcdef"


def test_a_run_against_an_openai_compatible_server(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."fake-model"]\ninput_per_mtok = 2.0\noutput_per_mtok = 8.0\n')
    with FakeOpenAI() as server:
        server.reply_tool_calls([("Objective", OBJECTIVE.model_dump(mode="json"))])
        server.fail(429, headers={"Retry-After": "0"})
        server.reply("Direction: priorities first, OOM-aware RAM.")
        server.fail(500)
        server.reply_tool_calls([("validate_policy", {"code": GOOD})])
        server.reply(answer(GOOD, "Priority classes."), prompt_tokens=900,
                     completion_tokens=2500)
        server.reply_tool_calls([("CriticVerdict", CriticVerdict(
            accept=True, reasons=["beats priority by a wide margin"], hint="").model_dump())])
        server.reply_tool_calls([("ReviewVerdict", ReviewVerdict(
            approve=True, comments=["clear"]).model_dump())])
        proc = subprocess.run(
            [sys.executable, "-m", "policyforge", "run", "--model", "fake-model",
             "--base-url", server.base_url, "--suite", "small", "--sandbox", "local",
             "--max-usd", "1", "--prices", str(prices), "--runs-dir", str(tmp_path / "runs"),
             "--goal", "most completed pipelines"],
            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "OPENAI_API_KEY": KEY})
        requests = server.requests
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(requests) == 8  # six answers, one 429 and one 500 retried
    # The coder's tool call was answered through the real tool and sent back as a tool message.
    tool_messages = [m for m in requests[5].body["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1 and tool_messages[0]["content"].startswith("ok")
    assert any(t["function"]["name"] == "run_simulation" for t in requests[4].body["tools"])
    assert all({k.lower(): v for k, v in r.headers.items()}["authorization"] == f"Bearer {KEY}"
               for r in requests)
    assert {r.body["model"] for r in requests} == {"fake-model"}
    [run_dir] = list((tmp_path / "runs").iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "accepted"
    spent = run["spent"]
    assert spent["model_calls"] == 8 and spent["failed_calls"] == 2
    assert spent["output_tokens"] == 5 * 20 + 2500  # the servers' usage figures
    assert spent["input_tokens"] > 5 * 100 + 900  # plus the two failed tries' prompts
    assert abs(spent["usd"] - (spent["input_tokens"] * 2 + spent["output_tokens"] * 8) / 1e6) \
        < 1e-9
    assert 0 < spent["usd"] < 1
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".py"):
            assert KEY not in path.read_text(), path
