"""A real HTTP server speaking OpenAI's chat completions API, on 127.0.0.1, for offline tests.

``POST /v1/chat/completions`` answers from a queue of scripted replies (text, tool calls, or an
HTTP failure such as a 429 with Retry-After or a 500) and records every request it receives in
``requests``. A request with ``"stream": true`` is answered as server-sent events, the way
OpenAI streams: content in pieces, tool-call arguments in pieces, and the usage in a last chunk
when the request asks for it (``stream_options.include_usage``). ``GET /v1/models`` lists
``model`` (counted in ``model_list_requests``).

A `Quirks` object makes it behave like a particular server: no usage in the stream, whole tool
calls in one chunk without an ``index``, no ``/models`` route, usage in every chunk...
A reply may wait ``delay_s`` before its headers (a slow model).
"""

from __future__ import annotations

import json
import threading
import time
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


@dataclass(frozen=True)
class Quirks:
    """How a particular OpenAI-compatible server differs from OpenAI's API."""

    stream_usage: str = "on_request"  # "on_request" | "never" | "always" (even unasked)
    tool_calls: str = "pieces"  # "pieces" (OpenAI) | "whole" (one chunk) | "whole_no_index"
    models_route: bool = True  # GET /v1/models exists
    usage_in_every_chunk: bool = False  # running usage totals on every chunk, final one last
    empty_content_with_tools: str | None = None  # content sent beside tool calls ("" or None)


OPENAI = Quirks()
VLLM = Quirks()  # speaks OpenAI's format, usage on request, tool calls in pieces
OLLAMA = Quirks(tool_calls="whole", empty_content_with_tools="")
LLAMA_CPP = Quirks(stream_usage="always", empty_content_with_tools=None)
OLD_OLLAMA = Quirks(stream_usage="never", tool_calls="whole_no_index", models_route=False,
                    empty_content_with_tools="")


@dataclass
class _Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: bool = True
    stall_s: float = 0.0  # a streamed answer stops this long after its first piece
    chunk_delay_s: float = 0.0  # a slow stream: this long between chunks


class FakeOpenAI:
    """The server: queue replies with `reply`, `reply_tool_calls`, `fail`; read `requests`."""

    def __init__(self, model: str = "fake-model", quirks: Quirks = OPENAI) -> None:
        self.model = model
        self.quirks = quirks
        self.requests: list[RecordedRequest] = []
        self.model_list_requests = 0
        self.answer_everything_with: int | None = None  # e.g. 500: a broken server
        self.models_status: int | None = None  # GET /v1/models answers this status instead
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
              usage: bool = True, delay_s: float = 0.0, stall_s: float = 0.0) -> None:
        """Queue a plain text answer with this usage, sent after ``delay_s`` seconds (streamed:
        stalling ``stall_s`` seconds after its first piece of content)."""
        self._queue_completion({"role": "assistant", "content": content}, "stop",
                               prompt_tokens, completion_tokens, usage, delay_s)
        self._replies[-1].stall_s = stall_s

    def reply_tool_calls(self, calls: list[tuple[str, dict[str, Any]]], *,
                         content: str | None = None, prompt_tokens: int = 100,
                         completion_tokens: int = 20, delay_s: float = 0.0,
                         chunk_delay_s: float = 0.0) -> None:
        """Queue an answer that calls these tools, given as (name, arguments); streamed, one
        chunk every ``chunk_delay_s`` seconds."""
        n = len(self.requests) + len(self._replies)
        tool_calls = [{"id": f"call_{n}_{i}", "type": "function",
                       "function": {"name": name, "arguments": json.dumps(args)}}
                      for i, (name, args) in enumerate(calls)]
        self._queue_completion({"role": "assistant", "content": content, "tool_calls": tool_calls},
                               "tool_calls", prompt_tokens, completion_tokens, True, delay_s)
        self._replies[-1].chunk_delay_s = chunk_delay_s

    def fail(self, status: int, message: str = "failure injected by the test",
             headers: dict[str, str] | None = None, code: str | None = None) -> None:
        """Queue an HTTP error with an OpenAI-style error body."""
        error = {"message": message, "type": "test_error", "param": None, "code": code}
        self._replies.append(_Reply(status, {"error": error}, headers or {}))

    def _queue_completion(self, message: dict[str, Any], finish: str, prompt_tokens: int,
                          completion_tokens: int, usage: bool, delay_s: float) -> None:
        body: dict[str, Any] = {
            "id": f"chatcmpl-{len(self._replies)}", "object": "chat.completion",
            "created": 1_700_000_000, "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        self._replies.append(_Reply(200, body, delay_s=delay_s, usage=usage))

    # --- serving -------------------------------------------------------------------------------

    def _next(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            self.requests.append(request)
            if self.answer_everything_with is not None:
                return _Reply(self.answer_everything_with,
                              {"error": {"message": "injected server failure"}})
            if request.path.rstrip("/") != "/v1/chat/completions":
                return _Reply(404, {"error": {"message": f"no route {request.path}"}})
            if not self._replies:
                return _Reply(500, {"error": {"message": "fake server: no reply scripted"}})
            return self._replies.popleft()

    def _models(self) -> _Reply:
        with self._lock:
            self.model_list_requests += 1
        if self.answer_everything_with is not None:
            return _Reply(self.answer_everything_with,
                          {"error": {"message": "injected server failure"}})
        if self.models_status is not None:
            return _Reply(self.models_status, {"error": {"message": "listing refused"}})
        if not self.quirks.models_route:
            return _Reply(404, {"error": {"message": "no route /v1/models"}})
        return _Reply(200, {"object": "list", "data": [
            {"id": self.model, "object": "model", "created": 1_700_000_000, "owned_by": "me"}]})

    def stream_events(self, reply: _Reply, include_usage: bool) -> list[dict[str, Any]]:
        """The chunks a streamed answer is sent as (what OpenAI sends, bent by the quirks)."""
        q = self.quirks
        choice = reply.body["choices"][0]
        message, finish = choice["message"], choice["finish_reason"]
        usage = reply.body["usage"] if reply.usage else None
        base = {"id": reply.body["id"], "object": "chat.completion.chunk",
                "created": reply.body["created"], "model": self.model}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        content = message.get("content")
        if content:
            deltas += [{"content": content[i:i + 7]} for i in range(0, len(content), 7)]
        for i, call in enumerate(message.get("tool_calls") or []):
            fn = call["function"]
            if q.tool_calls == "pieces":
                deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                               "function": {"name": fn["name"],
                                                            "arguments": ""}}]})
                args = fn["arguments"]
                deltas += [{"tool_calls": [{"index": i, "function": {"arguments": args[k:k + 9]}}]}
                           for k in range(0, len(args), 9)]
            else:
                whole = {"id": call["id"], "type": "function", "function": dict(fn)}
                if q.tool_calls == "whole":
                    whole["index"] = i
                delta: dict[str, Any] = {"tool_calls": [whole]}
                if q.empty_content_with_tools is not None:
                    delta["content"] = q.empty_content_with_tools
                deltas.append(delta)
        chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None,
                                        "logprobs": None}]} for d in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                            "logprobs": None}]})
        send_usage = usage is not None and (
            q.stream_usage == "always" or (q.stream_usage == "on_request" and include_usage))
        if send_usage and q.usage_in_every_chunk:
            for n, chunk in enumerate(chunks):
                done = max(1, usage["completion_tokens"] * (n + 1) // len(chunks))
                chunk["usage"] = {"prompt_tokens": usage["prompt_tokens"],
                                  "completion_tokens": done,
                                  "total_tokens": usage["prompt_tokens"] + done}
        elif send_usage:
            chunks.append({**base, "choices": [], "usage": usage})
        return chunks


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._send_json(server._models())
            else:
                self._send_json(_Reply(404, {"error": {"message": f"no route {self.path}"}}))

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length) if length else b"{}"
            request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                                      json.loads(raw))
            reply = server._next(request)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            try:
                if reply.status == 200 and request.body.get("stream"):
                    include = bool((request.body.get("stream_options") or {}).get("include_usage"))
                    self._send_stream(server.stream_events(reply, include), reply.stall_s,
                                      reply.chunk_delay_s)
                else:
                    body = dict(reply.body)
                    if reply.status == 200 and not reply.usage:
                        body.pop("usage", None)
                    self._send_json(_Reply(reply.status, body, reply.headers))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def _send_json(self, reply: _Reply) -> None:
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _send_stream(self, chunks: list[dict[str, Any]], stall_s: float,
                         chunk_delay_s: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for n, chunk in enumerate(chunks):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                if n == 1 and stall_s:  # after the role chunk and the first piece
                    time.sleep(stall_s)
                if chunk_delay_s:
                    time.sleep(chunk_delay_s)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            return

    return Handler
