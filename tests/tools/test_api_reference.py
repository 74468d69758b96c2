"""``api_reference``: the policy API from the simulator's own docstrings, with an example."""

from __future__ import annotations

import json

import pytest

from sandbox.static_checks import check_policy_source
from simulator.engine import run_simulation
from tools import api_reference
from tools.context import ToolContext
from traces.suites import get_suite


def test_the_reference_covers_the_policy_surface_and_fits_untruncated(ctx: ToolContext) -> None:
    answer = api_reference.make_tool(ctx).invoke({})
    assert len(answer) <= api_reference.LIMIT and "truncated" not in answer
    for name in ("@register_scheduler_init", "@register_scheduler", "s.executor", "avail_cpu_pool",
                 "avail_ram_pool", "active_containers", "can_suspend_container", "runtime_status",
                 "get_ops(states", "ASSIGNABLE_STATES", "Assignment(ops: list[Operator], cpu",
                 "Suspend(container_id: str, pool_id: int)", "ExecutionResult", ".failed()",
                 "QUERY=1", "mem_peak_gb", "now_seconds()", "multi_operator_containers",
                 "from eudoxia.executor.assignment import"):
        assert name in answer, name


def test_descriptions_come_from_the_simulator_docstrings(ctx: ToolContext) -> None:
    from simulator.executor import ResourcePool

    answer = api_reference.reference_text()
    doc = (ResourcePool.get_container_by_id.__doc__ or "").strip()
    assert f".get_container_by_id(container_id: str): {doc}" in answer


def test_a_member_the_simulator_lacks_is_a_programming_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from simulator.executor import ResourcePool

    monkeypatch.setattr(api_reference, "SURFACE", (("pool", ResourcePool, ("free_gpus",)),))
    api_reference.reference_text.cache_clear()
    try:
        with pytest.raises(LookupError, match="free_gpus"):
            api_reference.reference_text()
    finally:
        api_reference.reference_text.cache_clear()


def test_the_example_is_a_clean_policy_file_that_runs(tmp_path: object) -> None:
    source = api_reference.example_source()
    assert "simulator" not in source and "from eudoxia." in source
    assert check_policy_source(source).findings == []
    path = tmp_path / "example.py"  # type: ignore[operator]
    path.write_text(source, encoding="utf-8")
    case = get_suite("small").search_cases()[0]
    ours = run_simulation(case.params, case.trace_path, str(path)).stats.to_dict()
    builtin = run_simulation(case.params, case.trace_path, "naive").stats.to_dict()
    assert json.dumps(ours, sort_keys=True) == json.dumps(builtin, sort_keys=True)  # NaN-safe
