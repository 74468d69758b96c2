"""A run's budget: the limits the user set and what the run has spent so far.

Both are plain pydantic models because they live in LangGraph state and its checkpoints. The
graph's budget gate asks `exhausted` after every node; the model caller asks `would_exceed`
before every model call and raises `BudgetExhausted` instead of sending one that would break a
limit.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.errors import AgentError

LIMIT_KINDS = ("max_iterations", "max_tokens", "max_usd", "max_minutes")


class BudgetLimits(BaseModel):
    """What a run may spend; ``None`` means no limit of that kind."""

    model_config = ConfigDict(extra="forbid")

    max_iterations: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    max_usd: float | None = Field(default=None, ge=0)
    max_minutes: float | None = Field(default=None, ge=0)


class Spend(BaseModel):
    """What a run has spent. ``model_calls`` counts every attempt sent, failed ones included;
    ``evaluations`` every sandbox evaluation run (search, held-out, the robustness probe, and
    the coder's ``run_probe`` calls)."""

    iterations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    model_calls: int = 0
    failed_calls: int = 0
    evaluations: int = 0

    @property
    def tokens(self) -> int:
        """Input and output tokens together (what ``max_tokens`` limits)."""
        return self.input_tokens + self.output_tokens

    def add(self, other: Spend) -> Spend:
        """A new `Spend`, the field-by-field sum of this one and ``other``."""
        return Spend(**{name: getattr(self, name) + getattr(other, name)
                        for name in Spend.model_fields})


def merge_spend(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """The state's spend, merged from the deltas its steps write: every count summed, wall time
    the latest (wall time is not additive). Several candidates' steps may finish in one graph
    step; none overwrites another's spend."""
    total = Spend(**(old or {}))
    delta = Spend(**(new or {}))
    merged = total.add(delta.model_copy(update={"seconds": 0.0}))
    return merged.model_copy(update={"seconds": max(total.seconds, delta.seconds)}).model_dump()


class BudgetExhausted(AgentError):
    """A limit is reached, or a model call would break one (the call was not made)."""

    kind = "budget_exhausted"

    def __init__(self, limit: str, detail: str = "") -> None:
        super().__init__(f"budget exhausted: {limit}" + (f" ({detail})" if detail else ""))
        self.limit = limit  # the limit reached: max_iterations, max_tokens, max_usd, max_minutes
        self.detail = detail


def exhausted(limits: BudgetLimits, spend: Spend, *, iterations: bool = True) -> str | None:
    """The first limit ``spend`` has reached (spent >= limit), or None.

    Tokens, dollars and wall time are checked first; iterations only when ``iterations`` is true
    (the graph checks them only on an edge that would start a new candidate).
    """
    reached = {
        "max_tokens": (spend.tokens, limits.max_tokens),
        "max_usd": (spend.usd, limits.max_usd),
        "max_minutes": (spend.seconds / 60, limits.max_minutes),
        "max_iterations": (spend.iterations, limits.max_iterations),
    }
    for kind, (spent, limit) in reached.items():
        if kind == "max_iterations" and not iterations:
            continue
        if limit is not None and spent >= limit:
            return kind
    return None


def would_exceed(limits: BudgetLimits, spend: Spend, est_tokens: int, est_usd: float) -> str | None:
    """The limit a model call estimated at ``est_tokens`` / ``est_usd`` would break, or None.

    Tokens and dollars break when spent + estimate goes past the limit (landing exactly on it
    is allowed). Wall time breaks when it is already used up, since any call takes time. A model
    call never breaks the iteration limit: the graph counts iterations and checks them at its
    own gate, so an iteration in progress may finish its calls.
    """
    if limits.max_tokens is not None and spend.tokens + est_tokens > limits.max_tokens:
        return "max_tokens"
    if limits.max_usd is not None and spend.usd + est_usd > limits.max_usd:
        return "max_usd"
    if limits.max_minutes is not None and spend.seconds / 60 >= limits.max_minutes:
        return "max_minutes"
    return None
