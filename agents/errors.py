"""The agents' branch of the error tree (`simulator.errors` draws the whole tree).

Every error the agents raise on purpose is an `AgentError`. Most are defined beside the code that
raises them (`agents.models.ModelConfigError`, `agents.pricing.PricingError`,
`agents.objective.ObjectiveError`, `agents.budget.BudgetExhausted`, `agents.calls.ModelCallFailed`
and `MalformedOutput`, `agents.run_store.RunNotFound` and `BadRunFolder`,
`agents.export.ExportError`, `agents.review.rundir.ReviewError`, `agents.review.browser
.BrowserError`, `agents.scripted.ScriptExhausted`); the few with no better home are here.
"""

from __future__ import annotations

from simulator.errors import PolicyforgeError


class AgentError(PolicyforgeError):
    """Base class of every error the agents raise on purpose."""

    kind = "agent_error"


class HeuristicError(AgentError):
    """A heuristic-proposer input that cannot be used (bad key, no cases to evaluate)."""

    kind = "heuristic_error"
