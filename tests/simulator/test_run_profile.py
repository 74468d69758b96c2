"""The run profile: utilisation, queueing, OOM waste, suspensions, idle capacity, timelines."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.engine import run_simulation
from simulator.trace_io import TraceOperator, TracePipeline

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_profile_of_a_tiny_run_has_exact_waits_oom_waste_and_timelines() -> None:
    # One 55 GB batch op on a 64-CPU / 256 GB pool with `priority` at 100 ticks/s:
    # 6 CPU / 25 GB OOMs after 126 ticks, 12 / 50 OOMs after 251 ticks, 24 / 100 succeeds.
    trace = [
        TracePipeline(
            "p1", 0.0, "BATCH_PIPELINE", [TraceOperator("op1", [], 1.0, "const", None, 55.0)]
        )
    ]
    params = {
        "duration": 20,
        "ticks_per_second": 100,
        "num_pools": 1,
        "cpus_per_pool": 64,
        "ram_gb_per_pool": 256,
        "scheduler_algo": "priority",
    }
    result = run_simulation(params, trace, profile=True)
    profile = result.profile
    assert profile is not None
    assert profile["oom"]["kills"] == 2
    assert profile["oom"]["wasted_cpu_seconds"] == 6 * 1.26 + 12 * 2.51
    assert profile["oom"]["wasted_gb_seconds"] == 25 * 1.26 + 50 * 2.51
    (timeline,) = profile["pipelines"]
    assert timeline["status"] == "completed"
    assert timeline["containers"] == 3 and timeline["failures"] == 2
    assert timeline["first_start_s"] == 0.0
    assert timeline["latency_s"] == result.stats.pipelines_batch.mean_latency_seconds
    assert profile["queueing"]["BATCH_PIPELINE"]["mean_wait_s"] == 0.0
    util = profile["utilisation"]
    assert util["seconds"][:3] == [0.0, 1.0, 2.0]
    assert util["cpu_allocated"][0] == 6.0 and util["ram_allocated_gb"][0] == 25.0
    assert len(util["seconds"]) == 20


def test_profile_counts_suspensions_and_what_they_held() -> None:
    case = FIXTURES / "eudoxia" / "priority_suspensions_10m"
    result = run_simulation(str(case / "params.toml"), str(case / "trace.csv"), profile=True)
    profile = result.profile
    assert profile is not None
    assert profile["suspensions"]["count"] == result.stats.suspensions == 23
    assert profile["suspensions"]["held_cpu_seconds"] > 0
    assert profile["oom"]["kills"] == result.stats.failure_error_counts["OOM"]
    statuses = {t["status"] for t in profile["pipelines"]}
    assert statuses == {"completed", "unfinished"}
    completed = sum(1 for t in profile["pipelines"] if t["status"] == "completed")
    assert completed == result.stats.pipelines_all.completion_count


def test_profile_does_not_change_the_statistics() -> None:
    case = FIXTURES / "eudoxia" / "priority_defaults_10m"
    plain = run_simulation(str(case / "params.toml"), str(case / "trace.csv"))
    profiled = run_simulation(str(case / "params.toml"), str(case / "trace.csv"), profile=True)
    assert json.dumps(plain.stats) == json.dumps(profiled.stats)
    assert plain.counters.full_ticks == profiled.counters.full_ticks


def test_idle_capacity_is_counted_only_while_ready_work_waits() -> None:
    case = FIXTURES / "eudoxia" / "naive_defaults_10m"
    profile = run_simulation(
        str(case / "params.toml"), str(case / "trace.csv"), profile=True
    ).profile
    assert profile is not None
    util = profile["utilisation"]
    for idle, ready in zip(
        util["cpu_idle_while_ready"], util["pipelines_with_ready_work"], strict=True
    ):
        assert idle == 0.0 or ready > 0
    # naive hands the whole pool to one pipeline at a time: never idle while work waits
    assert profile["idle_capacity"]["cpu_seconds_idle_while_work_ready"] == 0.0


def test_simulate_cli_writes_profile_json_and_plot(tmp_path: Path) -> None:
    import subprocess
    import sys

    case = FIXTURES / "eudoxia" / "priority_defaults_10m"
    out_json, out_png = tmp_path / "profile.json", tmp_path / "profile.png"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "policyforge",
            "simulate",
            str(case / "params.toml"),
            "-w",
            str(case / "trace.csv"),
            "--profile",
            str(out_json),
            "--plot",
            str(out_png),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    profile = json.loads(out_json.read_text())
    assert profile["oom"]["kills"] == 465
    data = out_png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_without_profile_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    case = FIXTURES / "eudoxia" / "naive_defaults_10m"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "policyforge",
            "simulate",
            str(case / "params.toml"),
            "--plot",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "--plot needs --profile" in run.stderr
