"""The one table of exit codes, shared by every ``policyforge`` command.

| code | meaning |
|---|---|
| 0 | success (``run``: a policy was accepted; ``evaluate``: the evaluation passed) |
| 1 | the work failed: a policy mistake, a rejected or failed evaluation, a failed run |
| 2 | bad input or usage (params, trace, policy, decision log, run folder, flags) |
| 3 | ``run``: the budget ran out before any policy was accepted |
| 130 | interrupted (Ctrl-C, or stopped from chat): a run stays resumable |
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_ACCEPTED = 3
EXIT_INTERRUPTED = 130

# How a run's final status (agents.lifecycle.RunOutcome.status) becomes the exit code of `run`.
RUN_STATUS_EXIT = {
    "accepted": EXIT_OK,
    "budget_exhausted": EXIT_NOT_ACCEPTED,
    "interrupted": EXIT_INTERRUPTED,
    "stopped": EXIT_INTERRUPTED,
}


def run_exit_code(status: str) -> int:
    """The exit code of ``policyforge run`` for a run that ended with ``status``."""
    return RUN_STATUS_EXIT.get(status, EXIT_FAILED)
