"""`policyforge traces generate` behaves like `eudoxia gentrace`."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyforge.commands.traces import generate_command
from simulator.params import load_params
from simulator.trace_io import trace_to_text
from traces.generator import generate_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eudoxia"


def write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_generate_writes_the_generator_trace_and_reports_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, "duration = 20\nticks_per_second = 10\nrandom_seed = 7\n")
    out = tmp_path / "trace.csv"
    assert generate_command([str(params), str(out)]) == 0
    expected = trace_to_text(generate_trace(load_params(params)))
    assert out.read_bytes() == expected.encode("utf-8")
    assert capsys.readouterr().out == f"Generated workload trace saved to {out}\n"


def test_no_dag_shape_draw_flag_reproduces_a_committed_fixture(tmp_path: Path) -> None:
    case = FIXTURES / "priority_defaults_10m"
    out = tmp_path / "trace.csv"
    assert generate_command([str(case / "params.toml"), str(out), "--no-dag-shape-draw"]) == 0
    expected = (case / "trace.csv").read_text(encoding="utf-8")
    assert out.read_bytes().replace(b"\r\n", b"\n") == expected.encode("utf-8")


def test_existing_output_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, "duration = 5\n")
    out = tmp_path / "trace.csv"
    out.write_text("keep me", encoding="utf-8")
    assert generate_command([str(params), str(out)]) == 1
    assert out.read_text(encoding="utf-8") == "keep me"
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--force" in err
    assert generate_command([str(params), str(out), "--force"]) == 0
    assert out.read_text(encoding="utf-8").startswith("pipeline_id,")


def test_bad_params_print_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, "interactive_prob = 0.7\nquery_prob = 0.2\nbatch_prob = 0.1\n")
    out = tmp_path / "trace.csv"
    assert generate_command([str(params), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Probabilities must sum to 1" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_generator_only_errors_name_the_params_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, "dag_linear_prob = 0.0\n")
    assert generate_command([str(params), str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {params}: DAG-shape probabilities")


def test_missing_params_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_command([str(tmp_path / "nope.toml"), str(tmp_path / "t.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path, "duration = 5\n")
    out = tmp_path / "no-such-dir" / "trace.csv"
    assert generate_command([str(params), str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write trace to '{out}'")


def test_usage_error_returns_argparse_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_command([]) == 2
    assert "policyforge traces generate" in capsys.readouterr().err
