"""Eudoxia's estimator hook (spec §5.4): none by default, or the `noisy` peak-memory estimator."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from simulator.engine import run_simulation
from simulator.errors import ParamsError
from simulator.trace_io import TraceOperator, TracePipeline

TRACE = [
    TracePipeline(
        "p1",
        0.0,
        "BATCH_PIPELINE",
        [
            TraceOperator("op1", [], 1.0, "const", None, 55.0),
            TraceOperator("op2", ["op1"], 1.0, "const", 12.0, 5.0),
        ],
    ),
    TracePipeline("p2", 0.5, "QUERY", [TraceOperator("op1", [], 1.0, "const", None, 35.0)]),
]
SPY = textwrap.dedent(
    """
    SEEN = []

    @register_scheduler_init(key="spy")
    def init(s):
        pass

    @register_scheduler(key="spy")
    def spy(s, results, pipelines):
        out = []
        for p in pipelines:
            for op in p.values:
                SEEN.append(op.estimate.mem_peak_gb)
            ops = p.runtime_status().get_ops(ASSIGNABLE_STATES)
            out.append(Assignment(ops, 2, 60, p.priority, 0, p.pipeline_id))
        return [], out
    """
)
PARAMS = {
    "duration": 10,
    "ticks_per_second": 10,
    "num_pools": 2,
    "cpus_per_pool": 8,
    "ram_gb_per_pool": 128,
}


def _estimates(tmp_path: Path, **params: object) -> list[object]:
    from simulator.engine import Simulation, workload_arrivals
    from simulator.params import load_params
    from simulator.policy_loader import load_policy_file

    path = tmp_path / "spy.py"
    path.write_text(SPY)
    loaded = load_policy_file(path)
    p = load_params({**PARAMS, **params})
    Simulation(p, workload_arrivals(p, TRACE), loaded).run()
    assert loaded.module is not None
    return list(loaded.module.SEEN)


def test_without_an_estimator_policies_see_no_estimate(tmp_path: Path) -> None:
    assert _estimates(tmp_path) == [None, None, None]


def test_noisy_estimator_with_zero_sigma_reports_the_true_peak(tmp_path: Path) -> None:
    assert _estimates(tmp_path, estimator_algo="noisy") == [55.0, 12.0, 35.0]


def test_noisy_estimator_draws_one_lognormal_per_operator_in_arrival_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    expected = [
        55.0 * rng.lognormal(0.0, 0.5),
        12.0 * rng.lognormal(0.0, 0.5),
        35.0 * rng.lognormal(0.0, 0.5),
    ]
    got = _estimates(tmp_path, estimator_algo="noisy", noisy_estimator_sigma=0.5, random_seed=7)
    assert got == expected


def test_unknown_estimator_is_a_params_error() -> None:
    with pytest.raises(ParamsError, match="Unknown estimator_algo"):
        run_simulation({**PARAMS, "estimator_algo": "oracle"}, TRACE, "naive")
