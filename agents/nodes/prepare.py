"""The ``prepare`` step: the built-in baselines and bounds, computed once per run."""

from __future__ import annotations

from typing import Any

from agents.state import RunContext, RunState


def prepare(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The built-in baselines and bounds on the search suite (in-process: trusted code)."""
    from agents.baselines import builtin_baselines

    ctx.caller.preflight()  # a dead model endpoint ends the run here, before any work
    stored = ctx.store.read_baselines() or {}
    if "search" not in stored:
        stored["search"] = builtin_baselines(ctx.config.suite, "search")
        ctx.store.write_baselines(stored)
    ctx.baselines = stored
    return {}


