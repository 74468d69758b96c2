"""The scenario library (`noisy`, `latency`, `scales`, `overcommit`): only what Eudoxia c62122c
accepts, search and held-out parts, pinned bytes, the setting each promises, and headroom (the best
valid built-in at most 80% of the bound on each part)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.engine import run_simulation
from simulator.errors import SimulatorError
from simulator.policy_loader import builtin_keys
from simulator.trace_io import read_trace
from traces.bounds import bound_fractions, compute_bounds
from traces.builtin_runs import quiet_builtins
from traces.suites import SUITES, get_suite

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("noisy", "latency", "scales", "overcommit")
SPEC = Path("/work/shared/eudoxia-spec.md")
# The bound fractions each scenario must leave room in: its objective's figure. The latency
# fraction averages over completed pipelines only, so it says little where completions are scored.
HEADROOM = {"noisy": ("completed_pipelines",), "overcommit": ("completed_pipelines",),
            "latency": ("completed_pipelines", "latency"),
            "scales": ("completed_pipelines", "latency")}
# Eudoxia c62122c's params table (spec §2.2) and its trace header (spec §6.3.1), as written there.
SPEC_KEYS = frozenset("""
duration ticks_per_second waiting_seconds_mean num_pipelines num_operators num_segs
interactive_prob query_prob batch_prob dag_linear_prob dag_branch_in_prob dag_branch_out_prob
cpu_io_ratio scheduler_algo rest_scheduler_addr rest_poll_interval num_pools cpus_per_pool
ram_gb_per_pool multi_operator_containers allow_memory_overcommit random_seed max_job_seconds
estimator_algo noisy_estimator_sigma
""".split())
SPEC_HEADER = ("pipeline_id,arrival_seconds,priority,operator_id,parents,baseline_cpu_seconds,"
               "cpu_scaling,memory_gb,storage_read_gb")


def test_the_key_list_is_the_specs_table() -> None:
    if SPEC.exists():  # the spec lives beside the project, not in it
        text = SPEC.read_text(encoding="utf-8")
        table = text.split("### 2.2", 1)[1].split("\n## ", 1)[0]
        keys = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
        assert keys == SPEC_KEYS
        assert SPEC_HEADER in text


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_scenario_uses_only_what_eudoxia_accepts_and_has_both_parts(
    name: str, tmp_path: Path
) -> None:
    definition = SUITES[name]
    raw = {**definition.base}
    for variant in definition.variants:
        raw.update(variant.overrides)
    assert set(raw) <= SPEC_KEYS, set(raw) - SPEC_KEYS
    suite = get_suite(name, cache_dir=tmp_path)
    search, held = suite.search_cases(), suite.held_out_cases()
    assert search and held
    assert not {c.seed for c in search} & {c.seed for c in held}
    for case in search + held:
        assert set(case.params) == SPEC_KEYS
        data = case.trace_path.read_bytes()
        assert data.split(b"\r\n", 1)[0].decode() == SPEC_HEADER
        assert len(read_trace(case.trace_path)) == case.pipelines > 0


def test_traces_suites_json_lists_every_scenario_with_both_parts(tmp_path: Path) -> None:
    env = {**os.environ, "POLICYFORGE_CACHE_DIR": str(tmp_path),
           "POLICYFORGE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "policyforge", "traces", "suites", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    for name in SCENARIOS:
        assert listed[name]["search_cases"] > 0 and listed[name]["held_out_cases"] > 0, name
        assert listed[name]["user"] is False


def test_each_scenario_is_the_setting_it_promises(tmp_path: Path) -> None:
    noisy = [c.params for c in get_suite("noisy", cache_dir=tmp_path).search_cases()]
    assert {p["estimator_algo"] for p in noisy} == {"noisy"}
    assert len({p["noisy_estimator_sigma"] for p in noisy}) >= 2
    assert all(p["noisy_estimator_sigma"] > 0 for p in noisy)

    over = get_suite("overcommit", cache_dir=tmp_path).held_out_cases()
    assert all(c.params["allow_memory_overcommit"] is True for c in over)

    latency = get_suite("latency", cache_dir=tmp_path).search_cases()
    for case in latency:
        p = case.params
        assert p["max_job_seconds"] > 0 and p["num_pools"] >= 2
        assert p["interactive_prob"] > p["batch_prob"]

    scales = get_suite("scales", cache_dir=tmp_path)
    for cases in (scales.search_cases(), scales.held_out_cases()):
        by_seed: dict[int, list] = {}
        for case in cases:
            by_seed.setdefault(case.seed, []).append(case)
        for same in by_seed.values():
            sizes = sorted((c.params["cpus_per_pool"], c.params["ram_gb_per_pool"]) for c in same)
            assert sizes == [(64 * k, 500 * k) for k in (1, 2, 4, 8, 16)]
            # one workload: every size replays the same trace
            assert len({c.trace_path.read_bytes() for c in same}) == 1
            for c in same:
                p = c.params
                assert (p["num_pools"], p["ticks_per_second"], p["max_job_seconds"]) == (
                    1, 100, 360)
                assert p["multi_operator_containers"] is False


def test_the_scenarios_are_pinned_byte_for_byte_on_a_fresh_machine(tmp_path: Path) -> None:
    # a fresh cache regenerates every trace and checks it against suite_pins.json
    pins = json.loads((ROOT / "traces" / "suite_pins.json").read_text())
    for name in SCENARIOS:
        suite = get_suite(name, cache_dir=tmp_path / "fresh")
        cases = suite.search_cases() + suite.held_out_cases()
        assert {c.name: c.sha256 for c in cases} == {
            case: pin["sha256"] for case, pin in pins[suite.definition.key].items()}


def _fractions(case) -> dict[str, dict[str, float | None] | None]:
    trace = read_trace(case.trace_path)
    bounds = compute_bounds(trace, dict(case.params))
    out: dict[str, dict[str, float | None] | None] = {}
    for policy in builtin_keys():
        try:
            with quiet_builtins():
                result = run_simulation(dict(case.params), trace, policy)
        except SimulatorError:
            out[policy] = None  # not a valid baseline here (e.g. priority-pool on one pool)
            continue
        out[policy] = bound_fractions(result, bounds)
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_leaves_headroom_over_the_best_valid_builtin(
    name: str, tmp_path: Path
) -> None:
    suite = get_suite(name, cache_dir=tmp_path)
    for cases in (suite.search_cases(), suite.held_out_cases()):
        per_case = [_fractions(c) for c in cases]
        valid = [p for p in builtin_keys() if all(f[p] is not None for f in per_case)]
        assert "priority" in valid and "naive" in valid
        if any(c.params["num_pools"] > 1 for c in cases):
            assert "priority-pool" in valid  # every multi-pool setting has it as a baseline
        for metric in HEADROOM[name]:
            best = max(statistics.median(f[p][metric] or 0.0 for f in per_case) for p in valid)
            assert 0 < best <= 0.8, (name, metric, best)


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize("name", SCENARIOS)
def test_priority_and_naive_evaluate_in_docker_with_every_fraction_at_most_one(name: str) -> None:
    for policy in ("priority", "naive"):
        proc = subprocess.run(
            [sys.executable, "-m", "policyforge", "evaluate", "--policy", policy, "--suite",
             name, "--part", "held-out", "--sandbox", "docker", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert report["status"] == "ok", report["reason"]
        assert report["verification"]["verified"] == report["verification"]["compared"]
        for trace in report["traces"]:
            for key, value in trace["bound_fractions"].items():
                assert value is not None and 0 <= value <= 1, (name, policy, key, value)


ORACLE_POLICY = """\
@register_scheduler_init(key="peek")
def init(s):
    pass


@register_scheduler(key="peek")
def schedule(s, results, pipelines):
    for p in pipelines:
        for op in p.values:
            op.get_segments()
    return [], []
"""


def test_reading_true_sizes_is_an_error_on_noisy_and_a_warning_elsewhere() -> None:
    from sandbox.backend import Limits
    from sandbox.evaluation import PolicyInput, evaluate_policy
    from sandbox.static_checks import check_policy_source

    class Refuse:  # a rejected policy never reaches the sandbox
        name = isolation = image = "none"

        def run(self, *_: object) -> None:
            raise AssertionError("a rejected policy ran")

    checked = check_policy_source(ORACLE_POLICY, "peek.py")
    assert checked.ok and {f.rule for f in checked.warnings} == {"oracle-info"}
    assert [get_suite(n).estimates_only for n in SUITES] == [n == "noisy" for n in SUITES]

    policy = PolicyInput("peek.py", source=ORACLE_POLICY, filename="peek.py")
    report = evaluate_policy(policy, [], Refuse(), Limits(), suite="noisy", part="search")
    assert report.status == "rejected"
    assert "[oracle-info]" in report.reason and "estimates-only" in report.reason
    assert "peek.py:10:" in report.reason and ": error [" in report.reason
    assert {f["severity"] for f in report.findings if f["rule"] == "oracle-info"} == {"error"}
