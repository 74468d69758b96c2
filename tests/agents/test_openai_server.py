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
                max_tokens: int = 200, request_timeout_s: float = 10,
                observer: Any = None) -> tuple[ModelCaller, Events]:
    cfg = RoleModelConfig(model="fake-model", base_url=server.base_url, api_key_env=CANARY_ENV,
                          max_tokens=max_tokens, request_timeout_s=request_timeout_s)
    events = Events()
    caller = ModelCaller({"coder": make_chat_model(cfg)}, {"coder": cfg}, PRICES,
                         limits or BudgetLimits(), Spend(), events.record, max_attempts=3,
                         wait_base_s=0.01, observer=observer)
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
    dumped = json.dumps([events, events.retries])
    assert len(events) == 2 and len(events.retries) == 1
    assert CANARY not in dumped and "[redacted]" in dumped


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
    assert refused.value.limit == kind
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


# --- streaming, timeouts, retries --------------------------------------------------------------


class Watcher:
    """An observer that keeps what the caller told it."""

    def __init__(self) -> None:
        self.retries: list[tuple[str, str, int, int, float]] = []
        self.streaming: list[tuple[str, int, float]] = []
        self.notices: list[str] = []

    def model_retry(self, role: str, reason: str, attempt: int, of: int, wait_s: float) -> None:
        self.retries.append((role, reason, attempt, of, wait_s))

    def model_streaming(self, role: str, chars: int, seconds: float) -> None:
        self.streaming.append((role, chars, seconds))

    def notice(self, text: str) -> None:
        self.notices.append(text)


def test_every_call_streams_and_asks_for_its_usage(server: FakeOpenAI) -> None:
    server.reply("Streamed in pieces of seven characters.", prompt_tokens=77,
                 completion_tokens=9)
    caller, events = make_caller(server)
    answer = caller.invoke("coder", PROMPT)
    assert answer.content == "Streamed in pieces of seven characters."
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (caller.spend.input_tokens, caller.spend.output_tokens) == (77, 9)
    assert "usage_estimated" not in events[0]


def test_a_stream_without_usage_is_charged_the_estimate_and_marked(server: FakeOpenAI) -> None:
    server.reply("no usage here", usage=False)
    caller, events = make_caller(server)
    caller.invoke("coder", PROMPT)
    assert events[0]["usage_estimated"] is True
    assert events[0]["input_tokens"] > 0 and events[0]["output_tokens"] > 0
    assert caller.spend.usd == pytest.approx(
        (events[0]["input_tokens"] * 1.0 + events[0]["output_tokens"] * 2.0) / 1e6)


def test_a_slow_first_byte_is_retried_once_and_the_retry_shown(server: FakeOpenAI) -> None:
    server.reply("too late", delay_s=1.5)
    server.reply("in time", prompt_tokens=50, completion_tokens=5)
    watcher = Watcher()
    caller, events = make_caller(server, request_timeout_s=0.5, observer=watcher)
    answer = caller.invoke("coder", PROMPT)
    assert answer.content == "in time" and len(server.requests) == 2
    [retry] = events.retries
    assert "request timeout" in retry["reason"] and "0.5 s" in retry["reason"]
    assert (retry["attempt"], retry["next_attempt"]) == (1, 2)
    assert [e["ok"] for e in events] == [False, True]
    assert [(r[0], r[2]) for r in watcher.retries] == [("coder", 2)]
    assert caller.spend.failed_calls == 1 and caller.spend.model_calls == 2


def test_a_second_read_timeout_is_not_retried_and_names_the_timeout(server: FakeOpenAI) -> None:
    server.reply("late", delay_s=1.5)
    server.reply("late again", delay_s=1.5)
    server.reply("never asked")
    caller, events = make_caller(server, request_timeout_s=0.5)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert len(server.requests) == 2 and len(events.retries) == 1
    assert failure.value.ends_run and failure.value.problem is not None
    assert failure.value.problem.kind == "timeout"
    assert "no answer within 0.5 s" in failure.value.reason
    assert "--request-timeout" in failure.value.reason


def test_a_timeout_after_the_answer_began_to_stream_is_not_retried(server: FakeOpenAI) -> None:
    server.reply("begins, then stalls", stall_s=1.5)
    server.reply("never asked")
    caller, events = make_caller(server, request_timeout_s=0.5)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert len(server.requests) == 1 and events.retries == []
    # The endpoint is alive, this answer was too slow: the iteration fails, not the run.
    assert not failure.value.ends_run and failure.value.problem is None
    assert "cut after 0.5 s (raise --request-timeout)" in failure.value.reason
    assert events[0]["streamed_chars"] > 0 and events[0]["usage_estimated"]
    assert events[0]["output_tokens"] > 0  # what had streamed is charged


def test_the_wall_clock_budget_cuts_the_timeout_and_ends_the_run_as_budget(
        server: FakeOpenAI) -> None:
    server.reply("too slow for the budget", delay_s=1.5)
    server.reply("never asked")
    caller, events = make_caller(server, limits=BudgetLimits(max_minutes=0.5 / 60),
                                 request_timeout_s=600)
    with pytest.raises(BudgetExhausted) as refused:
        caller.invoke("coder", PROMPT)
    assert refused.value.limit == "max_minutes" and len(server.requests) == 1
    assert events[0]["timeout_s"] <= 0.5 and events.retries == []


def test_a_server_answering_500_every_time_ends_the_run_after_three_attempts(
        server: FakeOpenAI) -> None:
    for _ in range(4):
        server.fail(500, message="model crashed")
    watcher = Watcher()
    caller, events = make_caller(server, observer=watcher)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert len(server.requests) == 3 and len(events.retries) == 2 and len(watcher.retries) == 2
    assert failure.value.ends_run and failure.value.problem.kind == "server_error"  # type: ignore
    assert "HTTP 500: model crashed" in failure.value.reason
    assert server.base_url in failure.value.reason and "3 attempts" in failure.value.reason


def test_a_rate_limit_on_every_attempt_fails_the_call_but_not_the_run(server: FakeOpenAI) -> None:
    for _ in range(3):
        server.fail(429, headers={"Retry-After": "0"})
    caller, _ = make_caller(server)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert not failure.value.ends_run and failure.value.problem is None


def test_a_long_answer_tells_the_observer_as_it_streams(server: FakeOpenAI) -> None:
    server.reply("x" * 70, stall_s=0.7)  # the stall is after the first chunk: time passes
    watcher = Watcher()
    caller, _ = make_caller(server, observer=watcher)
    caller.invoke("coder", PROMPT)
    assert watcher.streaming and watcher.streaming[-1][0] == "coder"
    assert watcher.streaming[-1][2] >= 0.5
