"""policyforge's agents: the run graph (planner, coder, critic, reviewer), its budget, models,
persistence and transcripts; the heuristic proposer; chat and review front ends.

Start from `agents.graph` (the state machine) and `agents.lifecycle` (start and resume a run).
"""

# The modules the front end may import (tests/house/test_surface.py guards it).
__all__ = [
    "budget", "chat", "errors", "export", "graph", "models", "objective", "pricing", "progress",
    "lifecycle", "review", "run_config", "run_lock", "run_store", "state",
]
