"""The real `make_chat_model` (ChatOpenAI) through `ModelCaller` against a local fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from agents.budget import BudgetExhausted, BudgetLimits, Spend
from agents.calls import MalformedOutput, ModelCaller, ModelCallFailed
from agents.models import RoleModelConfig, make_chat_model
from agents.pricing import Price, PriceTable
from tests.agents.fake_openai import FakeOpenAI
from tests.agents.test_calls import Events

CANARY_ENV = "POLICYFORGE_TEST_CANARY_CRED"  # no secret-looking suffix: found via api_key_env
CANARY = "sk-canary-8f3e2a91c7d4b605"
PRICES = PriceTable({"fake-model": Price(input_per_mtok=1.0, output_per_mtok=2.0)})


class Verdict(BaseModel):
    """The critic's verdict."""

    accept: bool
    reason: str


@tool
def quick_sim(policy: str, load: int = 1) -> str:
    """Run a quick simulation of a policy at a load factor."""
    return f"{policy} at {load}x: fine"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv(CANARY_ENV, CANARY)
    with FakeOpenAI() as fake:
        yield fake


def make_caller(server: FakeOpenAI, limits: BudgetLimits | None = None,
                max_tokens: int = 200) -> tuple[ModelCaller, list[dict[str, Any]]]:
    cfg = RoleModelConfig(model="fake-model", base_url=server.base_url, api_key_env=CANARY_ENV,
                          max_tokens=max_tokens, timeout_s=10)
    events = Events()
    caller = ModelCaller({"coder": make_chat_model(cfg)}, {"coder": cfg}, PRICES,
                         limits or BudgetLimits(), Spend(), events.record, max_attempts=3,
                         wait_base_s=0.01)
    return caller, events


PROMPT = [SystemMessage("You write scheduling policies."), HumanMessage("Protect query p99.")]


def test_plain_text_answer_is_returned_counted_and_recorded(server: FakeOpenAI) -> None:
    server.reply("Use priority queues.", prompt_tokens=120, completion_tokens=30)
    caller, events = make_caller(server)
    answer = caller.invoke("coder", PROMPT)
    assert isinstance(answer, AIMessage) and answer.content == "Use priority queues."
    assert caller.spend.input_tokens == 120 and caller.spend.output_tokens == 30
    assert caller.spend.usd == pytest.approx((120 * 1.0 + 30 * 2.0) / 1e6)
    assert caller.spend.model_calls == 1 and caller.spend.failed_calls == 0
    body = server.requests[0].body
    assert body["model"] == "fake-model" and body["messages"][1]["content"] == "Protect query p99."
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 200
    [event] = events
    assert event["ok"] and event["attempt"] == 1 and event["message_out"]["content"] \
        == "Use priority queues."
    assert [m["role"] for m in event["messages_in"]] == ["system", "user"]


def test_tool_call_answer_carries_the_call_and_sends_the_tool_schema(server: FakeOpenAI) -> None:
    server.reply_tool_calls([("quick_sim", {"policy": "p.py", "load": 4})])
    caller, events = make_caller(server)
    answer = caller.invoke("coder", PROMPT, tools=[quick_sim])
    assert isinstance(answer, AIMessage)
    assert [(c["name"], c["args"]) for c in answer.tool_calls] == \
        [("quick_sim", {"policy": "p.py", "load": 4})]
    assert [t["function"]["name"] for t in server.requests[0].body["tools"]] == ["quick_sim"]
    assert events[0]["message_out"]["tool_calls"][0]["args"] == {"policy": "p.py", "load": 4}


def test_structured_output_parses_the_forced_tool_call(server: FakeOpenAI) -> None:
    server.reply_tool_calls([("Verdict", {"accept": True, "reason": "beats FIFO by 12%"})],
                            prompt_tokens=80, completion_tokens=15)
    caller, _ = make_caller(server)
    verdict = caller.invoke("coder", PROMPT, schema=Verdict)
    assert verdict == Verdict(accept=True, reason="beats FIFO by 12%")
    assert caller.spend.tokens == 95
    assert server.requests[0].body["tool_choice"]["function"]["name"] == "Verdict"


def test_structured_output_with_bad_arguments_is_malformed_and_not_resent(
        server: FakeOpenAI) -> None:
    server.reply_tool_calls([("Verdict", {"accept": "perhaps"})])
    caller, events = make_caller(server)
    with pytest.raises(MalformedOutput) as malformed:
        caller.invoke("coder", PROMPT, schema=Verdict)
    assert "perhaps" in malformed.value.raw_text and len(server.requests) == 1
    assert caller.spend.failed_calls == 1 and caller.spend.tokens == 120 and not events[0]["ok"]


@pytest.mark.parametrize("status, headers", [(429, {"Retry-After": "0"}), (500, {})])
def test_transient_failure_is_retried_and_the_failed_attempt_counted(
        server: FakeOpenAI, status: int, headers: dict[str, str]) -> None:
    server.fail(status, headers=headers)
    server.reply("second time lucky", prompt_tokens=100, completion_tokens=10)
    caller, events = make_caller(server)
    answer = caller.invoke("coder", PROMPT)
    assert isinstance(answer, AIMessage) and answer.content == "second time lucky"
    assert len(server.requests) == 2
    assert [e["ok"] for e in events] == [False, True]
    assert [e["attempt"] for e in events] == [1, 2]
    assert str(status) in events[0]["error"]
    failed_prompt = events[0]["input_tokens"]
    assert failed_prompt > 0 and events[0]["output_tokens"] == 0  # the estimate, no output
    assert caller.spend.input_tokens == failed_prompt + 100
    assert caller.spend.output_tokens == 10
    assert caller.spend.model_calls == 2 and caller.spend.failed_calls == 1
    assert caller.spend.usd == pytest.approx(((failed_prompt + 100) * 1.0 + 10 * 2.0) / 1e6)


def test_transient_failures_on_every_attempt_end_in_model_call_failed(server: FakeOpenAI) -> None:
    for _ in range(3):
        server.fail(503)
    caller, events = make_caller(server)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert failure.value.attempts == 3 and "503" in failure.value.error
    assert len(server.requests) == 3 and caller.spend.failed_calls == 3


def test_auth_failure_is_not_retried(server: FakeOpenAI) -> None:
    server.fail(401, message="Incorrect API key provided")
    server.reply("never reached")
    caller, events = make_caller(server)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert len(server.requests) == 1 and failure.value.attempts == 1
    assert "AuthenticationError" in failure.value.error
    assert caller.spend.failed_calls == 1 and len(events) == 1


def test_api_key_is_sent_but_never_reaches_an_event(server: FakeOpenAI) -> None:
    server.fail(429, message=f"slow down, {CANARY}", headers={"Retry-After": "0"})
    server.reply(f"the key was {CANARY}")
    caller, events = make_caller(server)
    caller.invoke("coder", [HumanMessage(f"my key is {CANARY}")])
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in server.requests)
    dumped = json.dumps(events)
    assert len(events) == 2 and CANARY not in dumped and "[redacted]" in dumped


@pytest.mark.parametrize("limits, kind", [
    (BudgetLimits(max_usd=0.0001), "max_usd"),  # 200 answer tokens alone cost $0.0004
    (BudgetLimits(max_tokens=150), "max_tokens"),  # below the 200 answer tokens reserved
])
def test_call_that_would_break_the_budget_is_never_sent(
        server: FakeOpenAI, limits: BudgetLimits, kind: str) -> None:
    server.reply("should not be asked for")
    caller, events = make_caller(server, limits)
    with pytest.raises(BudgetExhausted) as refused:
        caller.invoke("coder", PROMPT)
    assert refused.value.kind == kind
    assert server.requests == [] and events == [] and caller.spend == Spend()


def test_a_compatible_server_gets_the_answer_limit_under_both_names() -> None:
    from agents.models import RoleModelConfig, make_chat_model

    with FakeOpenAI() as server:
        server.reply("hi")
        model = make_chat_model(RoleModelConfig(model="fake-model", base_url=server.base_url,
                                                api_key_env="POLICYFORGE_NO_SUCH_KEY",
                                                max_tokens=123))
        model.invoke("hello")
        body = server.requests[0].body
    assert body["max_completion_tokens"] == 123 and body["max_tokens"] == 123
