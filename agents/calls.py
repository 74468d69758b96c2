"""Every model call of a run goes through `ModelCaller`: budget check, streaming, retries, usage,
transcript.

One call, step by step:

1. Estimate it: prompt tokens by `estimate_prompt_tokens` plus the role's ``max_tokens`` for the
   answer, priced with the role's model. If that would break the token or dollar budget (or the
   wall time is used up), raise `BudgetExhausted` and send nothing. The check is repeated before
   every retry.
2. Send it, streaming: the answer arrives in chunks (progress shows them), tool calls and
   structured answers included, and the server is asked for the usage (``stream_options
   include_usage``). The attempt's timeout is min(the role's ``request_timeout_s``, what is left
   of the wall-clock budget); a call cut by the wall-clock limit ends the run as
   ``max_minutes``.
3. Retry it when that may help (`retry_reason`): a read timeout before the first byte at most
   once, never once the answer streams; connection errors, 5xx, 408/409 and rate limits up to
   ``max_attempts`` in all, waiting ``wait_base_s * 2**n`` (at least the server's Retry-After).
   Anything else (bad key, bad request, a quota used up) fails at once. Every retry is an event
   (``model_retry``, with its reason) and a progress line. After the last attempt the error
   becomes `ModelCallFailed`; one whose cause is the endpoint (`agents.endpoint.classify`:
   refused, DNS, TLS, 5xx, no first byte in time) or is not transient ends the run
   (``ends_run``); an answer cut by the timeout once it streamed fails only its iteration.
4. Count it. Tokens come from the answer's ``usage_metadata``. A failed attempt is counted as
   its estimated prompt tokens (plus what had streamed) and priced so: conservative, since a
   provider may bill a request that then failed. A server that reports no usage is charged the
   estimate too (``usage_estimated`` in the event).
5. Record it: one ``model_call`` event per attempt, scrubbed of secrets, to ``on_event``.

Before its first call to an endpoint the caller checks it (`preflight`, ``GET /models``): a dead
endpoint is reported at once, before any tokens are spent.

A structured answer (``schema=``) is a forced tool call named after the schema; one that does
not parse raises `MalformedOutput` with the raw text; the graph decides whether to ask again.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError

from agents.budget import BudgetExhausted, BudgetLimits, Spend, would_exceed
from agents.endpoint import (
    CONNECT_TIMEOUT_S,
    EndpointProblem,
    ModelListUnsupported,
    classify,
    endpoint_url,
    preflight_endpoint,
)
from agents.errors import AgentError
from agents.models import ModelConfigError, RoleModelConfig
from agents.pricing import PriceTable
from agents.secrets import scrub, secret_values

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English and code with OpenAI tokenizers
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators around each message
MAX_WAIT_S = 120.0  # longest pause between attempts, whatever Retry-After says

_ROLE_NAMES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


MAX_TIMEOUT_RETRIES = 1  # a read timeout before the first byte is tried again at most once
STREAM_NOTICE_S = 0.5  # how often a streaming answer tells the observer how far it got


class ModelCallFailed(AgentError):
    """A model call failed for good (non-transient error, or transient ones on every attempt).

    ``problem`` is the endpoint failure behind it (`agents.endpoint.classify`), if any.
    ``ends_run``: trying again later would not help (the endpoint is down or failing, the key is
    bad, the request is wrong), so the run stops with this error instead of a failed iteration.
    """

    def __init__(self, role: str, model: str, error: str, attempts: int, *,
                 problem: EndpointProblem | None = None, transient: bool = False,
                 during: str = "") -> None:
        self.role = role
        self.model = model
        self.error = error
        self.attempts = attempts
        self.problem = problem
        self.ends_run = problem is not None or not transient
        plural = "s" if attempts != 1 else ""
        self.tries = f"{attempts} attempt{plural}"
        self.during = during or f"{role} call"
        super().__init__(f"{role} model {model!r} failed after {self.tries}: {error}")

    @property
    def reason(self) -> str:
        """One line for the console and the run's stop reason."""
        if self.problem is not None:
            return f"{self.problem} ({self.during}, {self.tries})"
        return str(self).splitlines()[0]


class StreamTimeout(AgentError):
    """The answer was still streaming when the call's time was up (never retried)."""


class EmptyAnswer(AgentError):
    """The server closed the stream without sending any answer."""


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
    if isinstance(exc, openai.APIConnectionError | EmptyAnswer):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return False


def is_read_timeout(exc: BaseException) -> bool:
    """A timeout waiting for the answer (not for the connection: that is a connection error)."""
    if isinstance(exc, StreamTimeout):
        return True
    if not isinstance(exc, openai.APITimeoutError):
        return False
    problem = classify(exc)
    return problem is None or problem.kind == "timeout"


def retry_reason(exc: BaseException, *, streamed: bool, timeouts: int,
                 base_url: str | None = None) -> str | None:
    """Why trying ``exc``'s request again may help, or None when it would not.

    ``streamed``: the answer had begun to arrive; ``timeouts``: read timeouts so far in this
    call, this one included. A read timeout is retried once, and only before the first byte.
    """
    if is_read_timeout(exc):
        if streamed or timeouts > MAX_TIMEOUT_RETRIES:
            return None
        return "no answer before the request timeout"
    if not is_transient(exc):
        return None
    if isinstance(exc, EmptyAnswer):
        return "the server sent an empty answer"
    problem = classify(exc, base_url)
    return str(problem) if problem is not None else _error_text(exc)


def endpoint_problem(exc: BaseException, base_url: str | None) -> EndpointProblem | None:
    """The endpoint failure behind a call's last error (an empty answer counts as one)."""
    if isinstance(exc, EmptyAnswer):
        return EndpointProblem("connection", endpoint_url(base_url),
                               "closed the answer stream without sending anything")
    if isinstance(exc, StreamTimeout):
        return EndpointProblem("timeout", endpoint_url(base_url), str(exc))
    return classify(exc, base_url)


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
    """Calls each role's model within the budget, retrying what may pass, recording each try.

    ``spend`` is the run's running total, replaced (never mutated) after every attempt, failed
    ones included, under a lock: several candidates' coders may call at once. What one graph step
    spent is what `tracking` collected on its thread (the step's delta, merged into the state by
    `agents.budget.merge_spend`). ``spend.seconds`` is the graph's (`clock`): wall time is not
    ours to count, but the time since it was last set is added to it when a call's timeout is
    cut to what is left of ``max_minutes``.

    Before it is sent, a call reserves its estimated maximum cost; it is only sent when the
    total plus every reservation in flight plus its own estimate fits the token and dollar
    limits, so concurrent calls overrun a limit by at most what their answers exceed their
    estimates. A call is logged (``model_call_sent``, with its id and estimate) before it is
    sent; its ``model_call`` event carries the same id, so a resumed run can charge, at the
    estimate, a call that was sent and never answered (`agents.lifecycle.transcript_model_spend`).

    ``observer`` (optional) is told what a person watching should see: ``model_retry(role,
    reason, attempt, max_attempts, wait_s)`` before a retry, ``model_streaming(role, chars,
    seconds)`` while an answer streams, ``notice(text)`` for anything else (a preflight
    warning). Each method is optional.
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
        observer: Any = None,
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
        self.observer = observer
        self.checked_endpoints: set[str] = set()
        self._lock = threading.Lock()
        self._reserved = Spend()  # the estimates of the calls in flight
        self._tracks = threading.local()
        self._preflight_lock = threading.Lock()
        self._secret_env_names = sorted({cfg.api_key_env for cfg in configs.values()})

    @property
    def spend(self) -> Spend:
        """What the run has spent (see the class docstring)."""
        return self._spend

    @spend.setter
    def spend(self, value: Spend) -> None:
        self._spend = value
        self._spend_set_at = time.monotonic()

    def clock(self, seconds: float) -> None:
        """The run's wall time so far (what ``spend.seconds`` shows)."""
        with self._lock:
            self._spend = self._spend.model_copy(update={"seconds": seconds})
            self._spend_set_at = time.monotonic()

    def charge(self, spent: Spend) -> None:
        """Add ``spent`` to the run's total and to this thread's `tracking`, if any."""
        with self._lock:
            self._spend = self._spend.add(spent.model_copy(update={"seconds": 0.0}))
        track = getattr(self._tracks, "spent", None)
        if track is not None:
            self._tracks.spent = track.add(spent)

    @contextmanager
    def tracking(self) -> Iterator[list[Spend]]:
        """Collect what this thread charges inside the block: the yielded list's one item is
        the sum, final once the block has ended."""
        outer = getattr(self._tracks, "spent", None)
        self._tracks.spent = Spend()
        box = [Spend()]
        try:
            yield box
        finally:
            box[0] = self._tracks.spent
            self._tracks.spent = None if outer is None else outer.add(box[0])

    def reserve(self, role: str, tokens: int, usd: float) -> None:
        """Reserve a call's estimated cost, or raise `BudgetExhausted` (nothing reserved)."""
        with self._lock:
            held = self._spend.add(self._reserved)
            kind = would_exceed(self.limits, held.model_copy(
                update={"seconds": self._spend.seconds + time.monotonic() - self._spend_set_at}),
                tokens, usd)
            if kind is not None:
                raise BudgetExhausted(kind, f"{role} call estimated at {tokens} tokens, "
                                            f"${usd:.4f}; not sent")
            self._reserved = self._reserved.add(Spend(input_tokens=tokens, usd=usd))

    def release(self, tokens: int, usd: float) -> None:
        """Give back a reservation (its call answered or failed)."""
        with self._lock:
            self._reserved = Spend(input_tokens=max(0, self._reserved.input_tokens - tokens),
                                   usd=max(0.0, self._reserved.usd - usd))

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
        self.preflight()
        if schema is not None:
            name = convert_to_openai_tool(schema)["function"]["name"]
            runnable: Runnable[Any, Any] = model.bind_tools(
                [schema], tool_choice=name, parallel_tool_calls=False)
            schemas = [convert_to_openai_tool(schema)]
        elif tools:
            runnable = model.bind_tools(tools)
            schemas = [convert_to_openai_tool(t) for t in tools]
        else:
            runnable, schemas = model, []
        prompt_tokens = estimate_prompt_tokens(messages, schemas)
        call = _Call(self, role, cfg, runnable, list(messages), prompt_tokens, schema)
        return self._attempts(call)

    def _attempts(self, call: _Call) -> Any:
        """Attempt ``call`` until it answers or the retry policy gives up."""
        while True:
            try:
                return call.attempt()
            except Exception as exc:
                if exc is not call.model_error:
                    raise
                if call.cut_by_budget and is_read_timeout(exc):
                    raise BudgetExhausted("max_minutes", f"the {call.role} call was cut at the "
                                                         "wall-clock limit") from exc
                reason = None
                if call.attempts < self.max_attempts:
                    reason = retry_reason(exc, streamed=call.streamed, timeouts=call.timeouts,
                                          base_url=call.cfg.base_url)
                if reason is None:
                    raise self._failed(call, exc) from exc
                self._retry(call, exc, reason)

    def _failed(self, call: _Call, exc: BaseException) -> ModelCallFailed:
        if call.streamed and is_read_timeout(exc):
            # The endpoint answers, this answer took too long: the iteration fails, not the run.
            text = f"the answer was cut after {call.timeout_s:g} s (raise --request-timeout)"
            return ModelCallFailed(call.role, call.cfg.model, text, call.attempts,
                                   transient=True)
        problem = endpoint_problem(exc, call.cfg.base_url)
        if problem is not None and problem.kind == "timeout" \
                and not isinstance(exc, StreamTimeout):
            problem = EndpointProblem("timeout", problem.url, f"no answer within "
                                                              f"{call.timeout_s:g} s (raise "
                                                              "--request-timeout)")
        secrets = self._secrets()
        if problem is not None:
            problem = EndpointProblem(problem.kind, problem.url, scrub(problem.text, secrets))
        return ModelCallFailed(call.role, call.cfg.model, scrub(_error_text(exc), secrets),
                               call.attempts, problem=problem, transient=is_transient(exc),
                               during="preflight" if call.preflight else "")

    def _retry(self, call: _Call, exc: BaseException, reason: str) -> None:
        wait = self._wait(call.attempts, exc)
        if call.timeouts and is_read_timeout(exc):
            reason = f"{reason} ({call.timeout_s:g} s)"
        reason = scrub(reason, self._secrets())
        self.on_event({"type": "model_retry", "role": call.role, "model": call.cfg.model,
                       "attempt": call.attempts, "next_attempt": call.attempts + 1,
                       "max_attempts": self.max_attempts, "reason": reason,
                       "error": scrub(_error_text(exc), self._secrets()), "wait_s": wait})
        self._observe("model_retry", call.role, reason, call.attempts + 1, self.max_attempts,
                      wait)
        time.sleep(wait)

    def _wait(self, attempt: int, error: BaseException | None) -> float:
        """Seconds before attempt ``attempt + 1``: exponential backoff, at least Retry-After."""
        backoff = self.wait_base_s * 2 ** (attempt - 1)
        return min(max(backoff, retry_after_s(error) or 0.0), MAX_WAIT_S)

    def call_timeout(self, cfg: RoleModelConfig) -> tuple[float, bool]:
        """This attempt's timeout in seconds, and whether the wall-clock budget cut it."""
        if self.limits.max_minutes is None:
            return cfg.request_timeout_s, False
        elapsed = self._spend.seconds + time.monotonic() - self._spend_set_at
        left = self.limits.max_minutes * 60 - elapsed
        if left < cfg.request_timeout_s:
            return max(left, 0.01), True
        return cfg.request_timeout_s, False

    # --- preflight -----------------------------------------------------------------------------

    def preflight(self) -> None:
        """Check every endpoint the roles use, once each, before its first call.

        ``GET {base_url}/models`` for each endpoint (a one-token completion when the server has
        no such route); a failure raises `ModelCallFailed` with ``ends_run``. Models that are
        not real OpenAI clients (scripted ones in tests) are not checked.
        """
        with self._preflight_lock:  # concurrent first calls check an endpoint once
            for role, cfg in self.configs.items():
                url = endpoint_url(cfg.base_url)
                client = getattr(self.models.get(role), "root_client", None)
                if client is None or url in self.checked_endpoints:
                    continue
                self.checked_endpoints.add(url)
                try:
                    self._preflight(role, cfg, client, url)
                except BaseException:
                    self.checked_endpoints.discard(url)  # asked again by the next call
                    raise

    def _preflight(self, role: str, cfg: RoleModelConfig, client: Any, url: str) -> None:
        secrets = self._secrets()

        def on_retry(attempt: int, reason: str, wait: float) -> None:
            self.on_event({"type": "model_retry", "role": role, "model": cfg.model,
                           "preflight": True, "attempt": attempt, "next_attempt": attempt + 1,
                           "max_attempts": self.max_attempts, "reason": scrub(reason, secrets),
                           "wait_s": wait})
            self._observe("model_retry", role, f"preflight: {reason}", attempt + 1,
                          self.max_attempts, wait)

        timeout = min(self.call_timeout(cfg)[0], cfg.request_timeout_s)
        try:
            found = preflight_endpoint(client, url, timeout, attempts=self.max_attempts,
                                       wait=self._wait, on_retry=on_retry)
        except ModelListUnsupported:
            self._ping(role, cfg, url)
            return
        except Exception as exc:
            problem = classify(exc, cfg.base_url)
            if problem is None and is_transient(exc):  # busy (429, 408, 409), but it answers
                self.on_event({"type": "preflight", "url": url, "ok": True,
                               "method": "GET /models",
                               "note": scrub(f"answered {_error_text(exc)}", secrets)})
                return
            failure = ModelCallFailed(
                role, cfg.model, scrub(_error_text(exc), secrets),
                self.max_attempts if problem is not None else 1,
                problem=None if problem is None else EndpointProblem(
                    problem.kind, problem.url, scrub(problem.text, secrets)),
                transient=is_transient(exc), during="preflight GET /models")
            self.on_event({"type": "preflight", "url": url, "ok": False, "method": "GET /models",
                           "error": failure.reason})
            raise failure from exc
        missing = sorted({c.model for c in self.configs.values()
                          if endpoint_url(c.base_url) == url and found.listed is not None
                          and c.model not in found.listed})
        event: dict[str, Any] = {"type": "preflight", "url": url, "ok": True,
                                 "method": "GET /models", "latency_s": found.latency_s,
                                 "models_listed": len(found.listed or [])}
        if missing:
            event["not_listed"] = missing
            shown = ", ".join((found.listed or [])[:8]) or "none"
            self._observe("notice", f"warning: {url} does not list model "
                                    f"{', '.join(missing)} (it lists: {shown})")
        self.on_event(event)

    def _ping(self, role: str, cfg: RoleModelConfig, url: str) -> None:
        """A one-token completion: the preflight of a server without ``GET /models``."""
        model = self.models[role]
        runnable = model.bind(max_tokens=1, extra_body={"max_tokens": 1})
        messages: list[BaseMessage] = [HumanMessage("Reply with OK.")]
        call = _Call(self, role, cfg, runnable, messages, estimate_prompt_tokens(messages), None,
                     answer_tokens=1, preflight=True)
        try:
            self._attempts(call)
        except ModelCallFailed as failure:
            self.on_event({"type": "preflight", "url": url, "ok": False,
                           "method": "one-token completion", "error": failure.reason})
            failure.ends_run = True
            raise
        self.on_event({"type": "preflight", "url": url, "ok": True,
                       "method": "one-token completion"})

    # --- helpers -------------------------------------------------------------------------------

    def _role(self, role: str) -> tuple[BaseChatModel, RoleModelConfig]:
        if role not in self.models or role not in self.configs:
            raise ModelConfigError(f"no model configured for role {role!r}; configured: "
                                   + ", ".join(sorted(self.models)))
        return self.models[role], self.configs[role]

    def _observe(self, method: str, *args: Any) -> None:
        fn = getattr(self.observer, method, None)
        if fn is not None:
            fn(*args)

    def _secrets(self) -> list[str]:
        return secret_values(self._secret_env_names)

    def _record(self, event: dict[str, Any], spent: Spend) -> None:
        self.charge(spent)
        self.on_event(scrub(event, self._secrets()))


class _Call:
    """One `ModelCaller.invoke`: the attempts at it, and the last error the model raised."""

    def __init__(self, caller: ModelCaller, role: str, cfg: RoleModelConfig,
                 runnable: Runnable[Any, Any], messages: list[BaseMessage], prompt_tokens: int,
                 schema: type[BaseModel] | None, *, answer_tokens: int | None = None,
                 preflight: bool = False) -> None:
        self.caller, self.role, self.cfg = caller, role, cfg
        self.runnable, self.messages, self.schema = runnable, messages, schema
        self.prompt_tokens = prompt_tokens
        self.answer_tokens = cfg.max_tokens if answer_tokens is None else answer_tokens
        self.preflight = preflight
        self.attempts = 0
        self.timeouts = 0  # read timeouts so far
        self.model_error: BaseException | None = None
        self.streamed = False  # the current attempt's answer began to arrive
        self.streamed_text = ""
        self.timeout_s = cfg.request_timeout_s
        self.cut_by_budget = False
        self.call_id = ""

    def attempt(self) -> AIMessage | BaseModel:
        """Check the budget, send once (streaming), count and record the attempt."""
        caller = self.caller
        estimate_tokens = self.prompt_tokens + self.answer_tokens
        estimate_usd = caller.prices.cost(self.cfg.model, self.prompt_tokens, self.answer_tokens)
        caller.reserve(self.role, estimate_tokens, estimate_usd)
        try:
            self.timeout_s, self.cut_by_budget = caller.call_timeout(self.cfg)
            self.attempts += 1
            self.streamed, self.streamed_text = False, ""
            self.call_id = uuid.uuid4().hex[:12]
            if not self.preflight:
                caller.on_event({"type": "model_call_sent", "call_id": self.call_id,
                                 "role": self.role, "model": self.cfg.model,
                                 "attempt": self.attempts, "estimate_tokens": estimate_tokens,
                                 "estimate_input_tokens": self.prompt_tokens,
                                 "estimate_usd": estimate_usd})
            started = time.perf_counter()
            try:
                message = self._stream(started)
            except Exception as exc:
                self.model_error = exc
                self.timeouts += int(is_read_timeout(exc))
                self._failed(exc, time.perf_counter() - started)
                raise
        finally:
            caller.release(estimate_tokens, estimate_usd)
        latency = time.perf_counter() - started
        if self.schema is None:
            self._answered(message, latency, None)
            return message
        parsed, problem = self._parse(message)
        self._answered(message, latency, problem)
        if problem is not None:
            raise MalformedOutput(self.schema.__name__, problem, _raw_text(message), message)
        assert parsed is not None
        return parsed

    def _stream(self, started: float) -> AIMessage:
        """The answer, streamed and put together; `StreamTimeout` past the call's deadline."""
        deadline = started + self.timeout_s
        answer: BaseMessage | None = None
        usage: Any = None
        noticed = started
        chunks: Iterator[Any] = self.runnable.stream(
            self.messages, timeout=_http_timeout(self.timeout_s), stream_usage=True)
        try:
            for chunk in chunks:
                self.streamed = True
                usage = getattr(chunk, "usage_metadata", None) or usage
                answer = chunk if answer is None or not isinstance(chunk, AIMessageChunk) \
                    or not isinstance(answer, AIMessageChunk) else answer + chunk
                self.streamed_text += _chunk_text(chunk)
                now = time.perf_counter()
                if now > deadline:
                    raise StreamTimeout(f"still sending its answer after {self.timeout_s:g} s "
                                        "(raise --request-timeout)")
                if now - noticed >= STREAM_NOTICE_S:
                    noticed = now
                    self.caller._observe("model_streaming", self.role, len(self.streamed_text),
                                         now - started)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a generator left mid-answer closes its HTTP response
        if answer is None:
            raise EmptyAnswer(f"{endpoint_url(self.cfg.base_url)} sent no answer")
        message = message_chunk_to_message(answer)
        if not isinstance(message, AIMessage):
            raise TypeError(f"the {self.role} model answered with a {type(message).__name__}")
        # The usage is the last one reported, not the sum: OpenAI sends it once, in the last
        # chunk; a server with running totals (vLLM's continuous usage stats) sends it in every
        # chunk, and adding those up would charge the prompt once per chunk.
        return message.model_copy(update={"usage_metadata": usage}) if usage else message

    def _parse(self, message: AIMessage) -> tuple[BaseModel | None, str | None]:
        """The schema instance in a structured answer's forced tool call, or the problem."""
        assert self.schema is not None
        name = self.schema.__name__
        for call in message.tool_calls:
            if call["name"] == name:
                try:
                    return self.schema.model_validate(call["args"]), None
                except ValidationError as exc:
                    return None, _error_text(exc)
        for bad in message.invalid_tool_calls:
            if bad.get("name") == name:
                return None, f"arguments of {name} are not valid JSON: {bad.get('error') or ''}"
        # Servers that ignore a named tool_choice (Ollama, llama.cpp) may get the answer as a
        # JSON object in the text instead: take it when it fits the schema.
        found = json_object_in(message.content if isinstance(message.content, str) else "")
        if found is not None:
            try:
                return self.schema.model_validate(found), None
            except ValidationError:
                pass
        return None, f"the model answered without calling the {name} tool"

    def _event(self, message_out: dict[str, Any] | None, input_tokens: int, output_tokens: int,
               cost: float, latency: float, error: str | None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "model_call", "role": self.role, "model": self.cfg.model,
            "messages_in": [message_record(m) for m in self.messages],
            "message_out": message_out,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cost_usd": cost, "latency_s": round(latency, 4), "ok": error is None,
            "attempt": self.attempts, "timeout_s": round(self.timeout_s, 3),
            "call_id": self.call_id,
        }
        if self.preflight:
            event["preflight"] = True
        if error is not None:
            event["error"] = error
        return event

    def _failed(self, exc: BaseException, latency: float) -> None:
        output_tokens = approx_tokens(self.streamed_text)
        cost = self.caller.prices.cost(self.cfg.model, self.prompt_tokens, output_tokens)
        event = self._event(None, self.prompt_tokens, output_tokens, cost, latency,
                            _error_text(exc))
        event["usage_estimated"] = True
        if self.streamed:
            event["streamed_chars"] = len(self.streamed_text)
        self.caller._record(event, Spend(input_tokens=self.prompt_tokens,
                                         output_tokens=output_tokens, usd=cost,
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


def json_object_in(text: str) -> dict[str, Any] | None:
    """The JSON object a text answer holds (bare, or in a ```json fence), or None."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        return value if isinstance(value, dict) else None
    return None


def _http_timeout(seconds: float) -> openai.Timeout:
    """The HTTP client's timeouts for one attempt: every read within ``seconds``, connecting
    within `CONNECT_TIMEOUT_S` (a host that does not answer is a connection error)."""
    return openai.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT_S))


def _chunk_text(chunk: Any) -> str:
    """The text a streamed chunk adds: content and tool-call argument pieces."""
    if not isinstance(chunk, BaseMessage):
        return ""
    content = chunk.content
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    for piece in getattr(chunk, "tool_call_chunks", None) or []:
        text += (piece.get("name") or "") + (piece.get("args") or "")
    if not isinstance(chunk, AIMessageChunk) and isinstance(chunk, AIMessage):
        text += "".join(json.dumps(c["args"], default=str) for c in chunk.tool_calls)
    return text
