"""``read_trace`` and ``profile_workload``: the search suite's workload, bounded."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tools.context import ToolContext
from tools.profile_workload import make_tool as make_profile_workload
from tools.read_trace import make_tool as make_read_trace
from tools.text import LIMIT


def test_read_trace_gives_the_setting_bound_baselines_and_workload(ctx: ToolContext) -> None:
    answer = make_read_trace(ctx).invoke({"trace": "seed1"})
    lines = answer.splitlines()
    assert lines[0].startswith("trace seed1 (search suite small): 120 s at 1000 ticks/s; "
                               "1 pool(s) x 64 CPUs / 500 GB; single-operator containers")
    assert re.match(r"bound: any policy completes at most \d+ of the 78 pipelines", lines[1])
    assert re.match(r"baselines \(completed pipelines, bound \d+\): naive \d+, priority \d+, "
                    r"priority-pool n/a", lines[2])
    for part in ("arrivals per 10 s", "priority mix: QUERY", "DAG shapes", "offered load",
                 "operators (", "scaling: const"):
        assert part in answer, part
    assert len(answer) <= LIMIT


@pytest.mark.parametrize("name", ["seed901", "nope", ""])
def test_read_trace_of_anything_but_a_search_trace_is_an_error(ctx: ToolContext, name: str) -> None:
    answer = make_read_trace(ctx).invoke({"trace": name})
    assert answer.startswith("error: trace ") and "is not in the search suite 'small'" in answer
    assert not re.search(r"\d+ pipelines", answer)


def test_profile_workload_lists_every_search_trace_with_load_and_bound(ctx: ToolContext) -> None:
    answer = make_profile_workload(ctx).invoke({})
    assert answer.startswith("search suite small v1:")
    for trace in ("seed1", "seed2", "seed3"):
        assert re.search(rf"^{trace}\s+\d+\s+\d+/\d+/\d+\s+\d+%\s+\d+%\s+\d+\s+\d+$", answer, re.M)
    assert "priority completed pipelines" in answer
    assert "operators (908" in answer
    assert len(answer) <= LIMIT


def test_profile_workload_of_the_largest_search_suite_stays_bounded(ctx: ToolContext) -> None:
    answer = make_profile_workload(replace(ctx, suite="mixed")).invoke({})
    assert answer.count("-seed2") == 12
    assert len(answer) <= LIMIT
