"""The settings the README gives for OpenAI, vLLM, Ollama and llama.cpp, each against a loopback
fake of that server's known quirks: usage in the stream or not, tool calls in pieces or whole
(with or without an index), a named ``tool_choice`` ignored, no ``/models`` route."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from agents.budget import BudgetLimits, Spend
from agents.calls import ModelCaller
from agents.models import RoleModelConfig, make_chat_model
from agents.pricing import Price, PriceTable
from tests.agents.fake_openai import LLAMA_CPP, OLD_OLLAMA, OLLAMA, OPENAI, VLLM, FakeOpenAI, Quirks
from tests.agents.test_calls import Events

FLAVOURS = {"openai": OPENAI, "vllm": VLLM, "ollama": OLLAMA, "llama.cpp": LLAMA_CPP,
            "old ollama": OLD_OLLAMA}
SENDS_USAGE = {"openai": True, "vllm": True, "ollama": True, "llama.cpp": True,
               "old ollama": False}
PRICES = PriceTable({"fake-model": Price(input_per_mtok=1.0, output_per_mtok=2.0)})


class Verdict(BaseModel):
    """A verdict."""

    accept: bool
    reason: str


@tool
def quick_sim(policy: str, load: int = 1) -> str:
    """Run a quick simulation."""
    return "ok"


@tool
def validate_policy(code: str) -> str:
    """Check a policy."""
    return "ok"


def caller_for(server: FakeOpenAI, **settings: Any) -> tuple[ModelCaller, Events]:
    cfg = RoleModelConfig(model="fake-model", base_url=server.base_url,
                          api_key_env="NO_SUCH_KEY_FOR_FLAVOURS", max_tokens=100, **settings)
    events = Events()
    caller = ModelCaller({"coder": make_chat_model(cfg)}, {"coder": cfg}, PRICES,
                         BudgetLimits(), Spend(), events.record, wait_base_s=0.01)
    return caller, events


def serve(flavour: str) -> FakeOpenAI:
    """The fake of ``flavour``; without a /models route it first answers the preflight ping."""
    server = FakeOpenAI(quirks=FLAVOURS[flavour])
    if not server.quirks.models_route:
        server.reply("OK", prompt_tokens=5, completion_tokens=1)
    return server


@pytest.fixture(params=list(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_text_answer_is_counted_from_the_servers_usage_or_estimated_and_marked(
        flavour: str) -> None:
    with serve(flavour) as server:
        server.reply("Short queues first.", prompt_tokens=321, completion_tokens=12)
        caller, events = caller_for(server)
        answer = caller.invoke("coder", [HumanMessage("how?")])
    assert isinstance(answer, AIMessage) and answer.content == "Short queues first."
    answered = events[-1]
    if SENDS_USAGE[flavour]:
        assert (answered["input_tokens"], answered["output_tokens"]) == (321, 12)
        assert "usage_estimated" not in answered
    else:
        assert answered["usage_estimated"] is True and answered["input_tokens"] > 0
    assert caller.spend.usd > 0


def test_two_tool_calls_in_one_answer_arrive_whole(flavour: str) -> None:
    with serve(flavour) as server:
        server.reply_tool_calls([("quick_sim", {"policy": "p.py", "load": 4}),
                                 ("validate_policy", {"code": "def f():\n    return 1\n"})])
        caller, _ = caller_for(server)
        answer = caller.invoke("coder", [HumanMessage("go")], tools=[quick_sim, validate_policy])
    assert isinstance(answer, AIMessage) and not answer.invalid_tool_calls
    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
        ("quick_sim", {"policy": "p.py", "load": 4}),
        ("validate_policy", {"code": "def f():\n    return 1\n"})]
    assert all(c["id"] for c in answer.tool_calls)


def test_a_structured_answer_parses_from_the_forced_tool_call(flavour: str) -> None:
    with serve(flavour) as server:
        server.reply_tool_calls([("Verdict", {"accept": True, "reason": "beats FIFO"})])
        caller, _ = caller_for(server)
        verdict = caller.invoke("coder", [HumanMessage("judge")], schema=Verdict)
        body = server.requests[-1].body
    assert verdict == Verdict(accept=True, reason="beats FIFO")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}


def test_a_server_ignoring_the_named_tool_choice_may_answer_json_in_text() -> None:
    # Ollama and llama.cpp take tool_choice "auto" whatever is asked: a model may then write
    # the object as text, in a fence or bare.
    with FakeOpenAI(quirks=OLLAMA) as server:
        server.reply('Here it is:\n```json\n{"accept": false, "reason": "starves batch"}\n```')
        server.reply("I would accept it.")
        caller, _ = caller_for(server)
        verdict = caller.invoke("coder", [HumanMessage("judge")], schema=Verdict)
        assert verdict == Verdict(accept=False, reason="starves batch")
        from agents.calls import MalformedOutput

        with pytest.raises(MalformedOutput, match="without calling the Verdict tool"):
            caller.invoke("coder", [HumanMessage("judge")], schema=Verdict)


def test_running_usage_totals_in_every_chunk_are_not_added_up() -> None:
    quirks = Quirks(usage_in_every_chunk=True)  # vLLM with continuous usage stats
    with FakeOpenAI(quirks=quirks) as server:
        server.reply("a fairly long answer in many chunks", prompt_tokens=1000,
                     completion_tokens=40)
        caller, _ = caller_for(server)
        caller.invoke("coder", [HumanMessage("x")])
    assert (caller.spend.input_tokens, caller.spend.output_tokens) == (1000, 40)


@pytest.mark.parametrize("flavour, method", [("openai", "GET /models"),
                                             ("old ollama", "one-token completion")])
def test_the_preflight_uses_the_models_route_or_a_one_token_call(flavour: str,
                                                                 method: str) -> None:
    with FakeOpenAI(quirks=FLAVOURS[flavour]) as server:
        server.reply("OK")
        caller, events = caller_for(server)
        caller.preflight()
    [check] = [e for e in events.other if e["type"] == "preflight"]
    assert check["ok"] and check["method"] == method


def test_the_readme_settings_reach_the_server() -> None:
    with FakeOpenAI(quirks=VLLM) as server:
        server.reply("ok")
        caller, _ = caller_for(server, reasoning_effort="low", temperature=0.2,
                               request_timeout_s=900)
        caller.invoke("coder", [HumanMessage("x")])
        body = server.requests[0].body
    assert body["reasoning_effort"] == "low" and body["temperature"] == 0.2
    assert body["max_tokens"] == 100 and body["stream"] is True
