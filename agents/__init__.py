"""policyforge's agents: the run graph (planner, coder, critic, reviewer), its budget, models,
persistence and transcripts; the heuristic proposer; chat and review front ends.

Start from `agents.graph` (the state machine) and `agents.runner` (start and resume a run).
"""
