"""Eudoxia's built-in policies, registered in `simulator.scheduling.BUILTINS` on import."""

from __future__ import annotations

from simulator.scheduling import BUILTINS, _current

_token = _current.set(BUILTINS)
try:
    from simulator.policies import naive, overbook, priority, priority_pool  # noqa: F401
finally:
    _current.reset(_token)

# Policies whose quiet calls (no new pipelines, no results, no decisions) are known to leave their
# state as it was, so the engine need not compare their state before skipping (see engine docs).
QUIET_IDEMPOTENT = frozenset({"naive", "priority", "priority-pool", "overbook"})
