"""`read_trace` on hostile input: it returns pipelines or raises `TraceError`, nothing else."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import trace_io
from simulator.errors import TraceError
from simulator.trace_io import COLUMNS, TracePipeline, read_trace

VALID_ROWS = [
    list(COLUMNS),
    ["p1", "0.0", "BATCH_PIPELINE", "op1", "", "1", "const", "", "55"],
    ["p1", "", "", "op2", "op1", "1", "log", "", "55"],
    ["p1", "", "", "op3", "op1;op2", "2.5", "sqrt", "4", "0"],
    ["p2", "11.19", "QUERY", "op1", "", "15", "linear3", "", "35"],
    ["p3", "11.19", "INTERACTIVE", "op1", "", "3", "exp", "0", "1"],
]
# Cells that sit near a rule of the format: blanks, case, signs, non-finite numbers, quoting.
TRICKY_CELLS = [
    "", " ", "0", "-0", "-1", "1e400", "nan", "NaN", "inf", "-inf", "1_0", "0x10", "1,5",
    "QUERY", "query", " QUERY ", "BATCH_PIPELINE", "op1", "op2", "op9", "op1;op1", ";", "p1",
    "p2", "const", "squared", "cubic", '"', '""', "\n", "\r\n", "\x00", "\ufeff", "é",
]

settings.register_profile(
    "trace_fuzz",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def read_or_trace_error(path: Path) -> list[TracePipeline] | None:
    """Pipelines, or None when the reader refused the file with a TraceError."""
    try:
        pipelines = read_trace(path)
    except TraceError as exc:
        assert exc.file == str(path)
        assert str(exc)  # renders without raising
        return None
    assert all(isinstance(p, TracePipeline) and p.operators for p in pipelines)
    return pipelines


@st.composite
def mutated_trace(draw: st.DrawFn) -> str:
    """The valid trace with a few cells replaced, rows dropped, duplicated or reordered."""
    rows = [list(row) for row in VALID_ROWS]
    cell = st.one_of(st.sampled_from(TRICKY_CELLS), st.text(max_size=6))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cell", "drop-row", "dup-row", "swap", "short", "long"]))
        i = draw(st.integers(0, len(rows) - 1))
        if op == "cell":
            j = draw(st.integers(0, len(rows[i]) - 1)) if rows[i] else 0
            if rows[i]:
                rows[i][j] = draw(cell)
        elif op == "drop-row" and len(rows) > 1:
            del rows[i]
        elif op == "dup-row":
            rows.insert(i, list(rows[i]))
        elif op == "swap":
            k = draw(st.integers(0, len(rows) - 1))
            rows[i], rows[k] = rows[k], rows[i]
        elif op == "short" and rows[i]:
            rows[i].pop()
        elif op == "long":
            rows[i].append(draw(cell))
    if draw(st.booleans()):  # proper CSV quoting
        buf = io.StringIO(newline="")
        csv.writer(buf).writerows(rows)
        return buf.getvalue()
    return "".join(",".join(row) + draw(st.sampled_from(["\n", "\r\n"])) for row in rows)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace_fuzz") / "trace.csv"


def test_the_unmutated_trace_reads_back_as_three_pipelines(scratch: Path) -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(VALID_ROWS)
    scratch.write_text(buf.getvalue(), encoding="utf-8")
    pipelines = read_or_trace_error(scratch)
    assert pipelines is not None
    shape = [(p.pipeline_id, len(p.operators)) for p in pipelines]
    assert shape == [("p1", 3), ("p2", 1), ("p3", 1)]


@settings(settings.get_profile("trace_fuzz"), max_examples=80)
@given(data=st.binary(max_size=400))
def test_random_bytes_give_pipelines_or_a_trace_error(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    read_or_trace_error(scratch)


@settings(settings.get_profile("trace_fuzz"), max_examples=40)
@given(data=st.binary(max_size=200))
def test_random_bytes_after_a_valid_header_give_pipelines_or_a_trace_error(
    scratch: Path, data: bytes
) -> None:
    scratch.write_bytes(",".join(COLUMNS).encode() + b"\r\n" + data)
    read_or_trace_error(scratch)


@settings(settings.get_profile("trace_fuzz"), max_examples=80)
@given(text=mutated_trace())
def test_mutated_valid_trace_gives_pipelines_or_a_trace_error(scratch: Path, text: str) -> None:
    scratch.write_text(text, encoding="utf-8", newline="")
    read_or_trace_error(scratch)


def _outcome(path: Path) -> object:
    try:
        return read_trace(path)
    except TraceError as exc:
        return ("error", str(exc), exc.line, exc.column, exc.field)


@settings(settings.get_profile("trace_fuzz"), max_examples=120)
@given(text=mutated_trace())
def test_the_fast_row_parser_agrees_with_the_checking_one(
    scratch: Path, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operator row the fast path takes, the checking path reads the same; every row it
    leaves, the checking path accepts or refuses with the same error as before."""
    scratch.write_text(text, encoding="utf-8", newline="")
    fast = _outcome(scratch)
    with monkeypatch.context() as m:
        m.setattr(trace_io._FastOperator, "parse", lambda self, row, line, op_ids: None)
        slow = _outcome(scratch)
    assert fast == slow
