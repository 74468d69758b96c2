"""`ModelCaller` with scripted models: estimates, budget refusal, retries, counting, events;
and the secret scrubbing every event goes through."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx  # the HTTP client this openai release is built on
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from agents.budget import BudgetExhausted, BudgetLimits, Spend
from agents.calls import (
    MalformedOutput,
    ModelCaller,
    ModelCallFailed,
    approx_tokens,
    estimate_prompt_tokens,
    is_transient,
    retry_after_s,
)
from agents.models import ModelConfigError, RoleModelConfig
from agents.pricing import Price, PriceTable
from agents.scripted import ScriptedChatModel, structured_response
from agents.secrets import REDACTED, scrub, secret_values

PRICES = PriceTable({"scripted": Price(input_per_mtok=1.0, output_per_mtok=2.0)})
USAGE = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


class Verdict(BaseModel):
    """A verdict."""

    accept: bool
    reason: str


@tool
def quick_sim(policy: str) -> str:
    """Run a quick simulation."""
    return "ok"


def status_error(cls: type[openai.APIStatusError], status: int, code: str | None = None,
                 headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "https://example.invalid/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return cls(f"error {status}", response=response, body={"code": code} if code else None)


def connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(request=httpx.Request("POST", "https://example.invalid"))


class Events(list[dict[str, Any]]):
    """The ``model_call`` events a caller sent; its other events by type beside them."""

    def __init__(self) -> None:
        super().__init__()
        self.retries: list[dict[str, Any]] = []
        self.other: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        (self if kind == "model_call" else self.retries if kind == "model_retry"
         else self.other).append(event)


def make_caller(script: list[Any], limits: BudgetLimits | None = None, max_tokens: int = 50,
                api_key_env: str = "OPENAI_API_KEY", spend: Spend | None = None,
                ) -> tuple[ModelCaller, ScriptedChatModel, list[dict[str, Any]]]:
    model = ScriptedChatModel(script, label="coder")
    cfg = RoleModelConfig(model="scripted", max_tokens=max_tokens, api_key_env=api_key_env)
    events = Events()
    caller = ModelCaller({"coder": model}, {"coder": cfg}, PRICES, limits or BudgetLimits(),
                         spend or Spend(), events.record, max_attempts=3, wait_base_s=0.001)
    return caller, model, events


def answer(content: str = "ok", **extra: Any) -> AIMessage:
    return AIMessage(content=content, usage_metadata=USAGE, **extra)


PROMPT = [HumanMessage("x" * 400)]  # 100 tokens + 4 overhead by the approximation


# --- estimates ---------------------------------------------------------------------------------


def test_prompt_estimate_is_a_quarter_token_per_character_plus_overhead() -> None:
    assert approx_tokens("") == 0 and approx_tokens("abcd") == 1 and approx_tokens("abcde") == 2
    assert estimate_prompt_tokens(PROMPT) == 104
    schema = {"type": "function", "function": {"name": "f"}}
    assert estimate_prompt_tokens(PROMPT, [schema]) == \
        104 + approx_tokens(json.dumps(schema, sort_keys=True))


def test_tool_calls_in_history_count_toward_the_estimate() -> None:
    call = AIMessage(content="", tool_calls=[{"name": "quick_sim", "args": {"policy": "p" * 80},
                                              "id": "c"}])
    assert estimate_prompt_tokens([call]) > 20


# --- budget ------------------------------------------------------------------------------------


def test_call_that_would_break_the_token_limit_is_refused_before_the_model_is_asked() -> None:
    caller, model, events = make_caller([answer()], BudgetLimits(max_tokens=153))
    with pytest.raises(BudgetExhausted) as refused:
        caller.invoke("coder", PROMPT)  # 104 prompt + 50 reserved answer = 154
    assert refused.value.limit == "max_tokens"
    assert model.calls == [] and events == [] and caller.spend == Spend()


def test_estimate_that_lands_exactly_on_the_limit_is_sent() -> None:
    caller, model, _ = make_caller([answer()], BudgetLimits(max_tokens=154))
    caller.invoke("coder", PROMPT)
    assert len(model.calls) == 1


def test_dollar_estimate_prices_prompt_and_reserved_answer() -> None:
    expected = (104 * 1.0 + 50 * 2.0) / 1e6
    caller, model, _ = make_caller([answer()], BudgetLimits(max_usd=expected * 0.999))
    with pytest.raises(BudgetExhausted, match="max_usd"):
        caller.invoke("coder", PROMPT)
    caller, model, _ = make_caller([answer()], BudgetLimits(max_usd=expected))
    caller.invoke("coder", PROMPT)
    assert len(model.calls) == 1


def test_used_up_wall_time_refuses_the_call() -> None:
    caller, model, _ = make_caller([answer()], BudgetLimits(max_minutes=1),
                                   spend=Spend(seconds=60))
    with pytest.raises(BudgetExhausted, match="max_minutes"):
        caller.invoke("coder", PROMPT)
    assert model.calls == []


def test_budget_is_checked_again_before_a_retry() -> None:
    # The failed attempt is charged its 104 estimated prompt tokens: a second 154-token
    # attempt would then go past 200.
    caller, model, events = make_caller([connection_error(), answer()],
                                        BudgetLimits(max_tokens=200))
    with pytest.raises(BudgetExhausted, match="max_tokens"):
        caller.invoke("coder", PROMPT)
    assert len(model.calls) == 1 and caller.spend.input_tokens == 104
    assert len(events) == 1 and len(events.retries) == 1


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [
    status_error(openai.RateLimitError, 429), status_error(openai.InternalServerError, 500),
    status_error(openai.InternalServerError, 503), status_error(openai.APIStatusError, 408),
    connection_error(),
    openai.APITimeoutError(request=httpx.Request("POST", "https://example.invalid")),
])
def test_transient_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)
    caller, model, events = make_caller([error, answer("recovered")])
    result = caller.invoke("coder", PROMPT)
    assert isinstance(result, AIMessage) and result.content == "recovered"
    assert len(model.calls) == 2 and [e["ok"] for e in events] == [False, True]


@pytest.mark.parametrize("error", [
    status_error(openai.AuthenticationError, 401), status_error(openai.BadRequestError, 400),
    status_error(openai.RateLimitError, 429, code="insufficient_quota"),
    ValueError("a bug, not the network"),
])
def test_other_errors_fail_at_once(error: Exception) -> None:
    assert not is_transient(error)
    caller, model, events = make_caller([error, answer()])
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("coder", PROMPT)
    assert failure.value.attempts == 1 and type(error).__name__ in failure.value.error
    assert failure.value.__cause__ is error
    assert len(model.calls) == 1 and len(events) == 1


def test_retry_after_header_is_read_in_seconds_or_milliseconds() -> None:
    assert retry_after_s(status_error(openai.RateLimitError, 429,
                                      headers={"Retry-After": "2"})) == 2.0
    assert retry_after_s(status_error(openai.RateLimitError, 429,
                                      headers={"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(status_error(openai.RateLimitError, 429, headers={
        "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after_s(ValueError()) is None


# --- counting ----------------------------------------------------------------------------------


def test_usage_and_cost_of_every_attempt_are_spent_failed_ones_as_their_estimate() -> None:
    caller, _, events = make_caller([status_error(openai.InternalServerError, 500), answer()],
                                    spend=Spend(iterations=2, seconds=5.0))
    caller.invoke("coder", PROMPT)
    assert caller.spend.model_copy(update={"usd": 0.0}) == Spend(
        iterations=2, seconds=5.0, input_tokens=104 + 100, output_tokens=20, model_calls=2,
        failed_calls=1)
    assert caller.spend.usd == pytest.approx((204 * 1.0 + 20 * 2.0) / 1e6)
    assert [e["cost_usd"] for e in events] == pytest.approx([104e-6, 140e-6])


class SilentServerModel(ScriptedChatModel):
    """A scripted model whose answers carry no usage, like a server that reports none."""

    def _answer(self, entry: Any, messages: list[Any], index: int) -> AIMessage:
        return super()._answer(entry, messages, index).model_copy(
            update={"usage_metadata": None})


def test_answer_without_usage_is_charged_the_estimate_and_says_so() -> None:
    caller, _, events = make_caller([])
    caller.models["coder"] = SilentServerModel(["y" * 40])  # type: ignore[call-arg,arg-type]
    caller.invoke("coder", PROMPT)
    assert caller.spend.input_tokens == 104 and caller.spend.output_tokens == 10
    assert events[0]["usage_estimated"] is True


# --- structured output -------------------------------------------------------------------------


def test_structured_answer_is_parsed_and_its_usage_counted() -> None:
    entry = structured_response(Verdict(accept=False, reason="starves batch"))
    caller, model, events = make_caller([{**entry, "usage_metadata": USAGE}])
    verdict = caller.invoke("coder", PROMPT, schema=Verdict)
    assert verdict == Verdict(accept=False, reason="starves batch")
    assert model.call_tool_names == [["Verdict"]]
    assert caller.spend.tokens == 120 and events[0]["ok"]
    assert events[0]["message_out"]["tool_calls"][0]["name"] == "Verdict"


def test_structured_call_is_retried_after_a_transient_error() -> None:
    entry = structured_response(Verdict(accept=True, reason="ok"))
    caller, model, events = make_caller([status_error(openai.RateLimitError, 429), entry])
    assert caller.invoke("coder", PROMPT, schema=Verdict) == Verdict(accept=True, reason="ok")
    assert len(model.calls) == 2 and [e["ok"] for e in events] == [False, True]


@pytest.mark.parametrize("entry, problem", [
    ({"content": "I accept it.", "usage_metadata": USAGE}, "without calling the Verdict tool"),
    ({"tool_calls": [{"name": "Verdict", "args": {"accept": "maybe"}}], "usage_metadata": USAGE},
     "ValidationError"),
])
def test_structured_answer_that_does_not_parse_is_malformed_output(
        entry: dict[str, Any], problem: str) -> None:
    caller, model, events = make_caller([entry, "never asked"])
    with pytest.raises(MalformedOutput) as malformed:
        caller.invoke("coder", PROMPT, schema=Verdict)
    assert problem in malformed.value.error and malformed.value.schema == "Verdict"
    assert malformed.value.raw is not None and malformed.value.raw_text
    assert len(model.calls) == 1  # no retry here: the graph decides whether to ask again
    assert caller.spend.tokens == 120 and caller.spend.failed_calls == 1
    assert not events[0]["ok"] and "MalformedOutput" in events[0]["error"]


# --- events ------------------------------------------------------------------------------------


def test_event_records_the_conversation_the_answer_and_the_numbers() -> None:
    history = [SystemMessage("sys"), HumanMessage("goal"),
               AIMessage(content="", tool_calls=[{"name": "quick_sim", "args": {"policy": "p"},
                                                  "id": "c1"}]),
               ToolMessage("fine", tool_call_id="c1")]
    reply = answer("", tool_calls=[{"name": "quick_sim", "args": {"policy": "q"}, "id": "c2"}])
    caller, _, events = make_caller([reply])
    caller.invoke("coder", history, tools=[quick_sim])
    [event] = events
    assert event["type"] == "model_call" and event["role"] == "coder"
    assert event["model"] == "scripted" and event["attempt"] == 1 and event["ok"]
    assert [m["role"] for m in event["messages_in"]] == ["system", "user", "assistant", "tool"]
    assert event["messages_in"][2]["tool_calls"] == [
        {"name": "quick_sim", "args": {"policy": "p"}, "id": "c1"}]
    assert event["messages_in"][3]["tool_call_id"] == "c1"
    assert event["message_out"] == {"content": "", "tool_calls": [
        {"name": "quick_sim", "args": {"policy": "q"}, "id": "c2"}]}
    assert (event["input_tokens"], event["output_tokens"]) == (100, 20)
    assert event["latency_s"] >= 0 and "error" not in event
    json.dumps(event)  # transcript-ready


def test_events_are_scrubbed_of_the_roles_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-credential-5150"
    monkeypatch.setenv("ODD_NAMED_CRED", canary)
    failure = ValueError(f"server echoed {canary}")
    caller, _, events = make_caller([failure], api_key_env="ODD_NAMED_CRED")
    with pytest.raises(ModelCallFailed) as failed:
        caller.invoke("coder", [HumanMessage(f"key={canary}")])
    assert canary not in json.dumps(events) and canary not in failed.value.error


def test_a_failing_event_sink_is_not_mistaken_for_a_model_failure() -> None:
    caller, _, _ = make_caller([answer()])

    def broken(event: dict[str, Any]) -> None:
        raise OSError("disk full")

    caller.on_event = broken
    with pytest.raises(OSError, match="disk full"):
        caller.invoke("coder", PROMPT)


def test_unknown_role_and_tools_with_schema_are_usage_errors() -> None:
    caller, _, _ = make_caller([answer()])
    with pytest.raises(ModelConfigError, match="no model configured for role 'critic'"):
        caller.invoke("critic", PROMPT)
    with pytest.raises(ValueError, match="tools or schema"):
        caller.invoke("coder", PROMPT, tools=[quick_sim], schema=Verdict)


# --- secrets -----------------------------------------------------------------------------------


def test_secret_values_come_from_secret_named_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_API_KEY", "key-value-1234")
    monkeypatch.setenv("GH_TOKEN", "token-value-1234")
    monkeypatch.setenv("db_password", "password-value")
    monkeypatch.setenv("APP_SECRET", "secret-value-1234567")
    monkeypatch.setenv("SHORT_KEY", "short")
    monkeypatch.setenv("PLAIN_VAR", "plain-value-1234")
    monkeypatch.setenv("LISTED", "listed-value-1234")
    values = secret_values(["LISTED"])
    for v in ("key-value-1234", "token-value-1234", "password-value", "secret-value-1234567",
              "listed-value-1234"):
        assert v in values
    assert "short" not in values and "plain-value-1234" not in values
    assert [len(v) for v in values] == sorted((len(v) for v in values), reverse=True)


def test_scrub_replaces_secrets_everywhere_and_copies() -> None:
    data = {"sk-abcdef123": ["Bearer sk-abcdef123", ("sk-abcdef123", 3)],
            "n": 1, "none": None, "json": json.dumps({"k": 'q"sk-quoted"'})}
    out = scrub(data, ["sk-abcdef123", 'q"sk-quoted"'])
    assert out == {REDACTED: [f"Bearer {REDACTED}", (REDACTED, 3)], "n": 1, "none": None,
                   "json": json.dumps({"k": REDACTED})}
    assert data["n"] == 1 and "sk-abcdef123" in data


def test_scrub_hides_the_longer_secret_whole_when_one_contains_another() -> None:
    assert scrub("abcdefgh-ijkl", ["abcdefgh", "abcdefgh-ijkl"]) == REDACTED


def test_scrub_reads_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV_DEFAULT_TOKEN", "env-default-secret")
    assert scrub(["x env-default-secret"]) == [f"x {REDACTED}"]
