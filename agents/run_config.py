"""`RunConfig`: everything that defines a run, as kept in its run.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.budget import BudgetLimits
from agents.models import RoleModelConfig
from agents.run_store import new_run_id


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

