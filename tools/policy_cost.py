"""Why a policy may be expensive to simulate, read from its source: its time-varying reads.

The engine (`simulator.engine`) skips the quiet ticks between events only while the policy's
extra call after an event returns nothing, reads nothing time-varying and leaves ``s``
unchanged. A read of the clock, a container's memory, elapsed or suspend ticks, or a pool's
consumed RAM on that call makes the engine call the policy on every tick. This module finds the
first such read in the scheduler function and whether an early return (on no results and no
pipelines) comes before it; the simulation's seconds per case come from the sandbox report.

It is a static reading (the engine's own per-run counters do not reach the tools): it names the
line a model should look at, it does not count calls.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from simulator.python_ast import parse

# The members whose reads the engine notices (simulator.clock, simulator.executor).
TIME_VARYING = {"now_seconds": "the clock", "now_ticks": "the clock",
                "get_current_memory_usage": "a container's memory",
                "ticks_elapsed": "a container's elapsed ticks",
                "suspend_ticks": "a suspension's remaining ticks",
                "consumed_ram_gb": "a pool's consumed RAM"}


@dataclass(frozen=True)
class TimeVaryingRead:
    """The first time-varying read of a scheduler, and whether an early return guards it."""

    line: int
    text: str
    what: str
    guarded: bool


def first_time_varying_read(source: str) -> TimeVaryingRead | None:
    """The first time-varying read in the ``@register_scheduler`` function (None: none, or the
    source does not parse)."""
    try:
        tree = parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines()
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not _is_scheduler(fn):
            continue
        reads = sorted((node.lineno, node.col_offset, node.attr) for node in ast.walk(fn)
                       if isinstance(node, ast.Attribute) and node.attr in TIME_VARYING)
        if not reads:
            return None
        line, _, attr = reads[0]
        guard = _early_return_line(fn)
        return TimeVaryingRead(line, lines[line - 1].strip()[:120], TIME_VARYING[attr],
                               guard is not None and guard < line)
    return None


def calls_text(calls: int | None, ticks: int | None) -> str:
    """``called on 300000 of 300000 ticks (100 %)``, or "" when the sandbox did not say."""
    if calls is None or not ticks:
        return ""
    return f"called on {calls} of {ticks} ticks ({100 * calls / ticks:.1f} %)"


def cost_text(source: str, seconds_per_case: dict[str, float | None],
              calls_per_case: dict[str, tuple[int | None, int | None]] | None = None) -> str:
    """What the policy costs to simulate (seconds, and on how many ticks the simulator had to
    call it), and why: its first time-varying read with no early return before it."""
    calls = calls_per_case or {}
    shown = ", ".join(
        f"{k} {v:.2f} s" + (f", {c}" if (c := calls_text(*calls.get(k, (None, None)))) else "")
        for k, v in seconds_per_case.items() if v is not None)
    lines = [f"simulation cost: {shown or '-'} per case"]
    read = first_time_varying_read(source)
    if read is not None and not read.guarded:
        lines.append(
            f"cost warning: line {read.line} reads {read.what} (`{read.text}`) with no early "
            "return before it, so the simulator must call the policy on every tick instead of "
            "skipping quiet ones; start schedule with `if not results and not pipelines: "
            "return [], []` (reading nothing) unless that read is worth the cost")
    return "\n".join(lines)


def _is_scheduler(fn: ast.FunctionDef) -> bool:
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "register_scheduler":
            return True
    return False


def _early_return_line(fn: ast.FunctionDef) -> int | None:
    """The line of a top-level ``if <no results and no pipelines>: return ...`` in ``fn``."""
    params = [a.arg for a in fn.args.args]
    if len(params) < 3:
        return None
    wanted = {params[1], params[2]}
    for stmt in fn.body:
        if isinstance(stmt, ast.If) and any(isinstance(s, ast.Return) for s in stmt.body):
            names = {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
            if wanted <= names:
                return stmt.lineno
    return None
