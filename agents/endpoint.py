"""What is wrong with a model endpoint, in one line; and checking an endpoint before a run uses it.

`classify` reads an error's cause chain (the OpenAI SDK wraps the HTTP client's error, which
wraps the socket's) and names the failure a person can act on::

    connection refused   nothing listens at the URL's port (is the server running?)
    DNS failure          the host name does not resolve
    TLS error            https to a plain-http server, or a certificate that does not verify
    connect timeout      the host does not answer at all (firewall, wrong address)
    connection error     the connection dropped (server crashed or restarted mid-answer)
    server error         HTTP 5xx
    timeout              connected, but no answer within the request timeout

A call that still fails this way after the retry policy of `agents.calls` ends the run with
exit 1 and that line; it is never a failed iteration that slowly eats the budget.

`preflight_endpoint` asks ``GET {base_url}/models`` once per endpoint before the first model
call: a dead endpoint is reported in seconds, before any tokens are spent. A server without
that route (404/405, or 403 for a key that may not list models) is asked a one-token chat
completion instead (counted and priced like any call). A busy answer (429, 408, 409) shows the
endpoint is alive: the check passes.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import openai

from agents.errors import AgentError

OPENAI_BASE_URL = "https://api.openai.com/v1"
PREFLIGHT_TIMEOUT_S = 30.0  # listing models is quick on every server we know
CONNECT_TIMEOUT_S = 20.0  # a host that does not answer a TCP connect in 20 s will not


@dataclass(frozen=True)
class EndpointProblem:
    """An endpoint-level failure: its kind, the endpoint, and what is wrong in a few words."""

    kind: str  # refused, dns, tls, connect_timeout, connection, server_error, timeout
    url: str
    text: str

    def __str__(self) -> str:
        return f"model endpoint {self.url}: {self.text}"


def endpoint_url(base_url: str | None) -> str:
    """The URL a role's requests go to (OpenAI's own when no base URL is set)."""
    return (base_url or OPENAI_BASE_URL).rstrip("/")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException, base_url: str | None = None) -> EndpointProblem | None:
    """The endpoint failure behind ``exc``, or None when it is not one (401, 400, a bug...)."""
    url = endpoint_url(base_url)
    host = urlparse(url).hostname or url
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return EndpointProblem("server_error", url, f"HTTP {exc.status_code}: "
                                                        f"{_status_message(exc)}")
        return None
    if not isinstance(exc, openai.APIConnectionError | TimeoutError | OSError):
        return None
    for link in _chain(exc):
        if isinstance(link, ssl.SSLError):
            reason = getattr(link, "reason", None) or str(link)
            return EndpointProblem("tls", url, f"TLS error: {reason} (https to a plain-http "
                                               "server, or a certificate that does not verify?)")
        if isinstance(link, socket.gaierror):
            return EndpointProblem("dns", url, f"DNS failure: host {host!r} does not resolve "
                                               f"({link.strerror or link})")
        if isinstance(link, ConnectionRefusedError):
            return EndpointProblem("refused", url, "connection refused (is the server running, "
                                                   "on that port?)")
        if type(link).__name__ == "ConnectTimeout":
            return EndpointProblem("connect_timeout", url, "does not accept connections "
                                                           "(connect timed out)")
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return EndpointProblem("timeout", url, "no answer within the request timeout")
    detail = next((str(link) for link in _chain(exc)
                   if link is not exc and str(link)), str(exc))
    return EndpointProblem("connection", url, f"connection failed: {detail}")


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:200]
    return str(exc.message)[:200]


# --- preflight ---------------------------------------------------------------------------------


@dataclass
class PreflightResult:
    """What a preflight found: the models the endpoint lists (None when it has no list)."""

    url: str
    listed: list[str] | None
    latency_s: float


class ModelListUnsupported(AgentError):
    """The endpoint lists no models to us (404/405, or 403: a key that may chat but not list
    models): ask a one-token completion instead."""


def list_models(client: Any, timeout_s: float) -> list[str]:
    """The model ids ``client`` (an `openai.OpenAI`) lists; `ModelListUnsupported` on
    403/404/405."""
    try:
        page = client.models.list(timeout=timeout_s)
    except openai.APIStatusError as exc:
        if exc.status_code in (403, 404, 405):
            raise ModelListUnsupported(str(exc)) from exc
        raise
    return [str(getattr(m, "id", m)) for m in getattr(page, "data", None) or []]


def preflight_endpoint(client: Any, url: str, timeout_s: float, *,
                       attempts: int, wait: Callable[[int, BaseException], float],
                       on_retry: Callable[[int, str, float], None]) -> PreflightResult:
    """List the endpoint's models, retrying connection errors and 5xx like a model call.

    Raises the last error when every attempt failed, `ModelListUnsupported` when the server has
    no list, and any non-transient error (401, 403) at once.
    """
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            listed = list_models(client, min(timeout_s, PREFLIGHT_TIMEOUT_S))
        except ModelListUnsupported:
            raise
        except Exception as exc:
            problem = classify(exc, url)
            if problem is None or attempt == attempts:
                raise
            pause = wait(attempt, exc)
            on_retry(attempt, str(problem), pause)
            time.sleep(pause)
            continue
        return PreflightResult(url, listed, round(time.perf_counter() - started, 4))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
