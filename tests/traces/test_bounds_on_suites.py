"""Bounds hold for every built-in policy on the suites' traces, and are reported beside stats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.engine import run_simulation
from simulator.trace_io import read_trace
from tests.traces.test_bounds import assert_latency_scores_above_their_floors
from traces.bounds import bound_fractions, compute_bounds
from traces.suites import get_suite


def _policies(params: dict) -> list[str]:
    out = ["naive", "priority"]
    if params["num_pools"] == 2 and params["multi_operator_containers"]:
        out.append("priority-pool")
    if params["allow_memory_overcommit"] and not params["multi_operator_containers"]:
        out.append("overbook")
    return out


@pytest.mark.parametrize("suite", ["small", "mixed", "paper", "latency", "overcommit"])
def test_no_builtin_policy_beats_the_bounds_on_any_case_of_the_suite(
    suite: str, tmp_path: Path
) -> None:
    s = get_suite(suite, cache_dir=tmp_path)
    cases = s.search_cases() + s.held_out_cases()
    checked = 0
    for case in cases:
        pipelines = read_trace(case.trace_path)
        bounds = compute_bounds(pipelines, case.params)
        for policy in _policies(case.params):
            result = run_simulation(case.params, pipelines, policy)
            stats = result.stats
            assert stats.pipelines_all.completion_count <= bounds.max_completed_pipelines
            assert stats.containers_completed <= bounds.max_completed_operators
            assert_latency_scores_above_their_floors(result, bounds)
            fractions = bound_fractions(result, bounds)
            assert all(v is None or 0.0 <= v <= 1.0 for v in fractions.values()), fractions
            tps = case.params["ticks_per_second"]
            assert len(result.pipeline_ticks) == len(pipelines)
            for pipeline_id, arrival_tick, finish_tick in result.pipeline_ticks:
                lower = bounds.min_latency_seconds.get(pipeline_id)
                if finish_tick is not None:
                    assert lower is not None
                    assert (finish_tick - arrival_tick) / tps >= lower - 1e-9
            checked += 1
    assert checked >= 2 * len(cases)


def test_bounds_cli_reports_a_policy_as_fractions_of_the_bounds(tmp_path: Path) -> None:
    case = get_suite("small", cache_dir=tmp_path).search_cases()[0]
    params = tmp_path / "params.toml"
    from simulator.params import params_to_toml

    params.write_text(params_to_toml(case.params))
    run = subprocess.run(
        [sys.executable, "-m", "policyforge", "traces", "bounds", str(case.trace_path),
         str(params), "--policy", "priority", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    fractions = out["fractions_of_bound"]
    assert out["policy"] == "priority"
    assert 0 < fractions["completed_pipelines"] <= 1
    assert 0 < fractions["latency"] <= 1
