"""The knobs of a heuristic scheduling policy, each with the range the proposer may search.

A `HeuristicConfig` fully determines one policy file (`agents.heuristic.render.render_policy`).
Every knob is a known scheduling heuristic or one of its parameters; none reads what a real
scheduler could not know (an operator's true resource profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QueueOrder = Literal["priority_fifo", "priority_shortest", "shortest_first"]
CpuMode = Literal["fixed", "by_class"]

QUEUE_ORDERS: tuple[QueueOrder, ...] = ("priority_fifo", "priority_shortest", "shortest_first")
CPU_MODES: tuple[CpuMode, ...] = ("fixed", "by_class")


class HeuristicConfig(BaseModel):
    """One composition of known heuristics: queue order, reservations, sizing, retries, pools."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- queue order -------------------------------------------------------------------------
    queue_order: QueueOrder = Field(
        default="priority_fifo",
        description="priority_fifo: class first, then arrival order; priority_shortest: class "
        "first, then fewest unfinished operators; shortest_first: fewest unfinished operators "
        "first, then class",
    )
    aging_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description="rank levels a waiting pipeline gains per 10 s of waiting (0: no aging); "
        "lifts long-waiting batch work so no class starves",
    )
    backfill: bool = Field(
        default=True,
        description="when a job does not fit, keep placing later (smaller) jobs; off: strict "
        "order, the first job that does not fit blocks the rest",
    )
    # --- reservations for QUERY / INTERACTIVE ---------------------------------------------------
    reserve_cpu_frac: float = Field(
        default=0.1,
        ge=0.0,
        le=0.5,
        description="fraction of each pool's CPUs batch work may not take (kept for "
        "QUERY/INTERACTIVE)",
    )
    reserve_ram_frac: float = Field(
        default=0.1,
        ge=0.0,
        le=0.5,
        description="fraction of each pool's RAM batch work may not take (kept for "
        "QUERY/INTERACTIVE)",
    )
    # --- initial RAM sizing ------------------------------------------------------------------
    ram_headroom: float = Field(
        default=1.2,
        ge=1.0,
        le=2.0,
        description="RAM = op.estimate.mem_peak_gb x headroom, when an estimator gives one; "
        "also the margin over a class's largest OOM-killed allocation (learn_class_ram)",
    )
    initial_ram_frac: float = Field(
        default=0.1,
        ge=0.02,
        le=0.5,
        description="the most RAM a first attempt without an estimate gets, as a fraction of the "
        "pool; below it, the cluster's RAM (all pools) divided among the unfinished pipelines",
    )
    learn_class_ram: bool = Field(
        default=True,
        description="remember, per priority class, the largest OOM-killed allocation and start "
        "later operators of that class at least headroom x that size (learned from results, not "
        "from the trace)",
    )
    # --- CPU sizing --------------------------------------------------------------------------
    cpu_mode: CpuMode = Field(
        default="by_class",
        description="fixed: every container gets fixed_cpus; by_class: a per-priority-class "
        "count (a class-level prior, not an oracle: the policy never reads an operator's "
        "segments)",
    )
    fixed_cpus: int = Field(default=4, ge=1, le=32, description="CPUs per container in fixed mode")
    query_cpus: int = Field(
        default=3,
        ge=1,
        le=16,
        description="CPUs per QUERY container in by_class mode (queries typically scale like "
        "linear3, which saturates at 3 CPUs)",
    )
    interactive_cpus: int = Field(
        default=2, ge=1, le=16, description="CPUs per INTERACTIVE container in by_class mode"
    )
    batch_cpus: int = Field(
        default=2, ge=1, le=16, description="CPUs per BATCH_PIPELINE container in by_class mode"
    )
    # --- OOM retries -------------------------------------------------------------------------
    ram_growth: float = Field(
        default=2.0,
        ge=1.5,
        le=3.0,
        description="RAM of a retry = RAM of the OOM-killed attempt x growth, capped at the pool",
    )
    max_attempts: int = Field(
        default=5,
        ge=2,
        le=10,
        description="attempts per operator before its pipeline is given up (recorded on "
        "s.given_up, never dropped silently)",
    )
    # --- pools, preemption, packing -------------------------------------------------------------
    partition_pools: bool = Field(
        default=True,
        description="with 2+ pools, keep the first pools for QUERY/INTERACTIVE (batch never "
        "runs there; high priority work may spill into batch pools)",
    )
    query_pool_frac: float = Field(
        default=0.25,
        ge=0.1,
        le=0.5,
        description="share of the pools kept for QUERY/INTERACTIVE when partitioning "
        "(at least one of each kind)",
    )
    preempt: bool = Field(
        default=True,
        description="suspend batch containers at operator boundaries while queries wait "
        "(only possible with multi-operator containers)",
    )
    pack_pipeline: bool = Field(
        default=True,
        description="with multi-operator containers, run all of a pipeline's unfinished "
        "operators in one container",
    )


@dataclass(frozen=True)
class Knob:
    """A searchable knob: its name, kind and range (numeric) or choices (categorical)."""

    name: str
    kind: Literal["float", "int", "bool", "choice"]
    low: float = 0.0
    high: float = 0.0
    choices: tuple[object, ...] = ()


def knob_space() -> tuple[Knob, ...]:
    """Every knob of `HeuristicConfig` with its range, read from the model's field constraints."""
    knobs = []
    for name, field in HeuristicConfig.model_fields.items():
        annotation = field.annotation
        if annotation is bool:
            knobs.append(Knob(name, "bool", choices=(False, True)))
        elif name == "queue_order":
            knobs.append(Knob(name, "choice", choices=QUEUE_ORDERS))
        elif name == "cpu_mode":
            knobs.append(Knob(name, "choice", choices=CPU_MODES))
        else:
            low = next(m.ge for m in field.metadata if getattr(m, "ge", None) is not None)
            high = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
            kind: Literal["float", "int"] = "int" if annotation is int else "float"
            knobs.append(Knob(name, kind, float(low), float(high)))
    return tuple(knobs)
