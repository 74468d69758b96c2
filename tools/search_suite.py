"""The search part of a suite: the only traces any tool can reach.

Every tool that takes a trace name goes through `search_case`, which knows only the search part
(`traces.suites.Suite.search_cases`). A name outside it (a held-out case, a typo) gets one and the
same answer: the trace is not in the search suite. Nothing here ever asks for held-out cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tools.errors import ToolError

if TYPE_CHECKING:
    from sandbox.evaluation import CaseInput
    from simulator.trace_io import TracePipeline


@lru_cache(maxsize=8)
def _inputs(suite: str) -> tuple[CaseInput, ...]:
    from sandbox.evaluation import suite_inputs

    return tuple(suite_inputs(suite, "search"))


def search_names(suite: str) -> list[str]:
    """The names of the suite's search traces, in suite order."""
    return [c.name for c in _inputs(suite)]


def not_in_search(suite: str, name: str) -> ToolError:
    """The error for any trace name outside the search part, held-out or unknown alike."""
    return ToolError(f"trace {name!r} is not in the search suite {suite!r}; search traces: "
                     f"{', '.join(search_names(suite))}")


def search_case(suite: str, name: str) -> CaseInput:
    """One search case by name (params and trace text); `ToolError` for any other name."""
    for case in _inputs(suite):
        if case.name == name:
            return case
    raise not_in_search(suite, name)


def search_cases(suite: str, names: Sequence[str] | None, default_count: int) -> list[CaseInput]:
    """The named search cases (in the order given, once each), or the first ``default_count``."""
    if not names:
        return list(_inputs(suite)[:default_count])
    return [search_case(suite, n) for n in dict.fromkeys(n.strip() for n in names)]


@lru_cache(maxsize=64)
def trace_pipelines(suite: str, name: str) -> list[TracePipeline]:
    """The parsed trace of one search case (cached; do not mutate)."""
    import io

    from simulator.trace_io import read_trace

    case = search_case(suite, name)
    return read_trace(io.StringIO(case.trace_csv_text), name=f"{name}.csv")


@lru_cache(maxsize=64)
def trace_bounds(suite: str, name: str) -> dict[str, Any] | None:
    """The bounds of one search case (`traces.bounds`), or None where they cannot be computed."""
    from simulator.errors import SimulatorError
    from traces.bounds import compute_bounds

    try:
        bounds = compute_bounds(trace_pipelines(suite, name), search_case(suite, name).params)
    except SimulatorError:
        return None
    return bounds.to_dict()


def suite_description(suite: str) -> str:
    """``small v1: <description>``."""
    from traces.suites import get_suite

    s = get_suite(suite)
    return f"{s.name} v{s.version}: {s.definition.description}"


def cluster_line(params: dict[str, Any]) -> str:
    """The setting a policy runs in: duration, pools, container mode, deadlines, estimator."""
    mode = "multi-operator" if params.get("multi_operator_containers") else "single-operator"
    deadline = params.get("max_job_seconds") or 0
    estimator = params.get("estimator_algo") or "none (op.estimate.mem_peak_gb is None)"
    return (
        f"{params['duration']:g} s at {params['ticks_per_second']:g} ticks/s; "
        f"{params['num_pools']} pool(s) x {params['cpus_per_pool']:g} CPUs / "
        f"{params['ram_gb_per_pool']:g} GB; {mode} containers; "
        f"deadline {f'{deadline:g} s' if deadline else 'none'}; "
        f"memory overcommit {'on' if params.get('allow_memory_overcommit') else 'off'}; "
        f"estimator {estimator}"
    )
