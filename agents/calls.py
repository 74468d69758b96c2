"""Every model call of a run goes through `ModelCaller`: budget check, retries, usage, transcript.

One call, step by step:

1. Estimate it: prompt tokens by `estimate_prompt_tokens` plus the role's ``max_tokens`` for the
   answer, priced with the role's model. If that would break the token or dollar budget (or the
   wall time is used up), raise `BudgetExhausted` and send nothing. The check is repeated before
   every retry.
2. Send it. Transient errors (rate limit, connection, timeout, 408/409/5xx) are retried with
   exponential backoff (``wait_base_s * 2**n``, at least the server's Retry-After); anything else
   (bad key, bad request, a quota that is used up) fails at once. After the last attempt the
   error becomes `ModelCallFailed`.
3. Count it. Tokens come from the response's ``usage_metadata``. A failed attempt is counted
   as its estimated prompt tokens of input and no output, and priced so: conservative, since a
   provider may bill a request that then failed and we cannot know. A server that reports no
   usage is charged the estimate too (``usage_estimated`` in the event).
4. Record it: one ``model_call`` event per attempt, scrubbed of secrets, to ``on_event``.

A structured answer (``schema=``) that does not parse raises `MalformedOutput` with the raw
text; the graph decides whether to ask again.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from agents.budget import BudgetExhausted, BudgetLimits, Spend, would_exceed
from agents.errors import AgentError
from agents.models import ModelConfigError, RoleModelConfig
from agents.pricing import PriceTable
from agents.secrets import scrub, secret_values

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English and code with OpenAI tokenizers
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators around each message
MAX_WAIT_S = 120.0  # longest pause between attempts, whatever Retry-After says

_ROLE_NAMES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class ModelCallFailed(AgentError):
    """A model call failed for good (non-transient error, or transient ones on every attempt)."""

    def __init__(self, role: str, model: str, error: str, attempts: int) -> None:
        self.role = role
        self.model = model
        self.error = error
        self.attempts = attempts
        plural = "s" if attempts != 1 else ""
        super().__init__(f"{role} model {model!r} failed after {attempts} attempt{plural}: {error}")


class MalformedOutput(AgentError):
    """A structured answer that did not parse into its schema; carries what the model said."""

    def __init__(self, schema: str, error: str, raw_text: str, raw: AIMessage | None) -> None:
        self.schema = schema
        self.error = error
        self.raw_text = raw_text
        self.raw = raw
        super().__init__(f"answer does not fit {schema}: {error}")


# --- estimates ---------------------------------------------------------------------------------


def approx_tokens(text: str) -> int:
    """Tokens in ``text``, approximated as one per `CHARS_PER_TOKEN` characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_text(message: BaseMessage) -> str:
    """All the text a message sends: its content (strings or blocks) and its tool calls."""
    content = message.content
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if isinstance(message, AIMessage) and message.tool_calls:
        text += json.dumps(message.tool_calls, default=str)
    return text


def estimate_prompt_tokens(messages: Sequence[BaseMessage],
                           tool_schemas: Sequence[dict[str, Any]] = ()) -> int:
    """Prompt tokens: every message's text and the JSON of every tool schema, by `approx_tokens`,
    plus `MESSAGE_OVERHEAD_TOKENS` per message."""
    tokens = sum(approx_tokens(message_text(m)) + MESSAGE_OVERHEAD_TOKENS for m in messages)
    return tokens + sum(approx_tokens(json.dumps(s, sort_keys=True)) for s in tool_schemas)


# --- errors ------------------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same request again may succeed."""
    if isinstance(exc, openai.RateLimitError):
        return getattr(exc, "code", None) != "insufficient_quota"  # billing, not load
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return False


def retry_after_s(exc: BaseException | None) -> float | None:
    """The server's Retry-After (or retry-after-ms) in seconds, when it sent one as a number."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(float(value) / scale, 0.0)
            except ValueError:
                continue  # an HTTP date: our own backoff will do
    return None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- transcript records ------------------------------------------------------------------------


def message_record(message: BaseMessage) -> dict[str, Any]:
    """A message as the transcript shows it: role, content, tool calls (and tool_call_id)."""
    record: dict[str, Any] = {"role": _ROLE_NAMES.get(message.type, message.type),
                              "content": message.content}
    if isinstance(message, AIMessage):
        if message.tool_calls:
            record["tool_calls"] = [{"name": c["name"], "args": c["args"], "id": c.get("id")}
                                    for c in message.tool_calls]
        if message.invalid_tool_calls:
            record["invalid_tool_calls"] = [dict(c) for c in message.invalid_tool_calls]
    if isinstance(message, ToolMessage):
        record["tool_call_id"] = message.tool_call_id
    return record


def _raw_text(message: AIMessage | None) -> str:
    if message is None:
        return ""
    parts = [message.content if isinstance(message.content, str)
             else json.dumps(message.content, default=str)]
    parts += [json.dumps({"name": c["name"], "args": c["args"]}, default=str)
              for c in message.tool_calls]
    parts += [json.dumps(dict(c), default=str) for c in message.invalid_tool_calls]
    return "\n".join(p for p in parts if p)


# --- the caller --------------------------------------------------------------------------------


class ModelCaller:
    """Calls each role's model within the budget, retrying transient errors, recording each try.

    ``spend`` is replaced (never mutated) after every attempt, failed ones included; the graph
    reads and sets it around each node. ``spend.seconds`` is the graph's: wall time is not ours
    to count.
    """

    def __init__(
        self,
        models: dict[str, BaseChatModel],
        configs: dict[str, RoleModelConfig],
        prices: PriceTable,
        limits: BudgetLimits,
        spend: Spend,
        on_event: Callable[[dict[str, Any]], None],
        max_attempts: int = 3,
        wait_base_s: float = 1.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.models = models
        self.configs = configs
        self.prices = prices
        self.limits = limits
        self.spend = spend
        self.on_event = on_event
        self.max_attempts = max_attempts
        self.wait_base_s = wait_base_s
        self._secret_env_names = sorted({cfg.api_key_env for cfg in configs.values()})

    def invoke(
        self,
        role: str,
        messages: Sequence[BaseMessage],
        *,
        tools: Sequence[BaseTool] | None = None,
        schema: type[BaseModel] | None = None,
    ) -> AIMessage | BaseModel:
        """The role's answer: an `AIMessage` (with any tool calls), or a ``schema`` instance."""
        if tools and schema is not None:
            raise ValueError("pass tools or schema, not both")
        model, cfg = self._role(role)
        if schema is not None:
            runnable: Runnable[Any, Any] = model.with_structured_output(
                schema, method="function_calling", include_raw=True)
            schemas = [convert_to_openai_tool(schema)]
        elif tools:
            runnable = model.bind_tools(tools)
            schemas = [convert_to_openai_tool(t) for t in tools]
        else:
            runnable, schemas = model, []
        prompt_tokens = estimate_prompt_tokens(messages, schemas)
        call = _Call(self, role, cfg, runnable, list(messages), prompt_tokens, schema)
        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                            retry=retry_if_exception(is_transient), reraise=True)
        try:
            return retrying(call.attempt)
        except Exception as exc:
            if exc is call.model_error:
                raise ModelCallFailed(role, cfg.model, scrub(_error_text(exc), self._secrets()),
                                      call.attempts) from exc
            raise

    def _role(self, role: str) -> tuple[BaseChatModel, RoleModelConfig]:
        if role not in self.models or role not in self.configs:
            raise ModelConfigError(f"no model configured for role {role!r}; configured: "
                                   + ", ".join(sorted(self.models)))
        return self.models[role], self.configs[role]

    def _wait(self, state: RetryCallState) -> float:
        backoff = self.wait_base_s * 2 ** (state.attempt_number - 1)
        error = state.outcome.exception() if state.outcome else None
        return min(max(backoff, retry_after_s(error) or 0.0), MAX_WAIT_S)

    def _secrets(self) -> list[str]:
        return secret_values(self._secret_env_names)

    def _record(self, event: dict[str, Any], spent: Spend) -> None:
        self.spend = self.spend.add(spent)
        self.on_event(scrub(event, self._secrets()))


class _Call:
    """One `ModelCaller.invoke`: the attempts at it, and the last error the model raised."""

    def __init__(self, caller: ModelCaller, role: str, cfg: RoleModelConfig,
                 runnable: Runnable[Any, Any], messages: list[BaseMessage], prompt_tokens: int,
                 schema: type[BaseModel] | None) -> None:
        self.caller, self.role, self.cfg = caller, role, cfg
        self.runnable, self.messages, self.schema = runnable, messages, schema
        self.prompt_tokens = prompt_tokens
        self.attempts = 0
        self.model_error: BaseException | None = None

    def attempt(self) -> AIMessage | BaseModel:
        """Check the budget, send once, count and record the attempt."""
        caller, cfg = self.caller, self.cfg
        estimate_tokens = self.prompt_tokens + cfg.max_tokens
        estimate_usd = caller.prices.cost(cfg.model, self.prompt_tokens, cfg.max_tokens)
        kind = would_exceed(caller.limits, caller.spend, estimate_tokens, estimate_usd)
        if kind is not None:
            raise BudgetExhausted(kind, f"{self.role} call estimated at {estimate_tokens} tokens, "
                                        f"${estimate_usd:.4f}; not sent")
        self.attempts += 1
        started = time.perf_counter()
        try:
            output = self.runnable.invoke(self.messages)
        except Exception as exc:
            self.model_error = exc
            self._failed(exc, time.perf_counter() - started)
            raise
        latency = time.perf_counter() - started
        if self.schema is None:
            self._answered(output, latency, None)
            return output
        raw, parsed = output["raw"], output["parsed"]
        problem = self._parse_problem(output)
        self._answered(raw, latency, problem)
        if problem is not None:
            raise MalformedOutput(self.schema.__name__, problem, _raw_text(raw), raw)
        return parsed

    def _parse_problem(self, output: dict[str, Any]) -> str | None:
        assert self.schema is not None
        if output.get("parsing_error") is not None:
            return _error_text(output["parsing_error"])
        if output.get("parsed") is None:
            return f"the model answered without calling the {self.schema.__name__} tool"
        return None

    def _event(self, message_out: dict[str, Any] | None, input_tokens: int, output_tokens: int,
               cost: float, latency: float, error: str | None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "model_call", "role": self.role, "model": self.cfg.model,
            "messages_in": [message_record(m) for m in self.messages],
            "message_out": message_out,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cost_usd": cost, "latency_s": round(latency, 4), "ok": error is None,
            "attempt": self.attempts,
        }
        if error is not None:
            event["error"] = error
        return event

    def _failed(self, exc: BaseException, latency: float) -> None:
        cost = self.caller.prices.cost(self.cfg.model, self.prompt_tokens, 0)
        event = self._event(None, self.prompt_tokens, 0, cost, latency, _error_text(exc))
        self.caller._record(event, Spend(input_tokens=self.prompt_tokens, usd=cost,
                                         model_calls=1, failed_calls=1))

    def _answered(self, message: AIMessage, latency: float, problem: str | None) -> None:
        usage = message.usage_metadata
        if usage is not None:
            input_tokens, output_tokens = usage["input_tokens"], usage["output_tokens"]
        else:
            input_tokens, output_tokens = self.prompt_tokens, approx_tokens(_raw_text(message))
        cost = self.caller.prices.cost(self.cfg.model, input_tokens, output_tokens)
        record = message_record(message)
        record.pop("role")
        record.setdefault("tool_calls", [])
        event = self._event(record, input_tokens, output_tokens, cost, latency,
                            None if problem is None else f"MalformedOutput: {problem}")
        if usage is None:
            event["usage_estimated"] = True
        self.caller._record(event, Spend(input_tokens=input_tokens, output_tokens=output_tokens,
                                         usd=cost, model_calls=1,
                                         failed_calls=int(problem is not None)))
