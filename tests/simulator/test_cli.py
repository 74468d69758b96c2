"""End to end: the real ``policyforge`` CLI in a child process, on the Eudoxia fixtures.

Exit codes pinned here: 0 success, 1 the run failed, 2 bad input or usage.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.cli_process import (
    FIXTURES,
    CliRun,
    run_cli,
    small_inputs,
    write,
)
from tests.simulator.test_spec_cases import _mismatches as stats_mismatches

NAIVE = FIXTURES / "naive_defaults_10m"
SUSPENSIONS = FIXTURES / "priority_suspensions_10m"
BUILTINS = ("naive", "overbook", "priority", "priority-pool")

# The built-in `naive` (spec §9.1) rewritten as a user policy, twice: once importing Eudoxia's
# module paths, once in the paper's style with no imports at all (the names are provided).
FIFO_BODY = '''
@register_scheduler_init(key="fifo_file")
def fifo_init(s):
    s.queue = []


@register_scheduler(key="fifo_file")
def fifo(s, results, pipelines):
    if not pipelines and not results:
        return [], []
    s.queue.extend(pipelines)
    keep, assignments = [], []
    for pool in s.executor.pools:
        cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
        if cpu <= 0 or ram <= 0:
            continue
        while s.queue:
            p = s.queue.pop(0)
            status = p.runtime_status()
            if status.is_pipeline_successful() or status.state_counts[OperatorState.FAILED] > 0:
                continue
            keep.append(p)
            ops = status.get_ops(ASSIGNABLE_STATES, require_parents_complete=False)
            if ops:
                priority = Priority[p.priority.name]
                assignments.append(Assignment(ops, cpu, ram, priority, pool.pool_id, p.pipeline_id))
                break
    s.queue.extend(keep)
    return [], assignments
'''
FIFO_WITH_IMPORTS = (
    "from eudoxia.executor.assignment import Assignment\n"
    "from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init\n"
    "from eudoxia.utils import Priority\n"
    "from eudoxia.workload.runtime_status import ASSIGNABLE_STATES, OperatorState\n" + FIFO_BODY
)
FIFO_PAPER_STYLE = FIFO_BODY

NEVER_ASSIGNS = '''
@register_scheduler_init(key="idle")
def init(s):
    pass


@register_scheduler(key="idle")
def idle(s, results, pipelines):
    return [], []
'''

TWO_KEYS = NEVER_ASSIGNS + NEVER_ASSIGNS.replace('"idle"', '"idle_too"')


def expected(case: Path) -> dict[str, Any]:
    """The fixture's expected.json (Eudoxia's ``to_dict()`` plus ``adjusted_latency``)."""
    data: dict[str, Any] = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return data


def simulate_json(case: Path, *extra: str | Path, params: Path | None = None) -> CliRun:
    """``simulate CASE/params.toml -w CASE/trace.csv --json --eudoxia-json EXTRA…``: the
    statistics exactly as Eudoxia writes them (NaN as NaN), to compare with its fixtures."""
    return run_cli("simulate", params or case / "params.toml", "-w", case / "trace.csv", "--json",
                   "--eudoxia-json", *extra)


def assert_matches_expected(run: CliRun, case: Path) -> dict[str, Any]:
    """Exit 0, one JSON object, every Eudoxia key equal to the fixture (floats to 1e-9)."""
    assert run.code == 0, run.stderr
    out = run.json()
    assert isinstance(out, dict)
    problems = stats_mismatches(expected(case), out)
    assert not problems, "\n".join(problems)
    return out


def naive_params_with_priority_default(tmp_path: Path) -> Path:
    """The naive fixture's params, but with scheduler_algo = "priority" (so --policy must win)."""
    text = (NAIVE / "params.toml").read_text(encoding="utf-8")
    assert 'scheduler_algo = "naive"' in text
    return write(tmp_path / "params.toml", text.replace('"naive"', '"priority"'))


# --- simulate ------------------------------------------------------------------------------------


def test_simulate_prints_eudoxias_report_for_the_naive_fixture() -> None:
    run = run_cli("simulate", NAIVE / "params.toml", "-w", NAIVE / "trace.csv")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "Simulation completed:"
    for line in (
        "  Pipelines created: 252",
        "  Containers completed: 41",
        "  Container throughput: 0.07 containers/sec",
        "  Container P99 latency: 22.50s",
        "  Assignments: 42",
        "  Suspensions: 0",
        "  Failures: 0",
        "  Container failure counts: {}",
        "Adjusted latency: 1833.82s",
    ):
        assert line in lines
    assert lines.index("Pipeline Stats") < lines.index("Adjusted latency: 1833.82s")
    assert lines[lines.index("Pipeline Stats") + 2].split() == [
        "All", "252", "41", "0", "269.30", "506.72"
    ]
    assert run.stderr == ""


def test_simulate_json_equals_expected_json_for_the_naive_fixture() -> None:
    out = assert_matches_expected(simulate_json(NAIVE), NAIVE)
    assert out["adjusted_latency"] == pytest.approx(1833.8220346598202, rel=1e-9)


def test_simulate_json_keeps_nan_and_replaying_its_decision_log_gives_identical_json(
    tmp_path: Path,
) -> None:
    log = tmp_path / "decisions.jsonl"
    first = simulate_json(SUSPENSIONS, "--decisions", log)
    out = assert_matches_expected(first, SUSPENSIONS)
    assert "adjusted_latency" in out
    assert '"mean_latency_seconds": NaN' in first.stdout
    assert out["suspensions"] == 23
    replayed = simulate_json(SUSPENSIONS, "--replay", log)
    assert replayed.code == 0, replayed.stderr
    assert replayed.stdout == first.stdout


def test_simulate_json_is_strict_json_by_default_with_a_note_for_each_missing_figure() -> None:
    run = run_cli("simulate", SUSPENSIONS / "params.toml", "-w", SUSPENSIONS / "trace.csv",
                  "--json")
    assert run.code == 0, run.stderr
    out = json.loads(run.stdout, parse_constant=_refuse)
    nan_classes = [k for k, v in expected(SUSPENSIONS).items()
                   if isinstance(v, dict) and v.get("mean_latency_seconds") != v.get(
                       "mean_latency_seconds")]
    assert nan_classes, "the fixture has a class with no completions"
    for key in nan_classes:
        assert out[key]["mean_latency_seconds"] is None
        assert out[key]["mean_latency_seconds_note"] == "no pipeline of this class completed"


def _refuse(name: str) -> float:
    raise AssertionError(f"{name} is not JSON")


def test_decisions_then_replay_reproduces_the_naive_fixture_exactly(tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    first = simulate_json(NAIVE, "--decisions", log)
    assert_matches_expected(first, NAIVE)
    header, *entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert header == {"format": "policyforge-decisions/1", "policy": "naive"}
    assert len(entries) > 0 and sum(len(e["assignments"]) for e in entries) == 42
    replayed = simulate_json(NAIVE, "--replay", log)
    assert replayed.code == 0, replayed.stderr
    assert replayed.stdout == first.stdout


def test_replay_together_with_policy_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    log = tmp_path / "d.jsonl"
    assert run_cli("simulate", params, "-w", trace, "--decisions", log).code == 0
    run = run_cli("simulate", params, "-w", trace, "--replay", log, "--policy", "naive")
    assert run.code == 2
    assert "--replay and --policy exclude each other" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_policy_builtin_name_overrides_the_params_scheduler_algo(tmp_path: Path) -> None:
    params = naive_params_with_priority_default(tmp_path)
    assert_matches_expected(simulate_json(NAIVE, "--policy", "naive", params=params), NAIVE)


@pytest.mark.parametrize(
    "source", [FIFO_WITH_IMPORTS, FIFO_PAPER_STYLE], ids=["eudoxia-imports", "no-imports"]
)
def test_policy_file_reimplementing_naive_reproduces_the_naive_fixture(
    tmp_path: Path, source: str
) -> None:
    policy = write(tmp_path / "fifo.py", source)
    params = naive_params_with_priority_default(tmp_path)
    assert_matches_expected(simulate_json(NAIVE, "--policy", policy, params=params), NAIVE)


def test_exit_code_is_0_on_success_1_on_run_failure_2_on_bad_input(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    idle = write(tmp_path / "idle.py", NEVER_ASSIGNS)
    assert run_cli("simulate", params, "-w", trace).code == 0
    assert run_cli("simulate", params, "-w", trace, "--policy", idle).code == 1
    assert run_cli("simulate", params, "-w", tmp_path / "missing.csv").code == 2
    assert run_cli("simulate", params, "-w", trace, "--policy", "no-such-policy").code == 2


def test_usage_errors_exit_2_with_argparse_usage_on_stderr() -> None:
    for argv in ((), ("simulate",), ("simulate", "p.toml", "--no-such-flag")):
        run = run_cli(*argv)
        assert run.code == 2, argv
        assert "usage: policyforge" in run.stderr
        assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("source", "found"), [(TWO_KEYS, "found 'idle', 'idle_too'"), ("x = 1\n", "found none")],
    ids=["two-keys", "no-key"],
)
def test_policy_file_must_register_exactly_one_key(tmp_path: Path, source: str, found: str) -> None:
    params, trace = small_inputs(tmp_path)
    policy = write(tmp_path / "keys.py", source)
    for run in (
        run_cli("simulate", params, "-w", trace, "--policy", policy),
        run_cli("policies", "list", policy),
    ):
        assert run.code == 2
        assert run.stderr.startswith(f"error: {policy}: a policy file must register exactly one")
        assert found in run.stderr
        assert "Traceback" not in run.stderr and run.stdout == ""


# --- params init ---------------------------------------------------------------------------------


def test_params_init_writes_the_defaults_and_they_load_back_equal(tmp_path: Path) -> None:
    from simulator.params import DEFAULTS, load_params

    out = tmp_path / "new.toml"
    run = run_cli("params", "init", out)
    assert run.code == 0, run.stderr
    assert run.stdout == f"Default parameters written to {out}\n"
    raw = tomllib.loads(out.read_text(encoding="utf-8"))
    assert list(raw) == list(DEFAULTS)
    assert {k: (v, type(v)) for k, v in raw.items()} == {
        k: (v, type(v)) for k, v in DEFAULTS.items()
    }
    assert load_params(out) == DEFAULTS


def test_params_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = write(tmp_path / "mine.toml", "duration = 5\n")
    run = run_cli("params", "init", out)
    assert run.code == 1  # like `traces generate` and `eudoxia init`: refused, not bad input
    assert "--force" in run.stderr and "Traceback" not in run.stderr
    assert out.read_text(encoding="utf-8") == "duration = 5\n"
    assert run_cli("params", "init", out, "--force").code == 0
    assert out.read_text(encoding="utf-8").startswith("duration = 600\n")


# --- policies list -------------------------------------------------------------------------------


def test_policies_list_prints_the_builtins_sorted() -> None:
    run = run_cli("policies", "list")
    assert run.code == 0, run.stderr
    header, *rows = run.stdout.splitlines()
    assert header == "Registered schedulers:"
    keys = [row.strip() for row in rows]
    assert set(BUILTINS) <= set(keys)
    assert keys == sorted(keys)


def test_policies_list_file_prints_the_key_the_file_registers(tmp_path: Path) -> None:
    policy = write(tmp_path / "fifo.py", FIFO_PAPER_STYLE)
    run = run_cli("policies", "list", policy)
    assert run.code == 0, run.stderr
    assert run.stdout == f"Registered schedulers in {policy}:\n  fifo_file\n"


# --- traces generate -----------------------------------------------------------------------------


def test_generated_trace_simulates_and_every_pipeline_in_it_arrives(tmp_path: Path) -> None:
    naive = (NAIVE / "params.toml").read_text(encoding="utf-8")
    params = write(tmp_path / "gen.toml", naive.replace("duration = 600", "duration = 30"))
    trace = tmp_path / "gen.csv"
    gen = run_cli("traces", "generate", params, trace)
    assert gen.code == 0, gen.stderr
    assert gen.stdout == f"Generated workload trace saved to {trace}\n"
    with trace.open(newline="", encoding="utf-8") as fh:
        pipeline_ids = {row["pipeline_id"] for row in csv.DictReader(fh)}
    assert pipeline_ids
    run = run_cli("simulate", params, "-w", trace, "--json")
    assert run.code == 0, run.stderr
    out = run.json()
    assert out["pipelines_created"] == len(pipeline_ids)
    assert out["pipelines_all"]["arrival_count"] == len(pipeline_ids)
    assert out["containers_completed"] >= 1


def test_simulate_json_carries_both_adjusted_latencies(tmp_path: Path) -> None:
    """``adjusted_latency`` keeps Eudoxia's default arguments (the fixtures pin it);
    ``adjusted_latency_penalised`` is the figure the text output prints, which with deadlines
    counts every unfinished pipeline at 2 x max_job_seconds."""
    plain = simulate_json(NAIVE).json()
    assert plain["adjusted_latency_penalised"] == plain["adjusted_latency"]  # no deadlines
    params = tomllib.loads((NAIVE / "params.toml").read_text(encoding="utf-8"))
    params["max_job_seconds"] = 30
    deadline = tmp_path / "params.toml"
    deadline.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in params.items()))
    out = simulate_json(NAIVE, params=deadline).json()
    text = run_cli("simulate", deadline, "-w", NAIVE / "trace.csv").stdout
    printed = next(line for line in text.splitlines() if line.startswith("Adjusted latency:"))
    assert printed == f"Adjusted latency: {out['adjusted_latency_penalised']:.2f}s"
    assert out["adjusted_latency_penalised"] != out["adjusted_latency"]
