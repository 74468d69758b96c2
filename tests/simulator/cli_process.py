"""Run the real ``policyforge`` CLI in a child process, and small input files for it.

Shared by the end-to-end and bad-input tests: both must see exactly what a user sees (exit
code, stdout, stderr), so nothing here imports the simulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "eudoxia"

TRACE_HEADER = (
    "pipeline_id,arrival_seconds,priority,operator_id,parents,"
    "baseline_cpu_seconds,cpu_scaling,memory_gb,storage_read_gb"
)
# One pool of 4 CPUs / 16 GB, 10 ticks per second, 10 seconds: every run is a few hundred ticks.
SMALL_PARAMS = (
    "duration = 10\n"
    "ticks_per_second = 10\n"
    "num_pools = 1\n"
    "cpus_per_pool = 4\n"
    "ram_gb_per_pool = 16\n"
    'scheduler_algo = "naive"\n'
)
# Two pipelines: a two-operator chain at 0 s and a one-operator query at 0.5 s.
SMALL_TRACE = (
    f"{TRACE_HEADER}\n"
    "p1,0.0,BATCH_PIPELINE,op1,,1,const,,0\n"
    "p1,,,op2,op1,1,const,,0\n"
    "p2,0.5,QUERY,op1,,1,const,,0\n"
)


@dataclass
class CliRun:
    """What one CLI invocation produced."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The single JSON object on stdout (fails the test if there is anything else)."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"expected one JSON line on stdout, got:\n{self.stdout}"
        return json.loads(lines[0])


def run_cli(*args: str | Path, cwd: Path = ROOT) -> CliRun:
    """``python -m policyforge ARGS…`` with this interpreter; never raises on a non-zero exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "policyforge", *map(str, args)],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def write(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


def small_inputs(
    tmp_path: Path, params: str = SMALL_PARAMS, trace: str = SMALL_TRACE
) -> tuple[Path, Path]:
    """A params file and a trace file in ``tmp_path`` (the small ones unless given)."""
    return write(tmp_path / "params.toml", params), write(tmp_path / "trace.csv", trace)
