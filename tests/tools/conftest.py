"""Tool tests run on the ``small`` suite with the local sandbox backend, and once through Docker.

The archive tools read a small run directory built here as docs/run-directory.md describes it:
candidate 1 evaluated and judged (with a ``held_out.json`` no tool may read), candidate 2 failed,
candidate 3 not evaluated yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.heuristic.config import HeuristicConfig
from agents.heuristic.render import render_policy
from agents.objective import suite_objective
from sandbox.backend import default_limits
from sandbox.evaluation import PolicyInput, evaluate_policy, suite_inputs
from sandbox.local_backend import LocalBackend
from tools.context import ToolContext

SUITE = "small"
# A number that appears only in held_out.json: it must never show up in any tool's answer.
HELD_OUT_SENTINEL = 987654.321

RAISING_POLICY = '''
@register_scheduler_init(key="boom")
def init(s):
    s.calls = 0

@register_scheduler(key="boom")
def schedule(s, results, pipelines):
    if pipelines:
        s.calls = len(pipelines) / s.calls
    return [], []
'''

# On `scales`: runs the x1-x8 sizes (it serves the first arrivals only, so it is quick) and
# raises on x16, a size whose run fails, which the suite's objective counts at 720 s.
SIZE_LIMITED_POLICY = '''
@register_scheduler_init(key="first-arrivals")
def init(s):
    s.mine = None


@register_scheduler(key="first-arrivals")
def schedule(s, results, pipelines):
    pool = s.executor.pools[0]
    if pool.max_ram_pool > 4000:
        raise RuntimeError("too big for me")
    if s.mine is None:
        s.mine = list(pipelines)
    out = []
    cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
    for p in s.mine:
        for op in p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True):
            if cpu >= 1 and ram >= 60:
                out.append(Assignment([op], 1, 60, p.priority, pool.pool_id, p.pipeline_id))
                cpu, ram = cpu - 1, ram - 60
    return [], out
'''


@pytest.fixture(scope="session")
def good_policy() -> str:
    """A valid, good policy: the heuristic proposer's default configuration."""
    return render_policy(HeuristicConfig())


@pytest.fixture(scope="session")
def local_backend() -> LocalBackend:
    """The local sandbox backend, quiet."""
    return LocalBackend(warn=False)


@pytest.fixture
def ctx(local_backend: LocalBackend, run_dir: Path) -> ToolContext:
    """Tools bound to the small suite and its objective, the local backend and the fake run
    directory."""
    return ToolContext(SUITE, local_backend, default_limits(60.0), suite_objective(SUITE),
                       run_dir=run_dir)


@pytest.fixture
def scales_ctx(local_backend: LocalBackend, tmp_path: Path) -> ToolContext:
    """Tools bound to the `scales` suite and its objective (a geometric mean of penalised
    latencies, a failed size at 720 s), with an empty run directory."""
    return ToolContext("scales", local_backend, default_limits(120.0), suite_objective("scales"),
                       run_dir=tmp_path / "scales-run")


@pytest.fixture(scope="session")
def good_report(good_policy: str, local_backend: LocalBackend) -> dict[str, Any]:
    """The sandbox's evaluation report of the good policy on the small suite's search part."""
    report = evaluate_policy(PolicyInput("candidate-1", source=good_policy),
                             suite_inputs(SUITE, "search"), local_backend, default_limits(60.0),
                             suite=SUITE, part="search", profile=True)
    assert report.status == "ok", report.reason
    return json.loads(report.to_json())


def _write(folder: Path, name: str, data: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def run_dir(tmp_path: Path, good_policy: str, good_report: dict[str, Any]) -> Path:
    """A run directory with three candidates (see the module docstring)."""
    run = tmp_path / "run"
    _write(run, "run.json", {"run_id": "test", "suite": SUITE, "status": "running"})
    per_trace = {t["name"]: float(t["stats"]["pipelines_all"]["completion_count"])
                 for t in good_report["traces"]}
    one = run / "candidates" / "1"
    _write(one, "policy.py", good_policy)
    _write(one, "result.json", {
        "candidate": 1, "status": "ok", "reason": None,
        "score": good_report["aggregate"]["completed_pipelines"], "per_trace": per_trace,
        "evaluation": good_report, "profile": good_report["profile"]["profile"],
        "baseline": {"policy": "priority", "score": 14.0},
        "verdict": {"accept": False, "reasons": ["held-out gap too large"], "hint": "generalise"},
    })
    _write(one, "held_out.json", {
        "candidate": 1, "status": "ok", "score": HELD_OUT_SENTINEL,
        "per_trace": {"seed901": HELD_OUT_SENTINEL}, "evaluation": {"traces": [
            {"name": "seed901", "stats": {"pipelines_all": {"completion_count": HELD_OUT_SENTINEL}}}
        ]},
    })
    two = run / "candidates" / "2"
    _write(two, "policy.py", RAISING_POLICY)
    _write(two, "result.json", {
        "candidate": 2, "status": "failed", "score": None, "per_trace": {},
        "reason": "seed1: the policy raised ZeroDivisionError: division by zero (policy.py:9)",
        "evaluation": {"status": "failed", "traces": [], "verification": {}},
    })
    _write(run / "candidates" / "3", "policy.py", good_policy)
    return run
