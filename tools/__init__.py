"""The LangChain tools the agents call, one per module, each returning short, bounded text.

``build_tools(ctx)`` gives every tool bound to one run (`tools.context.ToolContext`), or the named
ones. Every tool answers in at most a few thousand characters, most telling facts first, and a
problem the model can fix comes back as text starting with ``error:`` instead of an exception.
No tool can reach a held-out trace or read ``held_out.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tools import (
    api_reference,
    compare_policies,
    get_candidate,
    list_candidates,
    profile_run,
    profile_workload,
    read_trace,
    run_probe,
    run_simulation,
    validate_policy,
)
from tools.context import ToolContext

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

_BUILDERS: dict[str, Callable[[ToolContext], BaseTool]] = {
    module.NAME: module.make_tool
    for module in (api_reference, validate_policy, run_simulation, profile_run, read_trace,
                   profile_workload, compare_policies, list_candidates, get_candidate, run_probe)
}
TOOL_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_tools(ctx: ToolContext, names: Iterable[str] | None = None) -> list[BaseTool]:
    """Every tool bound to ``ctx`` (in `TOOL_NAMES` order), or only the ``names`` given."""
    wanted = TOOL_NAMES if names is None else tuple(names)
    unknown = [n for n in wanted if n not in _BUILDERS]
    if unknown:
        raise ValueError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(TOOL_NAMES)}")
    return [_BUILDERS[name](ctx) for name in dict.fromkeys(wanted)]


__all__ = ["TOOL_NAMES", "ToolContext", "build_tools", "builtins", "context", "drafts", "errors",
           "metrics", "policy_cost", "policy_facts", "profile_workload", "run_probe"]
