"""`ScriptedChatModel`: a deterministic chat model for tests, answering from a script.

Each script entry is one answer, used in order:

- an `AIMessage` (sent as it is),
- a ``str`` (plain text),
- a ``dict`` ``{"content": ..., "tool_calls": [{"name", "args", "id"?}]}``,
- a callable ``f(messages) -> entry`` (any of these forms),
- an ``Exception`` instance, raised instead of answering.

Every answer carries ``usage_metadata``: the entry's own, or an estimate from the text (the same
approximation `agents.calls` budgets with). Tools bound with ``bind_tools`` are recorded, so
``with_structured_output(Schema, method="function_calling")`` works: script the structured
answer as a tool call named after the schema (`structured_response` builds one).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, PrivateAttr

from agents.calls import approx_tokens, estimate_prompt_tokens, message_text
from agents.errors import AgentError
from agents.models import ROLES, RoleModelConfig

ScriptEntry = AIMessage | str | dict[str, Any] | Callable[[list[BaseMessage]], Any] | Exception


class ScriptExhausted(AgentError):
    """The model was called more often than its script has answers."""


class _Script:
    """The answers and what was asked, shared by a model and every copy ``bind_tools`` makes."""

    def __init__(self, entries: Sequence[ScriptEntry]) -> None:
        self.entries = list(entries)
        self.cursor = 0
        self.calls: list[list[BaseMessage]] = []
        self.call_tool_names: list[list[str]] = []
        self.lock = threading.Lock()  # a population's coders call one model at once


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script, in order, and records every call."""

    label: str = "scripted"
    bound_tool_names: list[str] = []
    _script: _Script = PrivateAttr()

    def __init__(self, responses: Sequence[ScriptEntry] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._script = _Script(responses)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The input messages of every call so far, in order (shared with bound copies)."""
        return self._script.calls

    @property
    def call_tool_names(self) -> list[list[str]]:
        """The tool names bound at each call, in order."""
        return self._script.call_tool_names

    @property
    def remaining(self) -> int:
        """How many scripted answers are left."""
        return len(self._script.entries) - self._script.cursor

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   **kwargs: Any) -> ScriptedChatModel:
        """A copy with these tools' names recorded; it answers from the same script."""
        names = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        bound = self.model_copy(update={"bound_tool_names": names})
        bound._script = self._script
        return bound

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        script = self._script
        with script.lock:
            script.calls.append(list(messages))
            script.call_tool_names.append(list(self.bound_tool_names))
            if script.cursor >= len(script.entries):
                last = message_text(messages[-1])[:200] if messages else ""
                raise ScriptExhausted(
                    f"ScriptedChatModel {self.label!r} has no answer left: its script has "
                    f"{len(script.entries)} answers and this is call {len(script.calls)}; "
                    f"last message: {last!r}")
            index = script.cursor
            entry = script.entries[index]
            script.cursor += 1
        message = self._answer(entry, messages, index)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _answer(self, entry: Any, messages: list[BaseMessage], index: int) -> AIMessage:
        if isinstance(entry, Exception):
            raise entry
        if callable(entry):
            return self._answer(entry(messages), messages, index)
        message = as_ai_message(entry, index)
        if message.usage_metadata is None:
            prompt = estimate_prompt_tokens(messages)
            answer = approx_tokens(message_text(message))
            message = message.model_copy(update={"usage_metadata": {
                "input_tokens": prompt, "output_tokens": answer,
                "total_tokens": prompt + answer}})
        if message.id is None:  # unique across processes: add_messages replaces equal ids
            message = message.model_copy(
                update={"id": f"scripted-{self.label}-{index}-{uuid.uuid4().hex[:12]}"})
        return message


def as_ai_message(entry: AIMessage | str | dict[str, Any], index: int = 0) -> AIMessage:
    """One script entry as an `AIMessage` (tool calls without an id get ``call_<index>_<n>``)."""
    if isinstance(entry, AIMessage):
        return entry.model_copy(deep=True)
    if isinstance(entry, str):
        return AIMessage(content=entry)
    if isinstance(entry, dict):
        unexpected = set(entry) - {"content", "tool_calls", "usage_metadata"}
        if unexpected:
            raise ValueError(f"script entry {index}: unknown keys {sorted(unexpected)}; expected "
                             "content, tool_calls, usage_metadata")
        calls = [{"name": c["name"], "args": dict(c.get("args", {})),
                  "id": c.get("id") or f"call_{index}_{n}", "type": "tool_call"}
                 for n, c in enumerate(entry.get("tool_calls", []))]
        return AIMessage(content=entry.get("content", ""), tool_calls=calls,
                         usage_metadata=entry.get("usage_metadata"))
    raise TypeError(f"script entry {index}: cannot answer with {type(entry).__name__}; use an "
                    "AIMessage, str, dict, callable or Exception")


def structured_response(answer: BaseModel, content: str = "") -> dict[str, Any]:
    """The script entry for a structured answer: a tool call named after ``answer``'s schema."""
    return {"content": content,
            "tool_calls": [{"name": type(answer).__name__, "args": answer.model_dump(mode="json")}]}


def scripted_models(scripts: dict[str, list[Any]]) -> dict[str, ScriptedChatModel]:
    """One `ScriptedChatModel` per role, labelled with the role."""
    return {role: ScriptedChatModel(script, label=role) for role, script in scripts.items()}


def scripted_configs(roles: Iterable[str] = ROLES, model: str = "scripted",
                     max_tokens: int = 1024) -> dict[str, RoleModelConfig]:
    """Configs to go with scripted models (the ``model`` name is what prices them)."""
    return {role: RoleModelConfig(model=model, max_tokens=max_tokens) for role in roles}
