"""The heuristic proposer (`--model heuristic`): a clearly labelled non-LLM baseline.

It composes scheduling policies from known heuristics (`config.HeuristicConfig`), renders each as
one readable Eudoxia policy file (`render.render_policy`), and tunes the knobs from simulation
feedback (`proposer.HeuristicProposer`). It makes the agent loop runnable without a model endpoint
and is the baseline an LLM-written policy must beat. `evaluation` runs policies in-process for
tests and benchmarks (not the sandbox).
"""

from agents.errors import HeuristicError
from agents.heuristic.config import HeuristicConfig, knob_space
from agents.heuristic.feedback import CaseOutcome, HeuristicFeedback
from agents.heuristic.proposer import HeuristicProposer
from agents.heuristic.render import render_policy

__all__ = [
    "CaseOutcome",
    "HeuristicConfig",
    "HeuristicError",
    "HeuristicFeedback",
    "HeuristicProposer",
    "knob_space",
    "render_policy",
]
