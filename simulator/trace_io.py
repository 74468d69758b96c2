"""Eudoxia trace CSV: the one reader and the one writer of the project (spec §6.3).

A trace is plain data here (`TracePipeline` / `TraceOperator`); the engine turns it into live
`Pipeline` objects. The reader checks the whole file up front (Eudoxia reads lazily and fails
mid-run, or never) and every problem is a `TraceError` naming file, line, column and cause.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from simulator.errors import TraceError
from simulator.gc_pause import no_automatic_gc

COLUMNS = (
    "pipeline_id",
    "arrival_seconds",
    "priority",
    "operator_id",
    "parents",
    "baseline_cpu_seconds",
    "cpu_scaling",
    "memory_gb",
    "storage_read_gb",
)
PRIORITY_NAMES = ("QUERY", "INTERACTIVE", "BATCH_PIPELINE")
SCALING_NAMES = ("const", "log", "sqrt", "linear3", "linear7", "squared", "exp")


@dataclass(slots=True)
class TraceOperator:
    """One operator row: its id, parent ids (earlier rows) and its single segment."""

    operator_id: str
    parents: list[str]
    baseline_cpu_seconds: float
    cpu_scaling: str
    memory_gb: float | None
    storage_read_gb: float
    line: int = 0


@dataclass(slots=True)
class TracePipeline:
    """One pipeline: id, arrival time in seconds, priority name and operators in row order."""

    pipeline_id: str
    arrival_seconds: float
    priority: str
    operators: list[TraceOperator] = field(default_factory=list)
    line: int = 0


def arrival_tick(arrival_seconds: float, ticks_per_second: float) -> int:
    """First tick T with ``arrival_seconds / (1.0 / tps) <= T`` (Eudoxia's float rule, §6.3.2)."""
    quotient = arrival_seconds / (1.0 / ticks_per_second)
    return max(0, math.ceil(quotient))


def delivery_ticks(pipelines: list[TracePipeline], ticks_per_second: float) -> list[int]:
    """Tick at which each pipeline is delivered: batches of equal arrival, never before the last."""
    ticks: list[int] = []
    prev_arrival: float | None = None
    batch_tick = 0
    for p in pipelines:
        if prev_arrival is None or p.arrival_seconds != prev_arrival:
            batch_tick = max(batch_tick, arrival_tick(p.arrival_seconds, ticks_per_second))
            prev_arrival = p.arrival_seconds
        ticks.append(batch_tick)
    return ticks


def _not_utf8(path: Path, name: str, exc: UnicodeDecodeError) -> TraceError:
    data = path.read_bytes()
    bad = next((i for i in range(len(data)) if not _decodes(data, i)), None)
    line = data[:bad].count(b"\n") + 1 if bad is not None else None
    col = bad - (data.rfind(b"\n", 0, bad) + 1) + 1 if bad is not None else None
    return TraceError(f"trace is not UTF-8 text ({exc.reason})", file=name, line=line, column=col)


def _decodes(data: bytes, i: int) -> bool:
    """Whether the byte at ``i`` starts or continues valid UTF-8 in its line."""
    start = data.rfind(b"\n", 0, i) + 1
    try:
        data[start : i + 1].decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"


class _RowReader:
    """Parses one CSV file row by row, remembering where each cell came from."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.col: dict[str, int] = {}

    def error(self, line: int, column: str | None, message: str) -> TraceError:
        col = self.col[column] + 1 if column in self.col else None
        return TraceError(message, file=self.name, line=line, column=col, field=column)

    def cell(self, row: list[str], column: str) -> str:
        idx = self.col.get(column)
        if idx is None or idx >= len(row):
            return ""
        return row[idx]

    def number(self, row: list[str], line: int, column: str, *, required: bool) -> float | None:
        text = self.cell(row, column)
        if text == "" or (not required and text.strip() == ""):
            if required:
                raise self.error(line, column, f"{column} is required (a number of GB/seconds)")
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.error(line, column, f"{column} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise self.error(line, column, f"{column} must be finite, got {text!r}")
        if value < 0:
            raise self.error(line, column, f"{column} must not be negative, got {text!r}")
        return value


def read_trace(source: str | Path | IO[str], *, name: str | None = None) -> list[TracePipeline]:
    """Read a trace CSV (a path or an open text file) into pipelines, checking every row."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or str(path)
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise TraceError("trace file not found", file=name) from None
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, name, exc) from None
        except IsADirectoryError:
            raise TraceError("trace path is a directory, not a CSV file", file=name) from None
        except OSError as exc:
            raise TraceError(f"cannot read trace: {exc.strerror or exc}", file=name) from None
        return _parse(io.StringIO(text, newline=""), name)
    return _parse(source, name or str(getattr(source, "name", "<trace>")))


def _parse(fh: IO[str], name: str) -> list[TracePipeline]:
    reader = _RowReader(name)
    with no_automatic_gc():  # thousands of long-lived rows: the collector would rescan them
        return _parse_with(fh, name, reader)


def _parse_with(fh: IO[str], name: str, reader: _RowReader) -> list[TracePipeline]:
    try:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header is None:
            raise TraceError("trace is empty: expected a header row", file=name, line=1)
        reader.col = {h: i for i, h in enumerate(header)}
        missing = [c for c in COLUMNS if c not in reader.col and c != "memory_gb"]
        if missing:
            raise TraceError(
                f"header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}",
                file=name,
                line=1,
            )
        return _parse_rows(reader, rows)
    except csv.Error as exc:
        raise TraceError(f"malformed CSV: {exc}", file=name) from None
    except UnicodeDecodeError as exc:
        raise TraceError(f"trace is not UTF-8 text ({exc.reason})", file=name) from None


def _parse_rows(reader: _RowReader, rows: Iterable[list[str]]) -> list[TracePipeline]:
    pipelines: list[TracePipeline] = []
    seen_ids: dict[str, int] = {}
    current: TracePipeline | None = None
    op_ids: set[str] = set()
    line = 1
    fast = _FastOperator(reader.col)
    i_pid, i_pri, i_arr = (reader.col[c] for c in ("pipeline_id", "priority", "arrival_seconds"))
    width = fast.width
    counted = hasattr(rows, "line_num")
    for row in rows:
        line = rows.line_num if counted else line + 1  # type: ignore[attr-defined]
        if len(row) >= width:
            pid, priority, arrival_text = row[i_pid], row[i_pri], row[i_arr]
        elif not row or all(c == "" for c in row):
            continue
        else:
            pid = reader.cell(row, "pipeline_id")
            priority = reader.cell(row, "priority")
            arrival_text = reader.cell(row, "arrival_seconds")
        if pid == "":
            if all(c == "" for c in row):
                continue
            raise reader.error(line, "pipeline_id", "pipeline_id is empty")
        if priority:
            priority = priority.strip()
        if arrival_text:
            arrival_text = arrival_text.strip()
        if current is None or pid != current.pipeline_id:
            if pid in seen_ids:
                raise reader.error(
                    line,
                    "pipeline_id",
                    f"rows of pipeline {pid!r} are not contiguous (it started at line "
                    f"{seen_ids[pid]}); each pipeline's rows must be consecutive",
                )
            if priority not in PRIORITY_NAMES:
                what = "missing" if priority == "" else f"unknown priority {priority!r}"
                raise reader.error(
                    line,
                    "priority",
                    f"first row of pipeline {pid!r}: {what}; expected one of "
                    f"{', '.join(PRIORITY_NAMES)}",
                )
            if arrival_text == "":
                raise reader.error(
                    line,
                    "arrival_seconds",
                    f"first row of pipeline {pid!r} must have arrival_seconds set",
                )
            arrival = reader.number(row, line, "arrival_seconds", required=True)
            assert arrival is not None
            current = TracePipeline(pid, arrival, priority, [], line)
            pipelines.append(current)
            seen_ids[pid] = line
            op_ids = set()
        else:
            if priority != "":
                raise reader.error(
                    line,
                    "priority",
                    f"only the first row of pipeline {pid!r} should have priority set, "
                    f"found {priority!r}",
                )
            if arrival_text != "":
                raise reader.error(
                    line,
                    "arrival_seconds",
                    f"only the first row of pipeline {pid!r} should have arrival_seconds set, "
                    f"found {arrival_text!r}",
                )
        op = fast.parse(row, line, op_ids)
        if op is None:  # something unusual: the checking parser says what (or accepts it)
            op = _parse_operator(reader, row, line, current, op_ids)
        op_ids.add(op.operator_id)
        current.operators.append(op)
    return pipelines


class _FastOperator:
    """The common case of an operator row, parsed with no per-cell lookups.

    Returns None whenever anything is unusual (a short row, a bad or duplicate id, an unknown
    parent, a bad scaling name or number, spaces around a parent); `_parse_operator` then runs
    the full checks and raises the error that names the line and column, or accepts the row.
    """

    __slots__ = ("idx", "mem", "width")

    def __init__(self, col: dict[str, int]) -> None:
        names = ("operator_id", "parents", "baseline_cpu_seconds", "cpu_scaling",
                 "storage_read_gb")
        self.idx = tuple(col[n] for n in names)
        self.mem = col.get("memory_gb")
        others = (col["pipeline_id"], col["priority"], col["arrival_seconds"])
        self.width = max(self.idx + others + (-1 if self.mem is None else self.mem,)) + 1

    def parse(self, row: list[str], line: int, op_ids: set[str]) -> TraceOperator | None:
        if len(row) < self.width:
            return None
        i_op, i_par, i_base, i_scal, i_stor = self.idx
        op_id = row[i_op]
        if op_id == "" or op_id in op_ids:
            return None
        text = row[i_par]
        parents = text.split(";") if text else []
        for parent in parents:
            if parent not in op_ids:
                return None
        scaling = row[i_scal]
        if scaling not in _SCALING_SET:
            return None
        try:
            baseline = float(row[i_base])
            storage = float(row[i_stor])
            mem_text = "" if self.mem is None else row[self.mem]
            memory = None if mem_text == "" else float(mem_text)
        except ValueError:
            return None
        # the comparisons are False for NaN, so NaN falls back too
        if not (0 <= baseline < math.inf and 0 <= storage < math.inf):
            return None
        if memory is not None and not 0 <= memory < math.inf:
            return None
        return TraceOperator(op_id, parents, baseline, scaling, memory, storage, line)


_SCALING_SET = frozenset(SCALING_NAMES)


def _parse_operator(
    reader: _RowReader, row: list[str], line: int, pipeline: TracePipeline, op_ids: set[str]
) -> TraceOperator:
    op_id = reader.cell(row, "operator_id")
    if op_id == "":
        raise reader.error(line, "operator_id", "operator_id is empty")
    if op_id in op_ids:
        raise reader.error(
            line,
            "operator_id",
            f"operator {op_id!r} appears twice in pipeline {pipeline.pipeline_id!r}",
        )
    parents = [p.strip() for p in reader.cell(row, "parents").split(";") if p.strip()]
    for parent in parents:
        if parent not in op_ids:
            cause = (
                "an operator cannot be its own parent"
                if parent == op_id
                else "parents must be operators on earlier rows of the same pipeline "
                "(no forward references or cycles)"
            )
            raise reader.error(
                line,
                "parents",
                f"unknown parent {parent!r} of operator {op_id!r} in pipeline "
                f"{pipeline.pipeline_id!r}: {cause}",
            )
    scaling = reader.cell(row, "cpu_scaling")
    if scaling not in SCALING_NAMES:
        raise reader.error(
            line,
            "cpu_scaling",
            f"invalid cpu_scaling {scaling!r}; must be one of {'|'.join(SCALING_NAMES)}",
        )
    baseline = reader.number(row, line, "baseline_cpu_seconds", required=True)
    storage = reader.number(row, line, "storage_read_gb", required=True)
    memory = reader.number(row, line, "memory_gb", required=False)
    assert baseline is not None and storage is not None
    return TraceOperator(op_id, parents, baseline, scaling, memory, storage, line)


def _fmt(value: float | None) -> str:
    return "" if value is None else str(value)


def write_trace(pipelines: Iterable[TracePipeline], target: str | Path | IO[str]) -> None:
    """Write pipelines as Eudoxia's ``gentrace`` does: CRLF lines, ``str()`` numbers."""
    if isinstance(target, (str, Path)):
        with Path(target).open("w", newline="", encoding="utf-8") as fh:
            _write(pipelines, fh)
    else:
        _write(pipelines, target)


def _write(pipelines: Iterable[TracePipeline], fh: IO[str]) -> None:
    writer = csv.writer(fh, dialect="excel")
    writer.writerow(COLUMNS)
    for p in pipelines:
        for i, op in enumerate(p.operators):
            first = i == 0
            writer.writerow(
                [
                    p.pipeline_id,
                    _fmt(p.arrival_seconds) if first else "",
                    p.priority if first else "",
                    op.operator_id,
                    ";".join(op.parents),
                    _fmt(op.baseline_cpu_seconds),
                    op.cpu_scaling,
                    _fmt(op.memory_gb),
                    _fmt(op.storage_read_gb),
                ]
            )


def trace_to_text(pipelines: Iterable[TracePipeline]) -> str:
    """The CSV text `write_trace` would write."""
    buf = io.StringIO(newline="")
    _write(pipelines, buf)
    return buf.getvalue()
