"""How a tool fails: a short ``error: ...`` text for the model, never a traceback.

A tool raises `ToolError` for anything the model can fix (bad code, an unknown trace or
candidate, a sandbox that would not run); `tool_function` turns it, and the domain errors of the
packages below (simulator, traces, sandbox), into text. Anything else is a programming error and
propagates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from simulator.errors import PolicyforgeError
from tools.text import LIMIT, cap


class ToolError(PolicyforgeError):
    """A problem the model can act on; its message becomes the tool's ``error: ...`` result."""

    kind = "tool_error"


def _domain_errors() -> tuple[type[Exception], ...]:
    from sandbox.errors import SandboxError
    from simulator.errors import SimulatorError
    from traces.errors import TracesError

    return (SandboxError, SimulatorError, TracesError)


def error_text(message: str) -> str:
    """The one shape of a tool error: ``error: <message>`` on one line."""
    return "error: " + " ".join(message.split())


def tool_function(limit: int = LIMIT) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Wrap a tool's body: errors the model can act on become ``error: ...``; output is capped."""

    def decorate(func: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> str:
            try:
                text = func(*args, **kwargs)
            except ToolError as exc:
                text = error_text(exc.message)
            except _domain_errors() as exc:
                text = error_text(str(exc))
            return cap(text, limit)

        return run

    return decorate
