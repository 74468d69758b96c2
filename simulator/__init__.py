"""policyforge's simulator: an event-driven, Eudoxia-exact FaaS scheduling simulator.

Public API: ``simulate(params, trace=None, policy=None)`` returns a ``SimulatorStats``.
Heavy modules load lazily so ``import simulator`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from simulator import native

native.select()  # before any hot module loads: compiled, or the pure Python fallback

# The package's public surface: these names, and the modules other packages may import (the
# rest are internals; tests/house/test_surface.py guards both).
__all__ = [
    "PipelineStats", "SimulatorStats", "default_params", "load_params", "simulate",
    "clock", "decision_log", "engine", "errors", "executor", "gc_pause", "generator", "native",
    "native_build", "observer", "params", "policy_loader", "profile", "python_ast", "scheduling",
    "stats", "strict_json", "trace_io", "workload",
]


def __getattr__(name: str) -> Any:
    if name == "simulate":
        from simulator.engine import simulate

        return simulate
    if name in ("SimulatorStats", "PipelineStats"):
        from simulator import stats

        return getattr(stats, name)
    if name in ("load_params", "default_params"):
        from simulator import params

        return getattr(params, name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
