"""Exit codes of ``policyforge run`` (kept apart so the CLI can start without the agent stack)."""

EXIT_ACCEPTED = 0  # a policy was accepted by the critic and the reviewer
EXIT_ERROR = 1  # the run failed (a non-transient model error, a sandbox failure)
EXIT_BAD_INPUT = 2  # bad input or usage, or no model configured
EXIT_BUDGET = 3  # the budget ran out before any policy was accepted
EXIT_INTERRUPTED = 130  # Ctrl-C, or stopped from chat: resumable
