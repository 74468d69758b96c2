"""`RunConfig`: everything that defines a run, as kept in its run.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.budget import BudgetLimits
from agents.models import RoleModelConfig
from agents.run_store import new_run_id

MAX_POPULATION = 64  # candidates per round (`--population`)


class RunConfig(BaseModel):
    """Everything that defines a run (kept in run.json; no secrets: keys stay in the env)."""

    run_id: str = Field(default_factory=new_run_id)
    goal: str = ""
    objective: dict[str, Any] | None = None  # from --objective; else the planner decides
    suite: str = "small"
    seed: int = 0
    sandbox: str = "auto"
    heuristic: bool = False
    models: dict[str, RoleModelConfig] = Field(default_factory=dict)
    budget: BudgetLimits = Field(default_factory=BudgetLimits)
    timeout_s: float = 300.0  # the sandbox's wall-clock limit per evaluation batch
    prices_file: str | None = None
    population: int = Field(default=1, ge=1, le=MAX_POPULATION)  # candidates per round
    workers: int | None = Field(default=None, ge=1)  # evaluations at once (a local Ray if > 1)
    # feedback: each round learns from the archive and the verdicts; best-of-n: every candidate
    # sampled independently (the goal and objective only), the baseline for the feedback loop
    strategy: Literal["feedback", "best-of-n"] = "feedback"
    # accepted: stop at the first accepted policy; budget: search on until the budget is spent,
    # the accepted policy being the floor a later one must beat
    until: Literal["accepted", "budget"] = "accepted"
    # a candidate runs first on the smallest search case, and on the others only when it is not
    # far below the best baseline there
    cascade: bool = False
    ray_address: str | None = None  # a Ray cluster to evaluate on instead

