"""Built-in policies run in this process: they are this project's own code, so they need no
sandbox. The one place that runs a built-in on a case and encodes its statistics; baselines,
tools and review all come here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BuiltinRun:
    """A built-in's statistics on one case (and its run profile when asked), or why it failed."""

    stats: dict[str, Any] | None
    profile: dict[str, Any] | None = None
    error: str | None = None  # the simulator's message, e.g. Eudoxia's "Overallocated CPU..."
    detail: str | None = None  # the message with where it happened (tick, decision)
    kind: str | None = None  # the simulator error's kind, e.g. "policy_decision_error"


def run_builtin(params: dict[str, Any], trace: Any, policy: str, *,
                profile: bool = False) -> BuiltinRun:
    """Built-in ``policy`` on ``trace`` (a path or parsed pipelines) under ``params``."""
    from simulator.engine import run_simulation
    from simulator.errors import SimulatorError

    if isinstance(trace, str):
        trace = Path(trace)
    try:
        with quiet_builtins():
            result = run_simulation(dict(params), trace, policy, profile=profile)
    except SimulatorError as exc:
        return BuiltinRun(None, None, exc.message, str(exc), exc.kind)
    return BuiltinRun(result.stats_json(), result.profile)


@contextlib.contextmanager
def quiet_builtins() -> Iterator[None]:
    """Mute the built-in policies' own log warnings (overbook's) while they run.

    Only their logger: redirecting stdout or stderr would be process-wide, and a chat session
    runs baselines in a background thread while the person types.
    """
    policies = logging.getLogger("simulator.policies")
    previous = policies.level
    policies.setLevel(logging.ERROR)
    try:
        yield
    finally:
        policies.setLevel(previous)
