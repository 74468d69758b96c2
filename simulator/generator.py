"""The seeded random workload generator, byte-identical to ``eudoxia gentrace`` (§6.2, §6.3.3).

Eudoxia steps its generator once per tick; nothing happens between batches except a counter
going up, so this module jumps straight from one batch to the next (``W + 1`` ticks later) and
makes exactly the same RNG draws in exactly the same order. A 600 000-tick trace therefore costs
only as much as the pipelines it contains.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.errors import ParamsError
from simulator.trace_io import TraceOperator, TracePipeline

# Candidate order matters: the drawn index picks from these tuples (spec §6.2.1).
PRIORITY_CANDIDATES = ("INTERACTIVE", "QUERY", "BATCH_PIPELINE")
DAG_SHAPES = ("linear", "branch_in", "branch_out")
_PRIORITY_KEYS = ("interactive_prob", "query_prob", "batch_prob")
_DAG_KEYS = ("dag_linear_prob", "dag_branch_in_prob", "dag_branch_out_prob")
_NUMBER_KEYS = (
    "duration",
    "ticks_per_second",
    "waiting_seconds_mean",
    "num_operators",
    "num_segs",
    *_PRIORITY_KEYS,
)


@dataclass(frozen=True, slots=True)
class _Settings:
    """Everything the generator derives from params before its first draw."""

    seed: int
    max_ticks: int
    tick_length: float
    waiting_ticks_mean: int
    waiting_ticks_stdev: float
    num_pipelines: int
    num_operators: float
    priority_cdf: list[float]
    dag_cdf: list[float]


def generate_trace(params: dict[str, Any], *, dag_shape_draw: bool = True) -> list[TracePipeline]:
    """Pipelines ``eudoxia gentrace`` writes for ``params`` (a complete Eudoxia params dict).

    ``dag_shape_draw=False`` leaves out the per-pipeline DAG-shape draw, as the older Eudoxia
    that produced the committed regression traces did (§6.2.5); every DAG is then linear.
    Raises ``ParamsError`` for parameters Eudoxia's generator rejects or would crash on.
    """
    return [p for _, p in generate_arrivals(params, dag_shape_draw=dag_shape_draw)]


def generate_arrivals(
    params: dict[str, Any], *, dag_shape_draw: bool = True
) -> list[tuple[int, TracePipeline]]:
    """Each generated pipeline with the exact tick Eudoxia's generator hands it over.

    Replaying the written trace can deliver some pipelines a tick later (the float rule of
    §6.3.2), which is why ``simulate(params)`` without a trace uses these ticks directly.
    """
    settings = _settings(params, dag_shape_draw)
    rng = np.random.default_rng(settings.seed)
    out: list[tuple[int, TracePipeline]] = []
    tick = 0
    while tick < settings.max_ticks:
        arrival_seconds = tick * settings.tick_length
        for _ in range(settings.num_pipelines):
            out.append(
                (tick, _draw_pipeline(rng, settings, len(out) + 1, arrival_seconds, dag_shape_draw))
            )
        tick += _draw_waiting_ticks(rng, settings) + 1
    return out


def _draw_waiting_ticks(rng: np.random.Generator, settings: _Settings) -> int:
    """Ticks between this batch and the next one, minus one (Eudoxia's counter is off by one)."""
    waiting = int(rng.normal(settings.waiting_ticks_mean, settings.waiting_ticks_stdev))
    return waiting if waiting > 0 else settings.waiting_ticks_mean


def _draw_pipeline(
    rng: np.random.Generator,
    settings: _Settings,
    number: int,
    arrival_seconds: float,
    dag_shape_draw: bool,
) -> TracePipeline:
    """One pipeline; draws in the order of §6.2.3: priority, DAG shape, operator count."""
    priority = PRIORITY_CANDIDATES[_choose(rng, settings.priority_cdf)]
    shape = DAG_SHAPES[_choose(rng, settings.dag_cdf)] if dag_shape_draw else "linear"
    if priority == "QUERY":
        operators = [TraceOperator("op1", [], 15, "linear3", None, 35)]
    else:
        count = int(rng.normal(settings.num_operators, settings.num_operators / 4))
        operators = _operators(max(count, 1), shape)
    return TracePipeline(f"p{number}", arrival_seconds, priority, operators)


def _choose(rng: np.random.Generator, cdf: list[float]) -> int:
    """What ``rng.choice(k, p=p)`` returns: one uniform double located in the normalised CDF."""
    return bisect_right(cdf, rng.random())


def _operators(count: int, shape: str) -> list[TraceOperator]:
    """``count`` non-query operators (1 s const, 55 GB read) wired as ``shape`` (§6.2.3 step 5)."""
    ids = [f"op{i + 1}" for i in range(count)]
    parents: list[list[str]]
    if shape == "linear":
        parents = [[]] + [[ids[i - 1]] for i in range(1, count)]
    elif shape == "branch_in":
        parents = [[] for _ in range(count - 1)] + [ids[:-1]]
    else:
        parents = [[]] + [[ids[0]] for _ in range(1, count)]
    return [
        TraceOperator(op_id, deps, 1, "const", None, 55)
        for op_id, deps in zip(ids, parents, strict=True)
    ]


def _settings(params: dict[str, Any], dag_shape_draw: bool) -> _Settings:
    """Check params the way Eudoxia's generator does and derive its constants."""
    for key in (*_NUMBER_KEYS, *_DAG_KEYS) if dag_shape_draw else _NUMBER_KEYS:
        _number(params, key)
    num_pipelines = _integer(params, "num_pipelines")
    seed = _integer(params, "random_seed")
    _check_ranges(params)
    tps = params["ticks_per_second"]
    waiting_ticks_mean = int(params["waiting_seconds_mean"] * tps)
    if waiting_ticks_mean < 0:
        raise ParamsError(
            "waiting_seconds_mean must not be negative (it is the mean gap between batches)",
            field="waiting_seconds_mean",
        )
    return _Settings(
        seed=seed,
        max_ticks=int(params["duration"] * tps),
        tick_length=1.0 / tps,
        waiting_ticks_mean=waiting_ticks_mean,
        waiting_ticks_stdev=waiting_ticks_mean / 4,
        num_pipelines=num_pipelines,
        num_operators=params["num_operators"],
        priority_cdf=_priority_cdf(params),
        dag_cdf=_dag_cdf(params) if dag_shape_draw else [1.0],
    )


def _check_ranges(params: dict[str, Any]) -> None:
    """Values Eudoxia asserts on, or that would crash numpy mid-generation."""
    if params["num_segs"] != 1:
        raise ParamsError(
            "multiple segments per op not fully supported yet: num_segs must be 1",
            field="num_segs",
        )
    if params["random_seed"] < 0:
        raise ParamsError(
            f"random_seed must not be negative, got {params['random_seed']!r}",
            field="random_seed",
        )
    if not params["ticks_per_second"] > 0:
        raise ParamsError(
            f"ticks_per_second must be positive, got {params['ticks_per_second']!r}",
            field="ticks_per_second",
        )
    if params["num_operators"] < 0:
        raise ParamsError(
            "num_operators must not be negative (it is the mean operator count per pipeline)",
            field="num_operators",
        )


def _present(params: dict[str, Any], key: str) -> Any:
    if key not in params:
        raise ParamsError(
            f"missing parameter {key}; load params with simulator.params.load_params, "
            "which fills in Eudoxia's defaults",
            field=key,
        )
    return params[key]


def _integer(params: dict[str, Any], key: str) -> int:
    value = _present(params, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{key} must be an integer, got {value!r}", field=key)
    return value


def _number(params: dict[str, Any], key: str) -> float:
    value = _present(params, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParamsError(f"{key} must be a finite number, got {value!r}", field=key)
    return float(value)


def _priority_cdf(params: dict[str, Any]) -> list[float]:
    """Priority CDF; Eudoxia insists the three probabilities sum to exactly 1.0, left to right."""
    probs = [params[key] for key in _PRIORITY_KEYS]
    total = probs[0] + probs[1] + probs[2]
    if total != 1:
        raise ParamsError(
            f"Probabilities must sum to 1: interactive_prob + query_prob + batch_prob = {total!r} "
            "(added left to right in float64, exact equality, as Eudoxia checks)",
            field="interactive_prob",
        )
    for key, value in zip(_PRIORITY_KEYS, probs, strict=True):
        if value < 0:
            raise ParamsError(f"{key} must not be negative, got {value!r}", field=key)
    return _normalised_cdf(probs)


def _dag_cdf(params: dict[str, Any]) -> list[float]:
    """DAG-shape CDF; the three weights are normalised, so they need only be >= 0 with sum > 0."""
    probs = [params[key] for key in _DAG_KEYS]
    for key, value in zip(_DAG_KEYS, probs, strict=True):
        if value < 0:
            raise ParamsError(f"{key} must not be negative, got {value!r}", field=key)
    if not sum(probs) > 0:
        raise ParamsError(
            "DAG-shape probabilities must sum to more than 0 "
            "(dag_linear_prob + dag_branch_in_prob + dag_branch_out_prob)",
            field="dag_linear_prob",
        )
    return _normalised_cdf(probs)


def _normalised_cdf(weights: list[float]) -> list[float]:
    """``p = w / sum(w)``, then numpy's ``choice`` CDF: ``cumsum(p) / cumsum(p)[-1]``."""
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return [float(x) for x in cdf]
