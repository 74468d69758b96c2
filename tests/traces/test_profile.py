"""Workload profiles: exact numbers on a hand-written trace; the CLI's text, JSON, plot, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policyforge.commands.traces import profile_command
from simulator.generator import generate_trace
from simulator.params import load_params
from simulator.trace_io import read_trace
from traces.profile import Distribution, dag_shape, profile_workload

# p1 query (1.75 s read + linear3 15 s), p2 a 2-op chain whose first op needs 55 GB (> the 50 GB
# pool), p3 branch-in, p4 branch-out with a sqrt op, p5 a diamond, p6 arrives after the end.
TINY_TRACE = """\
pipeline_id,arrival_seconds,priority,operator_id,parents,baseline_cpu_seconds,cpu_scaling,memory_gb,storage_read_gb
p1,0.0,QUERY,op1,,15,linear3,,35
p2,0.0,BATCH_PIPELINE,op1,,1,const,,55
p2,,,op2,op1,2,const,10,20
p3,12.5,INTERACTIVE,op1,,1,const,,20
p3,,,op2,,1,const,,20
p3,,,op3,op1;op2,1,const,,20
p4,25.0,BATCH_PIPELINE,op1,,4,sqrt,,0
p4,,,op2,op1,1,const,,20
p4,,,op3,op1,1,const,,20
p5,35.0,INTERACTIVE,op1,,1,const,,20
p5,,,op2,op1,1,const,,20
p5,,,op3,op1,1,const,,20
p5,,,op4,op2;op3,1,const,,20
p6,45.0,QUERY,op1,,15,linear3,,35
"""
TINY_PARAMS = """\
duration = 40
ticks_per_second = 10
num_pools = 2
cpus_per_pool = 4
ram_gb_per_pool = 50
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    trace = tmp_path / "tiny.csv"
    trace.write_text(TINY_TRACE, encoding="utf-8")
    params = tmp_path / "tiny.toml"
    params.write_text(TINY_PARAMS, encoding="utf-8")
    return trace, params


def approx_dist(
    d: Distribution, count: int, lo: float, median: float, p95: float, hi: float
) -> None:
    assert (d.count, d.min, d.median, d.max) == (count, lo, median, hi)
    assert d.p95 == pytest.approx(p95, rel=1e-12)


def test_tiny_trace_arrivals_mix_and_dag_shapes_are_exact(tiny: tuple[Path, Path]) -> None:
    trace, params = tiny
    profile = profile_workload(read_trace(trace), load_params(params))
    assert (profile.pipelines, profile.operators) == (6, 14)
    assert profile.interval_seconds == 10.0
    assert profile.arrivals_per_interval == [2, 1, 1, 1]  # p6 at 45 s lies past the 40 s run
    assert profile.arrivals_per_interval_by_priority == {
        "QUERY": [1, 0, 0, 0],
        "INTERACTIVE": [0, 1, 0, 1],
        "BATCH_PIPELINE": [1, 0, 1, 0],
    }
    assert (
        profile.arrival_batches,
        profile.first_arrival_seconds,
        profile.last_arrival_seconds,
    ) == (
        5,
        0.0,
        45.0,
    )
    assert profile.priority_mix == {"QUERY": 2, "INTERACTIVE": 2, "BATCH_PIPELINE": 2}
    assert profile.dag_shapes == {"linear": 3, "branch_in": 1, "branch_out": 1, "other": 1}
    approx_dist(profile.dag_size, 6, 1, 2.5, 3.75, 4)
    approx_dist(profile.dag_depth, 6, 1, 2, 2.75, 3)
    approx_dist(profile.dag_width, 6, 1, 1.5, 2, 2)


def test_tiny_trace_demand_per_priority_is_exact(tiny: tuple[Path, Path]) -> None:
    trace, params = tiny
    demand = profile_workload(read_trace(trace), load_params(params)).demand_by_priority
    query = demand["QUERY"]
    # 1.75 s read + 15 s at 1 CPU; fastest at 3 CPUs: 3 * (1.75 + 5) = 20.25 CPU-s.
    approx_dist(query.cpu_seconds_at_1_cpu, 2, 16.75, 16.75, 16.75, 16.75)
    approx_dist(query.cpu_seconds_at_best_cpus, 2, 20.25, 20.25, 20.25, 20.25)
    approx_dist(query.peak_memory_gb, 2, 35, 35, 35, 35)
    interactive = demand["INTERACTIVE"]  # 3 and 4 ops of 1 s read + 1 s const
    approx_dist(interactive.operators, 2, 3, 3.5, 3.95, 4)
    approx_dist(interactive.cpu_seconds_at_1_cpu, 2, 6, 7, 7.9, 8)
    approx_dist(interactive.cpu_seconds_at_best_cpus, 2, 6, 7, 7.9, 8)
    batch = demand["BATCH_PIPELINE"]
    # p2: 3.75 + 3; p4: sqrt op 4 s at 1 CPU, fastest on all 4 CPUs (4 * 2 s), plus 2 + 2.
    approx_dist(batch.cpu_seconds_at_1_cpu, 2, 6.75, 7.375, 7.9375, 8)
    approx_dist(batch.cpu_seconds_at_best_cpus, 2, 6.75, 9.375, 11.7375, 12)
    approx_dist(batch.peak_memory_gb, 2, 20, 37.5, 53.25, 55)
    assert demand["ALL"].pipelines == 6
    assert demand["ALL"].peak_memory_gb.max == 55


def test_tiny_trace_offered_load_counts_only_delivered_pipelines(tiny: tuple[Path, Path]) -> None:
    trace, params = tiny
    load = profile_workload(read_trace(trace), load_params(params)).load
    assert load is not None
    assert (load.pipelines_delivered, load.pipelines_after_duration) == (5, 1)
    assert (load.num_pools, load.cpus_total, load.ram_gb_total) == (2, 8.0, 100.0)
    # Least CPU-seconds per interval: p1 16.75 + p2 6.75 | p3 6 | p4 4 + 2 + 2 | p5 8.
    assert load.cpu_seconds_needed_per_interval == [23.5, 6.0, 8.0, 8.0]
    # Peak GB x fastest seconds: p1 35*6.75 + p2 55*3.75 + 10*3 | 3*20*2 | 0 + 2*20*2 | 4*20*2.
    assert load.gb_seconds_needed_per_interval == [472.5, 120.0, 80.0, 160.0]
    assert (load.cpu_seconds_needed, load.cpu_seconds_available) == (45.5, 320.0)
    assert (load.gb_seconds_needed, load.gb_seconds_available) == (832.5, 4000.0)
    assert load.cpu_load == 45.5 / 320 and load.memory_load == 832.5 / 4000
    assert load.operators_larger_than_a_pool == 1


def test_without_params_there_is_no_load_and_best_cpus_cap_at_the_default_pool(
    tiny: tuple[Path, Path],
) -> None:
    profile = profile_workload(read_trace(tiny[0]), None)
    assert profile.load is None
    assert profile.arrivals_per_interval == [2, 1, 1, 1, 1]  # up to the last arrival
    # p4's sqrt op is fastest on Eudoxia's default 64 CPUs: 64 * 4 / 8 = 32 CPU-s, plus 2 + 2.
    assert profile.demand_by_priority["BATCH_PIPELINE"].cpu_seconds_at_best_cpus.max == 36


def test_generated_branch_in_dags_are_classified_as_branch_in() -> None:
    params = load_params(
        {
            "duration": 60,
            "num_operators": 6,
            "dag_linear_prob": 0.0,
            "dag_branch_in_prob": 1.0,
            "random_seed": 3,
        }
    )
    pipelines = generate_trace(params)
    shapes = {dag_shape(p).shape for p in pipelines if len(p.operators) >= 3}
    assert shapes == {"branch_in"}
    wide = max((p for p in pipelines), key=lambda p: len(p.operators))
    assert (dag_shape(wide).depth, dag_shape(wide).width) == (2, len(wide.operators) - 1)


def test_profile_command_prints_a_summary_with_the_load(
    tiny: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    trace, params = tiny
    assert profile_command([str(trace), "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "6 pipelines, 14 operators" in out
    assert "QUERY 2 (33.3%)" in out
    assert "linear 3, branch-in 1, branch-out 1, other 1" in out
    assert "CPU 14% (45.5 of 320 CPU-s), memory 21% (832 of 4,000 GB-s)" in out
    assert "1 pipelines arrive after the end" in out
    assert "1 operators need more memory than a pool has" in out


def test_profile_command_json_equals_the_profile(
    tiny: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    trace, params = tiny
    assert profile_command([str(trace), "--params", str(params), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = profile_workload(read_trace(trace), load_params(params)).to_dict()
    assert printed == json.loads(json.dumps(expected))
    assert printed["load"]["gb_seconds_needed"] == 832.5


def test_plot_writes_a_png_of_more_than_5_kb(
    tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, params = tiny
    for args, name in (([], "bare.png"), (["--params", str(params)], "load.png")):
        out = tmp_path / name
        assert profile_command([str(trace), *args, "--plot", str(out)]) == 0
        data = out.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 5 * 1024
    assert f"plot written to {tmp_path / 'load.png'}" in capsys.readouterr().out


def test_importing_the_profile_does_not_load_matplotlib() -> None:
    code = "import sys, traces.profile; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d, t, p: [str(d / "missing.csv")], "trace file not found"),
        (lambda d, t, p: [str(t), "--params", str(d / "nope.toml")], "params file not found"),
        (lambda d, t, p: [str(t), "--params", str(p)], "Probabilities must sum to 1"),
        (lambda d, t, p: [str(t), "--plot", str(d / "no-such-dir" / "x.png")], "cannot write plot"),
        (lambda d, t, p: [str(t), "--interval", "0"], "--interval must be a positive"),
    ],
)
def test_profile_command_errors_are_one_line_and_exit_2(
    tiny: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_args: object,
    message: str,
) -> None:
    trace, _ = tiny
    bad_params = tmp_path / "bad.toml"
    bad_params.write_text("interactive_prob = 0.7\nquery_prob = 0.2\nbatch_prob = 0.1\n")
    argv = make_args(tmp_path, trace, bad_params)  # type: ignore[operator]
    assert profile_command(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


# --- one definition per figure: per-operator and per-pipeline figures agree ---------------------


@pytest.mark.parametrize("overrides", [
    {"random_seed": 11, "num_pipelines": 30, "duration": 120},
    {"random_seed": 5, "num_pipelines": 40, "duration": 200, "num_pools": 4, "cpus_per_pool": 16,
     "multi_operator_containers": True},
])
def test_per_operator_and_per_pipeline_figures_cross_check_on_generated_traces(
        overrides: dict) -> None:
    from traces.profile import operator_demand

    params = load_params(overrides)
    pipelines = generate_trace(params)
    assert pipelines
    profile = profile_workload(pipelines, params)
    max_cpus = int(params["cpus_per_pool"])
    per_pipeline = []
    for p in pipelines:
        ops = [operator_demand(op, max_cpus) for op in p.operators]
        for o in ops:
            # best-CPU run time never above the 1-CPU run time; CPU-s definitions agree
            assert o.fastest_seconds <= o.cpu_seconds_at_1_cpu + 1e-9
            assert o.cpu_seconds_at_best_cpus == pytest.approx(o.best_cpus * o.fastest_seconds)
            assert o.least_cpu_seconds <= min(o.cpu_seconds_at_1_cpu,
                                              o.cpu_seconds_at_best_cpus) + 1e-9
            assert 1 <= o.best_cpus <= max_cpus
            assert operator_demand(p.operators[0], 1).cpu_seconds_at_1_cpu == pytest.approx(
                ops[0].cpu_seconds_at_1_cpu)  # the 1-CPU figure does not depend on the pool
        per_pipeline.append((p.priority, sum(o.cpu_seconds_at_1_cpu for o in ops),
                             sum(o.fastest_seconds for o in ops),
                             sum(o.cpu_seconds_at_best_cpus for o in ops),
                             max(o.peak_memory_gb for o in ops)))
    for name, demand in profile.demand_by_priority.items():
        rows = [r for r in per_pipeline if name in ("ALL", r[0])]
        assert demand.pipelines == len(rows)
        for index, figure in ((1, demand.cpu_seconds_at_1_cpu),
                              (2, demand.seconds_at_best_cpus),
                              (3, demand.cpu_seconds_at_best_cpus), (4, demand.peak_memory_gb)):
            assert figure == Distribution.of([r[index] for r in rows]), (name, index)
        if rows:  # per pipeline: the best-CPU run time is never above the 1-CPU one
            assert demand.seconds_at_best_cpus.max <= demand.cpu_seconds_at_1_cpu.max + 1e-9
            assert all(r[2] <= r[1] + 1e-9 for r in rows)
    total = sum(r[1] for r in per_pipeline)
    ops_total = sum(operator_demand(op, max_cpus).cpu_seconds_at_1_cpu
                    for p in pipelines for op in p.operators)
    assert total == pytest.approx(ops_total)  # per-pipeline CPU-s = the sum of its operators'
    load = profile.load
    assert load is not None
    least = sum(operator_demand(op, max_cpus).least_cpu_seconds
                for p in pipelines for op in p.operators)
    assert load.cpu_seconds_needed <= least + 1e-6  # delivered pipelines only


def test_the_tools_operator_line_uses_the_profiles_definition(tiny: tuple[Path, Path]) -> None:
    from tools.read_trace import operator_lines
    from tools.text import num
    from traces.profile import operator_demand

    pipelines = read_trace(tiny[0])
    line = operator_lines(pipelines)[0]
    figures = Distribution.of([operator_demand(op, 1).cpu_seconds_at_1_cpu
                               for p in pipelines for op in p.operators])
    assert ("s (= CPU-s) at 1 CPU, IO included " + " / ".join(
        num(getattr(figures, k)) for k in ("min", "median", "p95", "max"))) in line
