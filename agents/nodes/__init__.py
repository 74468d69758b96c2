"""The graph's nodes, one module per role: each takes the state and the `RunContext` and returns
a state update; the ``after_*`` functions choose the next node.

LLM roles call their model through `RunContext.caller` (budgeted, priced, transcribed); with
``--model heuristic`` the planner and coder are the heuristic proposer and the critic and
reviewer are their rules alone, so the loop runs with no model at all.
"""

from agents.nodes.coder import after_coder, coder, tool_logger
from agents.nodes.critic import CriticVerdict, after_critic, critic
from agents.nodes.evaluate import evaluate
from agents.nodes.finish import finish
from agents.nodes.planner import after_objective, objective, planner
from agents.nodes.population import after_join, branch, branch_sends, join, plan_round
from agents.nodes.prepare import prepare
from agents.nodes.reviewer import ReviewVerdict, after_reviewer, reviewer

__all__ = [
    "CriticVerdict", "ReviewVerdict", "after_coder", "after_critic", "after_join",
    "after_objective", "after_reviewer", "branch", "branch_sends", "coder", "critic", "evaluate",
    "finish", "join", "objective", "plan_round", "planner", "prepare", "reviewer",
    "tool_logger",
]
