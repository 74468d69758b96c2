"""A real HTTP server speaking OpenAI's chat completions API, on 127.0.0.1, for offline tests.

``POST /v1/chat/completions`` answers from a queue of scripted replies (text, tool calls, or an
HTTP failure such as a 429 with Retry-After or a 500) and records every request it receives.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAI:
    """The server: queue replies with `reply`, `reply_tool_calls`, `fail`; read `requests`."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True  # a client's kept-alive connection must not block exit
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        """What to give ``ChatOpenAI(base_url=...)``."""
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- scripting -----------------------------------------------------------------------------

    def reply(self, content: str, *, prompt_tokens: int = 100, completion_tokens: int = 20,
              usage: bool = True) -> None:
        """Queue a plain text answer with this usage."""
        self._queue_completion({"role": "assistant", "content": content}, "stop",
                               prompt_tokens, completion_tokens, usage)

    def reply_tool_calls(self, calls: list[tuple[str, dict[str, Any]]], *,
                         content: str | None = None, prompt_tokens: int = 100,
                         completion_tokens: int = 20) -> None:
        """Queue an answer that calls these tools, given as (name, arguments)."""
        n = len(self.requests) + len(self._replies)
        tool_calls = [{"id": f"call_{n}_{i}", "type": "function",
                       "function": {"name": name, "arguments": json.dumps(args)}}
                      for i, (name, args) in enumerate(calls)]
        self._queue_completion({"role": "assistant", "content": content, "tool_calls": tool_calls},
                               "tool_calls", prompt_tokens, completion_tokens, True)

    def fail(self, status: int, message: str = "failure injected by the test",
             headers: dict[str, str] | None = None, code: str | None = None) -> None:
        """Queue an HTTP error with an OpenAI-style error body."""
        error = {"message": message, "type": "test_error", "param": None, "code": code}
        self._replies.append(_Reply(status, {"error": error}, headers or {}))

    def _queue_completion(self, message: dict[str, Any], finish: str, prompt_tokens: int,
                          completion_tokens: int, usage: bool) -> None:
        body: dict[str, Any] = {
            "id": f"chatcmpl-{len(self._replies)}", "object": "chat.completion",
            "created": 1_700_000_000, "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
        }
        if usage:
            body["usage"] = {"prompt_tokens": prompt_tokens,
                             "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
        self._replies.append(_Reply(200, body))

    # --- serving -------------------------------------------------------------------------------

    def _next(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            self.requests.append(request)
            if request.path.rstrip("/") != "/v1/chat/completions":
                return _Reply(404, {"error": {"message": f"no route {request.path}"}})
            if not self._replies:
                return _Reply(500, {"error": {"message": "fake server: no reply scripted"}})
            return self._replies.popleft()


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length) if length else b"{}"
            request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                                      json.loads(raw))
            reply = server._next(request)
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            return

    return Handler
