"""Small requests for the sandbox tests: the ``small`` suite's traces cut to a few seconds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simulator.params import load_params

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"

TRACE_HEADER = (
    "pipeline_id,arrival_seconds,priority,operator_id,parents,"
    "baseline_cpu_seconds,cpu_scaling,memory_gb,storage_read_gb"
)


def small_case(name: str = "tiny", pipelines: int = 6, seconds: int = 20) -> dict[str, Any]:
    """A case (params + trace text) that runs in a few milliseconds."""
    params = load_params({
        "duration": seconds, "ticks_per_second": 10, "num_pools": 1, "cpus_per_pool": 4,
        "ram_gb_per_pool": 16, "scheduler_algo": "priority",
    })
    rows = [TRACE_HEADER]
    prios = ("QUERY", "INTERACTIVE", "BATCH_PIPELINE")
    for i in range(pipelines):
        rows.append(f"p{i},{i * 0.7:.1f},{prios[i % 3]},op1,,{1 + i % 3},const,,0")
        rows.append(f"p{i},,,op2,op1,1,const,,0")
    return {"name": name, "params": params, "trace_csv_text": "\n".join(rows) + "\n"}


def own_sandbox_containers() -> list[dict[str, Any]]:
    """Sandbox containers this process started (the engine is shared: other processes' are not
    ours to count). The low-level list, which a concurrent removal cannot make fail."""
    import docker

    from sandbox.reaper import LABEL, OWNER_LABEL

    wanted = [f"{LABEL}=1", f"{OWNER_LABEL}={os.getpid()}"]
    return docker.from_env().api.containers(all=True, filters={"label": wanted})


def policy_text(name: str) -> str:
    """The source of a policy file under tests/sandbox/hostile/."""
    return (HOSTILE / name).read_text(encoding="utf-8")
