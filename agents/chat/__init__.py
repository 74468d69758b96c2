"""``policyforge chat``: the planner as a conversation (graph in `agents.chat.graph`)."""
