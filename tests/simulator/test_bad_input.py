"""Bad input and policy mistakes end in one clean error saying where it came from, no traceback.

Input files (params, trace, decision log, policy file) exit 2 with ``error: FILE:LINE[:COL]: …``
on stderr; mistakes a policy makes during a run exit 1, and with ``--json`` print one
``{"error": {...}}`` object carrying the tick and, where there is one, the offending decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.cli_process import (
    SMALL_PARAMS,
    TRACE_HEADER,
    CliRun,
    run_cli,
    small_inputs,
    write,
)


def assert_input_error(
    run: CliRun, file: Path, line: int | None, column: int | None, *fragments: str
) -> None:
    """Exit 2, nothing on stdout, exactly one ``error: FILE:LINE:COL: message`` line on stderr."""
    assert run.code == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    where = re.escape(str(file))
    if line is not None:
        where += f":{line}"
        where += f":{column}" if column is not None else r"(:\d+)?"
    assert re.match(rf"error: {where}: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


# --- params --------------------------------------------------------------------------------------

PARAMS_CASES = [
    # (id, params text, line, column, message fragments)
    ("malformed-toml", "num_pools = 1\nduration = = 3\n", 2, 12, ["invalid TOML"]),
    ("table", "duration = 3\n[pools]\nn = 2\n", 2, None, ["[pools] is a table"]),
    ("wrong-type", 'num_pools = 1\nduration = "x"\n', 2, None,
     ["duration must be a number, got 'x'"]),
]


@pytest.mark.parametrize(("text", "line", "column", "fragments"),
                         [c[1:] for c in PARAMS_CASES], ids=[c[0] for c in PARAMS_CASES])
def test_bad_params_name_file_line_and_column(
    tmp_path: Path, text: str, line: int, column: int | None, fragments: list[str]
) -> None:
    params, trace = small_inputs(tmp_path, params=text)
    run = run_cli("simulate", params, "-w", trace)
    assert_input_error(run, params, line, column, *fragments)


def test_probabilities_not_summing_to_1_are_rejected_like_eudoxia(tmp_path: Path) -> None:
    # 0.7 + 0.2 + 0.1 == 0.9999999999999999 in float64, which Eudoxia's exact check rejects.
    text = "interactive_prob = 0.7\nquery_prob = 0.2\nbatch_prob = 0.1\n"
    params, trace = small_inputs(tmp_path, params=text)
    run = run_cli("simulate", params, "-w", trace)
    assert_input_error(run, params, 1, None, "Probabilities must sum to 1")


def test_missing_params_file_is_named(tmp_path: Path) -> None:
    _, trace = small_inputs(tmp_path)
    missing = tmp_path / "nope.toml"
    assert_input_error(run_cli("simulate", missing, "-w", trace), missing, None, None,
                       "params file not found")


# --- trace CSV -----------------------------------------------------------------------------------

P1 = "p1,0.0,BATCH_PIPELINE,op1,,1,const,,0\np1,,,op2,op1,1,const,,0\n"  # lines 2-3
TRACE_CASES = [
    # (id, rows after the header, line, column, message fragments)
    ("unknown-priority", P1 + "p2,0.5,query,op1,,1,const,,0\n", 4, 3,
     ["unknown priority 'query'", "QUERY, INTERACTIVE, BATCH_PIPELINE"]),
    ("blank-priority-on-first-row", "p1,0.0,,op1,,1,const,,0\n", 2, 3,
     ["first row of pipeline 'p1'", "missing"]),
    ("arrival-on-later-row", "p1,0.0,QUERY,op1,,1,const,,0\np1,1.0,,op2,op1,1,const,,0\n", 3, 2,
     ["only the first row of pipeline 'p1' should have arrival_seconds set"]),
    ("priority-on-later-row", "p1,0.0,QUERY,op1,,1,const,,0\np1,,QUERY,op2,op1,1,const,,0\n", 3,
     3, ["only the first row of pipeline 'p1' should have priority set"]),
    ("unknown-parent", P1 + "p2,0.5,QUERY,op1,,1,const,,0\np2,,,op2,opX,1,const,,0\n", 5, 5,
     ["unknown parent 'opX'"]),
    ("self-parent", "p1,0.0,QUERY,op1,op1,1,const,,0\n", 2, 5, ["cannot be its own parent"]),
    ("forward-parent-cycle", "p1,0.0,QUERY,op1,op2,1,const,,0\np1,,,op2,op1,1,const,,0\n", 2, 5,
     ["unknown parent 'op2'", "no forward references or cycles"]),
    ("parent-from-other-pipeline", P1 + "p2,0.5,QUERY,op3,op2,1,const,,0\n", 4, 5,
     ["unknown parent 'op2'"]),
    ("negative-storage", P1 + "p2,0.5,QUERY,op1,,1,const,,-3\n", 4, 9,
     ["storage_read_gb must not be negative"]),
    ("non-numeric-baseline", "p1,0.0,QUERY,op1,,abc,const,,0\n", 2, 6,
     ["baseline_cpu_seconds must be a number, got 'abc'"]),
    ("nan-baseline", "p1,0.0,QUERY,op1,,NaN,const,,0\n", 2, 6,
     ["baseline_cpu_seconds must be finite"]),
    ("inf-memory", "p1,0.0,QUERY,op1,,1,const,inf,0\n", 2, 8, ["memory_gb must be finite"]),
    ("invalid-cpu-scaling", "p1,0.0,QUERY,op1,,1,cubic,,0\n", 2, 7,
     ["invalid cpu_scaling 'cubic'", "const|log|sqrt"]),
    ("non-contiguous-pipeline", P1.replace("p1,,,op2", "p2,0.0,QUERY,op1,,1,const,,0\np1,,,op2"),
     4, 1, ["rows of pipeline 'p1' are not contiguous", "started at line 2"]),
    ("duplicate-operator", "p1,0.0,QUERY,op1,,1,const,,0\np1,,,op1,,1,const,,0\n", 3, 4,
     ["operator 'op1' appears twice"]),
    ("missing-arrival", "p1,,QUERY,op1,,1,const,,0\n", 2, 2, ["must have arrival_seconds set"]),
]


@pytest.mark.parametrize(("rows", "line", "column", "fragments"),
                         [c[1:] for c in TRACE_CASES], ids=[c[0] for c in TRACE_CASES])
def test_bad_trace_rows_name_file_line_and_column(
    tmp_path: Path, rows: str, line: int, column: int, fragments: list[str]
) -> None:
    params, trace = small_inputs(tmp_path, trace=f"{TRACE_HEADER}\n{rows}")
    assert_input_error(run_cli("simulate", params, "-w", trace), trace, line, column, *fragments)


def test_trace_header_missing_columns_names_them(tmp_path: Path) -> None:
    header_only = "pipeline_id,arrival_seconds,priority\np1,0,QUERY\n"
    params, trace = small_inputs(tmp_path, trace=header_only)
    assert_input_error(run_cli("simulate", params, "-w", trace), trace, 1, None,
                       "header lacks column(s) operator_id, parents, baseline_cpu_seconds")


def test_missing_trace_file_is_named(tmp_path: Path) -> None:
    params, _ = small_inputs(tmp_path)
    missing = tmp_path / "nope.csv"
    assert_input_error(run_cli("simulate", params, "-w", missing), missing, None, None,
                       "trace file not found")


def test_non_utf8_trace_names_file_and_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    trace.write_bytes(f"{TRACE_HEADER}\n{P1}".encode() + b"p2,0.5,QUERY,op\xff1,,1,const,,0\n")
    assert_input_error(run_cli("simulate", params, "-w", trace), trace, 4, None, "not UTF-8")


# --- decision log --------------------------------------------------------------------------------

LOG_HEADER = '{"format": "policyforge-decisions/1", "policy": "naive"}\n'
EMPTY_CALL = '{"tick": 0, "suspensions": [], "assignments": []}\n'


def test_decision_log_line_that_is_not_json_is_named_with_line_and_column(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    log = write(tmp_path / "d.jsonl", LOG_HEADER + EMPTY_CALL + "not json\n")
    assert_input_error(run_cli("simulate", params, "-w", trace, "--replay", log), log, 3, 1,
                       "not JSON")


def test_decision_log_entry_missing_a_field_names_line_and_field(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    log = write(tmp_path / "d.jsonl", LOG_HEADER + '{"tick": 0, "assignments": []}\n')
    assert_input_error(run_cli("simulate", params, "-w", trace, "--replay", log), log, 2, None,
                       "'suspensions' must be list")


def test_decision_log_of_another_format_is_rejected(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    log = write(tmp_path / "d.jsonl", '{"format": "other/9"}\n')
    assert_input_error(run_cli("simulate", params, "-w", trace, "--replay", log), log, 1, None,
                       "unknown decision log format 'other/9'")


def test_decision_log_assignment_missing_a_field_is_bad_input_naming_line_and_field(
    tmp_path: Path,
) -> None:
    # The CLI's contract: a bad decision log is bad input (exit 2, file and line), not a run
    # failure blamed on "the policy".
    params, trace = small_inputs(tmp_path)
    entry = ('{"tick": 0, "suspensions": [], "assignments": [{"ops": [[0, 0]], "cpu": 1, '
             '"ram": 1, "pool_id": 0, "pipeline_id": "p1"}]}\n')
    log = write(tmp_path / "d.jsonl", LOG_HEADER + entry)
    assert_input_error(run_cli("simulate", params, "-w", trace, "--replay", log), log, 2, None,
                       "priority")


# --- policy files that cannot be loaded ---------------------------------------------------------


def test_policy_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    policy = write(tmp_path / "broken.py", "x = 1\n\ndef sched(s, results, pipelines:\n    pass\n")
    assert_input_error(run_cli("simulate", params, "-w", trace, "--policy", policy), policy, 3,
                       10, "syntax error", "never closed")


def test_policy_raising_while_loading_names_file_and_line(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    policy = write(tmp_path / "imports.py", "x = 1\nimport numpyy_does_not_exist\n")
    assert_input_error(run_cli("simulate", params, "-w", trace, "--policy", policy), policy, 2,
                       None, "loading the policy raised ModuleNotFoundError")


def test_missing_policy_file_is_named(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    missing = tmp_path / "nope.py"
    assert_input_error(run_cli("simulate", params, "-w", trace, "--policy", missing), missing,
                       None, None, "policy file not found")


# --- policy mistakes at run time ----------------------------------------------------------------


def policy_source(body: str, init: str = "pass") -> str:
    """A one-key policy file (paper style, no imports) with the given scheduling body."""
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return (
        '@register_scheduler_init(key="mistaken")\n'
        "def init(s):\n"
        f"    {init}\n"
        "\n"
        "\n"
        '@register_scheduler(key="mistaken")\n'
        "def sched(s, results, pipelines):\n"
        f"{indented}\n"
    )


def assign_each(cpu: str, ram: str, parents_complete: bool = True) -> str:
    return (
        "return [], [Assignment(p.runtime_status().get_ops(ASSIGNABLE_STATES, "
        f"require_parents_complete={parents_complete}), {cpu}, {ram}, p.priority, 0, "
        "p.pipeline_id) for p in pipelines]"
    )


START_THEN_SUSPEND = """
if pipelines and not s.executor.pools[0].active_containers:
    p = pipelines[0]
    ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=False)
    return [], [Assignment(ops, 1, 1, p.priority, 0, p.pipeline_id)]
return [Suspend(c.container_id, c.pool_id) for c in s.executor.pools[0].active_containers], []
"""
ASSIGN_TWICE = """
out = []
for p in pipelines:
    ops = p.runtime_status().get_ops(ASSIGNABLE_STATES)
    out.append(Assignment(ops, 1, 1, p.priority, 0, p.pipeline_id))
    out.append(Assignment(ops, 2, 2, p.priority, 0, p.pipeline_id))  # the same ops again
return [], out
"""
UNKNOWN_SUSPEND = 'return ([Suspend("no-such-container", 0)], []) if pipelines else ([], [])'
RAISES = """
if pipelines:
    raise ValueError("boom from the policy")
return [], []
"""

@dataclass
class RunCase:
    """A policy that makes one mistake, and the error the run must end with."""

    id: str
    source: str
    kind: str
    fragments: list[str]
    tick: int | None  # None: any int (the init runs before the first tick)
    decision: str | None = None  # a fragment of the offending decision, if the error has one
    policy_line: str | None = None  # unique text of the policy line the error must point at
    extra_params: str = ""


RUN_CASES = [
    RunCase("overallocated-cpu", policy_source(assign_each("5", "1")), "policy_decision_error",
            ["Overallocated CPU in assignment"], 0, decision="5 CPUs requested, 4 available"),
    RunCase("overallocated-ram", policy_source(assign_each("1", "17")), "policy_decision_error",
            ["Overallocated RAM in assignment"], 0, decision="17 GB requested, 16 available"),
    RunCase("two-ops-when-single-op-containers", policy_source(assign_each("1", "1", False)),
            "policy_decision_error",
            ["Assignment must have exactly 1 operator when multi_operator_containers is False"],
            0, decision="for pipeline p1", extra_params="multi_operator_containers = false\n"),
    RunCase("suspend-mid-operator", policy_source(START_THEN_SUSPEND), "policy_decision_error",
            ["Container cannot be suspended right now"], 1, decision="Suspend(container_id="),
    RunCase("suspend-unknown-container",
            policy_source(UNKNOWN_SUSPEND),
            "policy_decision_error", ["no-such-container"], 0, decision="no-such-container"),
    RunCase("assign-an-assigned-operator", policy_source(ASSIGN_TWICE), "policy_decision_error",
            ["Cannot transition operator", "from OperatorState.ASSIGNED"], 0,
            policy_line="Assignment(ops, 2, 2,"),
    RunCase("zero-cpu", policy_source(assign_each("0", "1")), "policy_decision_error",
            ["must assign positive CPU allocation, got 0"], 0, policy_line="return [], ["),
    RunCase("exception-in-policy", policy_source(RAISES), "policy_exception",
            ["ValueError: boom from the policy"], 0,
            policy_line='raise ValueError("boom from the policy")'),
    RunCase("returns-garbage", policy_source("return 42"), "policy_decision_error",
            ["must return a pair (suspensions, assignments)", "int: 42"], 0),
    RunCase("returns-garbage-in-list", policy_source("return [], [42]"), "policy_decision_error",
            ["assignments must be Assignment objects, got int"], 0, decision="42"),
    RunCase("init-raises", policy_source("return [], []", init='raise RuntimeError("no init")'),
            "policy_exception", ["policy init raised RuntimeError: no init"], None,
            policy_line='raise RuntimeError("no init")'),
    RunCase("never-assigns", policy_source("return [], []"), "run_error",
            ["no container finished"], 99),  # the last tick of 10 s at 10 ticks/s
]


def line_of(source: str, text: str) -> int:
    """1-based number of the only line of ``source`` containing ``text``."""
    found = [i for i, line in enumerate(source.splitlines(), start=1) if text in line]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def run_error(tmp_path: Path, source: str, extra_params: str = "") -> tuple[CliRun, Path]:
    params, trace = small_inputs(tmp_path, params=SMALL_PARAMS + extra_params)
    policy = write(tmp_path / "mistaken.py", source)
    return run_cli("simulate", params, "-w", trace, "--policy", policy, "--json"), policy


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.id for c in RUN_CASES])
def test_policy_mistake_ends_the_run_with_a_json_error_at_a_tick(
    tmp_path: Path, case: RunCase
) -> None:
    run, policy = run_error(tmp_path, case.source, case.extra_params)
    assert run.code == 1, (run.stdout, run.stderr)
    assert run.stderr == ""
    out = run.json()
    assert list(out) == ["error"]
    error: dict[str, Any] = out["error"]
    assert error["kind"] == case.kind
    assert isinstance(error["tick"], int)
    if case.tick is not None:
        assert error["tick"] == case.tick
    for fragment in case.fragments:
        assert fragment in error["message"]
    if case.decision is None:
        assert "decision" not in error
    else:
        assert case.decision in error["decision"]
    if case.policy_line is not None:
        assert error["file"] == str(policy)
        assert error["line"] == line_of(case.source, case.policy_line)


def test_policy_exception_in_text_mode_shows_file_line_and_policy_frames_only(
    tmp_path: Path,
) -> None:
    params, trace = small_inputs(tmp_path)
    source = policy_source(RAISES)
    policy = write(tmp_path / "raises.py", source)
    run = run_cli("simulate", params, "-w", trace, "--policy", policy)
    line = line_of(source, 'raise ValueError("boom from the policy")')
    assert run.code == 1 and run.stdout == ""
    assert "Traceback" not in run.stderr
    first, *rest = run.stderr.splitlines()
    assert first.startswith("error: the policy raised ValueError: boom from the policy")
    assert f"file={policy}" in first and f"line={line}" in first
    assert f'File "{policy}", line {line}, in sched' in run.stderr
    assert "simulator/" not in "\n".join(rest)


@pytest.mark.parametrize("key", ["ram_gb_per_pool", "cpus_per_pool"])
def test_empty_pools_are_a_params_error_not_a_crash(tmp_path: Path, key: str) -> None:
    params, trace = small_inputs(tmp_path, params=f"{key} = 0\n")
    run = run_cli("simulate", params, "-w", trace)
    assert_input_error(run, params, 1, None, f"{key} must be positive")


def test_an_unknown_params_key_is_a_warning_and_with_strict_an_error(tmp_path: Path) -> None:
    params, trace = small_inputs(tmp_path)
    typo = write(tmp_path / "typo.toml", params.read_text() + "tick_per_second = 100\n")
    warned = run_cli("simulate", typo, "-w", trace)
    assert warned.code == 0, warned.stderr
    assert (f"warning: {typo}:7: unknown params key 'tick_per_second'; did you mean "
            "'ticks_per_second'?") in warned.stderr
    assert "ignored" in warned.stderr
    refused = run_cli("simulate", typo, "-w", trace, "--strict")
    assert refused.code == 2 and refused.stdout == ""
    assert refused.stderr.startswith(f"error: {typo}:7: unknown params key 'tick_per_second'")
    clean = run_cli("simulate", params, "-w", trace, "--strict")
    assert clean.code == 0 and clean.stderr == ""


def test_eudoxia_names_are_shared_by_threads_and_removed_by_the_last():
    """A population's replays and loads run in threads: each must resolve ``eudoxia`` while it
    runs (one thread's exit must not pull the names from under another), and none may be left."""
    import sys
    import threading

    from simulator.policy_loader import eudoxia_names

    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(300):
                with eudoxia_names():
                    import eudoxia.scheduler.decorators  # noqa: F401
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert [n for n in sys.modules if n == "eudoxia" or n.startswith("eudoxia.")] == []
