"""Endpoint failures named by their cause, on real sockets (127.0.0.1 only), and the preflight
check a caller makes before its first call."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage

from agents.budget import BudgetLimits, Spend
from agents.calls import ModelCaller, ModelCallFailed
from agents.endpoint import classify, endpoint_url
from agents.models import RoleModelConfig, make_chat_model
from agents.pricing import Price, PriceTable
from tests.agents.fake_openai import OLD_OLLAMA, FakeOpenAI
from tests.agents.test_calls import Events
from tests.agents.test_openai_server import Watcher

PRICES = PriceTable({"fake-model": Price(input_per_mtok=1.0, output_per_mtok=2.0)})


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A plain-HTTP server: https to it is a TLS error."""
    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    srv = HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def list_error(base_url: str) -> BaseException:
    client = openai.OpenAI(api_key="not-needed", base_url=base_url, max_retries=0, timeout=5)
    with pytest.raises(openai.APIError) as failure:
        client.models.list()
    return failure.value


def test_a_closed_port_is_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    problem = classify(list_error(url), url)
    assert problem is not None and problem.kind == "refused"
    assert str(problem) == (f"model endpoint {url}: connection refused (is the server running, "
                            "on that port?)")


def test_https_to_a_plain_http_server_is_a_tls_error(plain_http_port: int) -> None:
    url = f"https://127.0.0.1:{plain_http_port}/v1"
    problem = classify(list_error(url), url)
    assert problem is not None and problem.kind == "tls" and "TLS error" in problem.text


def test_a_name_that_does_not_resolve_is_a_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no resolver asked: offline
    url = "http://model-server.example/v1"
    problem = classify(list_error(url), url)
    assert problem is not None and problem.kind == "dns"
    assert "'model-server.example' does not resolve" in problem.text


def test_a_5xx_is_a_server_error_and_a_401_or_404_is_not_an_endpoint_failure() -> None:
    with FakeOpenAI() as server:
        for status in (503, 401, 404):
            server.fail(status, message=f"status {status}")
        client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        problems = []
        for _ in range(3):
            with pytest.raises(openai.APIStatusError) as failure:
                client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                     "content": "x"}])
            problems.append(classify(failure.value, server.base_url))
    assert problems[0] is not None and problems[0].kind == "server_error"
    assert problems[0].text == "HTTP 503: status 503"
    assert problems[1:] == [None, None]
    assert classify(ValueError("a bug")) is None


def test_the_endpoint_of_a_role_without_base_url_is_openai() -> None:
    assert endpoint_url(None) == "https://api.openai.com/v1"
    assert endpoint_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"


# --- preflight ---------------------------------------------------------------------------------


def caller_for(base_url: str, *, model: str = "fake-model", watcher: Watcher | None = None,
               ) -> tuple[ModelCaller, Events]:
    cfgs = {role: RoleModelConfig(model=model, base_url=base_url, api_key_env="NO_SUCH_KEY_X",
                                  max_tokens=64, request_timeout_s=5)
            for role in ("planner", "coder")}
    events = Events()
    caller = ModelCaller({r: make_chat_model(c) for r, c in cfgs.items()}, cfgs, PRICES,
                         BudgetLimits(), Spend(), events.record, wait_base_s=0.01,
                         observer=watcher)
    return caller, events


def test_preflight_lists_the_models_once_per_endpoint_and_spends_nothing() -> None:
    with FakeOpenAI() as server:
        server.reply("hello")
        caller, events = caller_for(server.base_url)
        caller.preflight()
        caller.preflight()
        caller.invoke("coder", [HumanMessage("hi")])
        assert server.model_list_requests == 1 and len(server.requests) == 1
    [check] = [e for e in events.other if e["type"] == "preflight"]
    assert check["ok"] and check["models_listed"] == 1 and check["url"] == server.base_url
    assert caller.spend.model_calls == 1  # the answer; the GET is not a model call


def test_preflight_warns_when_the_endpoint_does_not_list_the_model() -> None:
    watcher = Watcher()
    with FakeOpenAI(model="served-model") as server:
        caller, events = caller_for(server.base_url, model="typo-model", watcher=watcher)
        caller.preflight()
    assert events.other[0]["not_listed"] == ["typo-model"]
    assert watcher.notices and "typo-model" in watcher.notices[0] \
        and "served-model" in watcher.notices[0]


def test_a_closed_port_fails_the_preflight_after_three_attempts_each_shown() -> None:
    watcher = Watcher()
    url = f"http://127.0.0.1:{closed_port()}/v1"
    caller, events = caller_for(url, watcher=watcher)
    with pytest.raises(ModelCallFailed) as failure:
        caller.invoke("planner", [HumanMessage("hi")])
    assert failure.value.ends_run and failure.value.problem is not None
    assert failure.value.problem.kind == "refused"
    assert failure.value.reason == (f"model endpoint {url}: connection refused (is the server "
                                    "running, on that port?) (preflight GET /models, 3 attempts)")
    assert [r["attempt"] for r in events.retries] == [1, 2] and len(watcher.retries) == 2
    assert caller.spend == Spend()  # nothing was sent to a model
    assert events.other[-1]["type"] == "preflight" and not events.other[-1]["ok"]


def test_a_401_at_preflight_fails_at_once() -> None:
    with FakeOpenAI() as server:
        server.answer_everything_with = 401
        caller, events = caller_for(server.base_url)
        with pytest.raises(ModelCallFailed) as failure:
            caller.preflight()
        assert server.model_list_requests == 1
    assert failure.value.ends_run and failure.value.problem is None
    assert "AuthenticationError" in failure.value.reason and events.retries == []


def test_a_server_answering_500_to_everything_fails_the_preflight() -> None:
    with FakeOpenAI() as server:
        server.answer_everything_with = 500
        caller, _ = caller_for(server.base_url)
        with pytest.raises(ModelCallFailed) as failure:
            caller.preflight()
        assert server.model_list_requests == 3
    assert failure.value.ends_run and failure.value.problem.kind == "server_error"  # type: ignore


def test_without_a_models_route_the_preflight_is_a_one_token_call_counted_and_priced() -> None:
    with FakeOpenAI(quirks=OLD_OLLAMA) as server:
        server.reply("OK", prompt_tokens=12, completion_tokens=1, usage=False)
        caller, events = caller_for(server.base_url)
        caller.preflight()
        [ping] = server.requests
    assert ping.body["max_tokens"] == 1 and ping.body["max_completion_tokens"] == 1
    assert caller.spend.model_calls == 1 and caller.spend.usd > 0
    assert events[0]["preflight"] is True and events[0]["usage_estimated"] is True
    assert events.other[-1] == {"type": "preflight", "url": server.base_url, "ok": True,
                                "method": "one-token completion"}


@pytest.mark.parametrize("status, passes_with", [(403, "one-token completion"),
                                                 (429, "GET /models")])
def test_a_key_that_may_not_list_models_or_a_busy_server_passes_the_preflight(
        status: int, passes_with: str) -> None:
    with FakeOpenAI() as server:
        server.models_status = status
        server.reply("OK")
        caller, events = caller_for(server.base_url)
        caller.preflight()
        pings = len(server.requests)
    [check] = [e for e in events.other if e["type"] == "preflight"]
    assert check["ok"] and check["method"] == passes_with
    assert pings == (1 if status == 403 else 0) and events.retries == []
