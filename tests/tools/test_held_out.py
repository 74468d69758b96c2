"""The held-out rule: no tool reaches a held-out trace or reads ``held_out.json``."""

from __future__ import annotations

import builtins
import io
from pathlib import Path
from typing import Any

import pytest

from agents.objective import suite_objective
from sandbox.backend import default_limits
from tests.tools.conftest import HELD_OUT_SENTINEL
from tools import TOOL_NAMES, build_tools
from tools.context import ToolContext
from traces.suites import SUITES, get_suite

# Every tool that takes a trace name, and the arguments that send one.
TRACE_CALLS = {
    "read_trace": lambda trace, code: {"trace": trace},
    "run_simulation": lambda trace, code: {"code": code, "traces": [trace]},
    "profile_run": lambda trace, code: {"code": code, "trace": trace},
}
PLACEHOLDER = "<name>"


def _shape(answer: str, name: str) -> str:
    return answer.replace(repr(name), PLACEHOLDER)


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_held_out_case_of_every_suite_is_not_in_the_search_suite_for_every_trace_tool(
    suite: str, local_backend: Any, good_policy: str
) -> None:
    ctx = ToolContext(suite, local_backend, default_limits(60.0), suite_objective(suite))
    tools = {t.name: t for t in build_tools(ctx, TRACE_CALLS)}
    held_out = [c.name for c in get_suite(suite).held_out_cases()]
    assert held_out
    for tool_name, args in TRACE_CALLS.items():
        unknown = tools[tool_name].invoke(args("no-such-trace", good_policy))
        assert unknown.startswith("error: ") and "not in the search suite" in unknown
        for name in held_out:
            answer = tools[tool_name].invoke(args(name, good_policy))
            # Word for word the answer an unknown name gets: nothing about the case leaks.
            assert _shape(answer, name) == _shape(unknown, "no-such-trace"), (tool_name, name)


def test_the_trace_tools_are_exactly_the_ones_checked_above() -> None:
    takes_trace = {name for name, tool in zip(TOOL_NAMES, build_tools(_dummy_ctx()), strict=True)
                   if {"trace", "traces"} & set(tool.args)}
    assert takes_trace == set(TRACE_CALLS)


def _dummy_ctx() -> ToolContext:
    return ToolContext("small", backend=None, limits=default_limits(),  # type: ignore[arg-type]
                       objective=suite_objective("small"))


def test_no_tool_ever_opens_held_out_json(ctx: ToolContext, run_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = builtins.open
    real_io_open = io.open

    def spy(opener: Any) -> Any:
        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            opened.append(str(file))
            return opener(file, *args, **kwargs)
        return open_

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(io, "open", spy(real_io_open))
    tools = {t.name: t for t in build_tools(ctx)}
    answers = [
        tools["list_candidates"].invoke({}),
        *(tools["get_candidate"].invoke({"n": n}) for n in (1, 2, 3)),
        tools["compare_policies"].invoke({"a": "1", "b": "priority"}),
        tools["profile_run"].invoke({"candidate": 1}),
    ]
    assert (run_dir / "candidates" / "1" / "held_out.json").exists()
    assert any("result.json" in path for path in opened)  # the spy sees the reads
    assert not [path for path in opened if "held_out" in path]
    for answer in answers:
        assert str(HELD_OUT_SENTINEL) not in answer and "987654" not in answer
