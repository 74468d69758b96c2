"""Trace suites: complete params, disjoint search and held-out parts, a deterministic cache, CLI."""

from __future__ import annotations

import inspect
import json
import shutil
import time
from pathlib import Path

import pytest

import traces.suites as suites_module
from policyforge.commands.traces import suites_command
from simulator.engine import run_simulation
from simulator.params import DEFAULTS, load_params
from simulator.trace_io import read_trace
from traces.errors import SuiteError
from traces.profile import profile_workload
from traces.suites import (
    SUITES,
    Suite,
    SuiteCase,
    SuiteDefinition,
    SuiteVariant,
    get_suite,
    list_suites,
    pin_table,
    write_pins,
)


def all_cases(suite: Suite) -> list[SuiteCase]:
    return suite.search_cases() + suite.held_out_cases()


@pytest.mark.parametrize("name", list(SUITES))
def test_every_case_has_complete_params_and_an_exact_probability_triple(
    name: str, tmp_path: Path
) -> None:
    for case in all_cases(get_suite(name, cache_dir=tmp_path)):
        p = case.params
        assert set(DEFAULTS) <= set(p)
        assert load_params(p) == p
        assert p["interactive_prob"] + p["query_prob"] + p["batch_prob"] == 1.0, case.name
        assert p["random_seed"] == case.seed


def test_paper_suite_is_the_papers_setting_at_burst_scales_1x_to_16x(tmp_path: Path) -> None:
    suite = get_suite("paper", cache_dir=tmp_path)
    search, held_out = suite.search_cases(), suite.held_out_cases()
    for cases in (search, held_out):
        scales: dict[int, set[int]] = {}
        for case in cases:
            p = case.params
            assert (p["duration"], p["ticks_per_second"], p["num_pools"]) == (600, 1000, 1)
            assert (p["cpus_per_pool"], p["ram_gb_per_pool"], p["num_operators"]) == (64, 500, 10)
            assert p["multi_operator_containers"] is False
            k = p["num_pipelines"] // 10
            assert p["num_pipelines"] == 10 * k and p["waiting_seconds_mean"] == 10.0 * k
            scales.setdefault(k, set()).add(case.seed)
        assert sorted(scales) == [1, 2, 4, 8, 16]
        assert all(len(seeds) == 2 for seeds in scales.values())


def test_mixed_suite_has_pools_multi_op_containers_deadlines_query_mixes_branches_and_loads(
    tmp_path: Path,
) -> None:
    cases = get_suite("mixed", cache_dir=tmp_path).search_cases()
    assert all(c.params["num_pools"] > 1 for c in cases)
    assert all(c.params["multi_operator_containers"] for c in cases)
    assert all(c.params["max_job_seconds"] > 0 for c in cases)
    assert all(
        c.params["dag_branch_in_prob"] > 0 and c.params["dag_branch_out_prob"] > 0 for c in cases
    )
    assert any(c.params["query_prob"] >= 0.5 for c in cases)
    gaps = {c.params["waiting_seconds_mean"] for c in cases}
    loads = {c.params["num_pipelines"] for c in cases}
    assert len(gaps) == 1 and len(loads) >= 3  # more pipelines per arrival at the same gap
    shapes = profile_workload(read_trace(cases[0].trace_path), cases[0].params).dag_shapes
    assert shapes["branch_in"] > 0 and shapes["branch_out"] > 0


@pytest.mark.parametrize("name", list(SUITES))
def test_search_and_held_out_seeds_names_and_files_are_disjoint(name: str, tmp_path: Path) -> None:
    suite = get_suite(name, cache_dir=tmp_path)
    search, held_out = suite.search_cases(), suite.held_out_cases()
    assert search and held_out
    assert not {c.seed for c in search} & {c.seed for c in held_out}
    assert not {c.name for c in search} & {c.name for c in held_out}
    assert not {c.trace_path for c in search} & {c.trace_path for c in held_out}
    assert not {c.trace_path.read_bytes() for c in search} & {
        c.trace_path.read_bytes() for c in held_out
    }


def test_search_cases_cannot_reach_held_out_cases(tmp_path: Path) -> None:
    assert list(inspect.signature(Suite.search_cases).parameters) == ["self"]
    suite = get_suite("small", cache_dir=tmp_path)
    search = suite.search_cases()
    assert {c.trace_path.parent.name for c in search} == {"search"}
    assert not (suite.cache_dir / "held-out").exists()  # held-out traces exist only once asked for
    held_out = suite.held_out_cases()
    assert {c.trace_path.parent.name for c in held_out} == {"held-out"}
    assert not {c.seed for c in search} & {c.seed for c in held_out}


def test_overlapping_seeds_are_rejected_when_a_suite_is_defined() -> None:
    with pytest.raises(SuiteError, match="disjoint"):
        SuiteDefinition("bad", 1, "", {}, (SuiteVariant("", {}),), (1, 2), (2, 3))


def test_small_suite_runs_fast_and_saturates_its_cluster(tmp_path: Path) -> None:
    cases = all_cases(get_suite("small", cache_dir=tmp_path))
    started = time.perf_counter()
    completed: dict[str, list[int]] = {"naive": [], "priority": []}
    for case in cases:
        for policy in completed:
            stats = run_simulation(case.params, str(case.trace_path), policy).stats
            assert stats.pipelines_all.arrival_count == case.pipelines
            completed[policy].append(stats.pipelines_all.completion_count)
            if policy == "naive":
                assert 2 * stats.pipelines_all.completion_count < case.pipelines, case.name
    assert time.perf_counter() - started <= 2.0
    assert sum(completed["priority"]) > sum(completed["naive"])


def test_small_suite_needs_more_memory_than_its_cluster_has(tmp_path: Path) -> None:
    for case in get_suite("small", cache_dir=tmp_path).search_cases():
        load = profile_workload(read_trace(case.trace_path), case.params).load
        assert load is not None and load.memory_load > 1.0


def test_one_paper_case_runs_with_naive_and_priority(tmp_path: Path) -> None:
    case = next(
        c for c in get_suite("paper", cache_dir=tmp_path).search_cases() if c.name == "1x-seed10"
    )
    naive = run_simulation(case.params, str(case.trace_path), "naive").stats.pipelines_all
    priority = run_simulation(case.params, str(case.trace_path), "priority").stats.pipelines_all
    assert naive.arrival_count == priority.arrival_count == case.pipelines == 630
    assert 0 < naive.completion_count < priority.completion_count < case.pipelines


def test_regeneration_writes_the_same_bytes_in_any_cache(tmp_path: Path) -> None:
    first = get_suite("paper", cache_dir=tmp_path / "a").search_cases()
    original = {c.name: c.trace_path.read_bytes() for c in first}
    shutil.rmtree(tmp_path / "a")
    again = get_suite("paper", cache_dir=tmp_path / "a").search_cases()
    elsewhere = get_suite("paper", cache_dir=tmp_path / "b").search_cases()
    assert {c.name: c.trace_path.read_bytes() for c in again} == original
    assert {c.name: c.trace_path.read_bytes() for c in elsewhere} == original


def test_a_corrupted_or_missing_cache_file_is_regenerated(tmp_path: Path) -> None:
    suite = get_suite("small", cache_dir=tmp_path)
    first, second, _ = suite.search_cases()
    good = first.trace_path.read_bytes()
    first.trace_path.write_bytes(good.replace(b"BATCH_PIPELINE", b"QUERY", 1))
    second.trace_path.unlink()
    assert suite.cache_state() == "partial: 1 of 6 cases"
    again = suite.search_cases()
    assert again[0].trace_path.read_bytes() == good
    assert again[1].trace_path.exists()
    assert [p.name for p in first.trace_path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_cached_params_file_matches_the_case(tmp_path: Path) -> None:
    case = get_suite("small", cache_dir=tmp_path).search_cases()[0]
    assert load_params(case.trace_path.with_suffix(".toml")) == case.params


def test_a_changed_generator_is_an_error_not_a_silent_new_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suites_module, "trace_bytes", lambda params: (b"different\r\n", 1))
    with pytest.raises(SuiteError, match="new version"):
        get_suite("small", cache_dir=tmp_path).search_cases()


def test_pinned_digests_match_a_fresh_generation() -> None:
    pinned = json.loads(suites_module.PINS_FILE.read_text(encoding="utf-8"))
    assert {key: pinned[key] for key in pin_table()} == pin_table()


def test_write_pins_adds_new_versions_and_refuses_to_change_a_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = json.loads(suites_module.PINS_FILE.read_text(encoding="utf-8"))
    pins = tmp_path / "pins.json"
    monkeypatch.setattr(suites_module, "PINS_FILE", pins)
    pins.write_text(json.dumps({k: v for k, v in table.items() if k != "small-v1"}))
    assert write_pins() == ["small-v1"]
    assert json.loads(pins.read_text()) == table
    table["small-v1"]["seed1"]["sha256"] = "0" * 64
    pins.write_text(json.dumps(table))
    with pytest.raises(SuiteError, match="new version"):
        write_pins()


def test_cache_dir_comes_from_the_environment_or_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYFORGE_CACHE_DIR", str(tmp_path / "env"))
    assert get_suite("paper").cache_dir == tmp_path / "env" / "traces" / "paper-v1"
    monkeypatch.delenv("POLICYFORGE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "policyforge" / "traces" / "small-v1"
    assert get_suite("small").cache_dir == expected


def test_unknown_suite_names_the_known_ones() -> None:
    with pytest.raises(SuiteError, match="paper, small, mixed"):
        get_suite("huge")


def test_list_suites_reports_versions_counts_and_pipelines(tmp_path: Path) -> None:
    infos = {i.name: i for i in list_suites(cache_dir=tmp_path)}
    assert set(infos) >= {"paper", "small", "mixed"}
    paper = infos["paper"]
    assert (paper.version, paper.search_cases, paper.held_out_cases) == (1, 10, 10)
    assert 500 < paper.min_pipelines <= paper.max_pipelines
    assert paper.cache_state == "not cached"


def test_suites_command_lists_suites_and_cache_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    get_suite("small", cache_dir=tmp_path).search_cases()
    assert suites_command(["--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["suite", "version", "search", "held-out", "pipelines/case", "cache"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["small"][:5] == ["small", "1", "3", "3", "66-78"]
    assert " ".join(rows["small"][5:]) == "partial: 3 of 6 cases"
    assert " ".join(rows["paper"][5:]) == "not cached"

    assert suites_command(["small", "--generate", "--cache-dir", str(tmp_path), "--json"]) == 0
    (small,) = json.loads(capsys.readouterr().out)
    assert small["cache_state"] == "cached" and small["version"] == 1
    assert small["cache_dir"] == str(tmp_path / "traces" / "small-v1")


def test_suites_command_shows_one_suites_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert suites_command(["paper", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "paper v1" in out and "16x-seed10" in out and "16x-seed911" in out
    assert out.index("search:") < out.index("16x-seed10") < out.index("held-out:")


def test_suites_command_rejects_an_unknown_suite(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYFORGE_DATA_DIR", str(tmp_path))
    assert suites_command(["huge"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'huge'; expected one of paper, small, mixed" in err
    assert "traces suites add" in err
