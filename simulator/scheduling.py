"""The policy API: registration decorators, the ``s`` object, and helper job types (spec §8).

Registrations go to the *current* registry. Built-in policies live in their own registry; each
policy file is loaded into a fresh one (`simulator.policy_loader`), so nothing registered by one
load leaks into the next and the same file can be loaded twice in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from simulator.workload import Operator, Pipeline, Priority

PolicyFunc = Callable[..., Any]


@dataclass
class Registry:
    """Init and scheduling functions by key."""

    init_algos: dict[str, PolicyFunc] = field(default_factory=dict)
    scheduling_algos: dict[str, PolicyFunc] = field(default_factory=dict)

    def keys(self) -> list[str]:
        """Keys registered in either table, in registration order."""
        return list(dict.fromkeys([*self.init_algos, *self.scheduling_algos]))


BUILTINS = Registry()
USER = Registry()
_current: ContextVar[Registry] = ContextVar("policyforge_registry", default=USER)


def current_registry() -> Registry:
    """The registry decorators write to right now."""
    return _current.get()


def _register(table: str, key: str) -> Callable[[PolicyFunc], PolicyFunc]:
    def decorator(func: PolicyFunc) -> PolicyFunc:
        algos: dict[str, PolicyFunc] = getattr(_current.get(), table)
        if key in algos:
            raise KeyError(f"Algorithm key '{key}' is already registered.")
        algos[key] = func
        return func

    return decorator


def register_scheduler_init(key: str) -> Callable[[PolicyFunc], PolicyFunc]:
    """Register ``init(s)`` under ``key``."""
    return _register("init_algos", key)


def register_scheduler(key: str) -> Callable[[PolicyFunc], PolicyFunc]:
    """Register ``policy(s, results, pipelines) -> (suspensions, assignments)`` under ``key``."""
    return _register("scheduling_algos", key)


class _RegistryView(dict):  # type: ignore[type-arg]
    """``INIT_ALGOS`` / ``SCHEDULING_ALGOS`` as policies see them: the current registry's table."""

    def __init__(self, table: str) -> None:
        super().__init__()
        self._table = table

    def _d(self) -> dict[str, PolicyFunc]:
        d: dict[str, PolicyFunc] = getattr(_current.get(), self._table)
        return d

    def __getitem__(self, key: str) -> PolicyFunc:
        return self._d()[key]

    def __setitem__(self, key: str, value: PolicyFunc) -> None:
        self._d()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._d()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._d())

    def __len__(self) -> int:
        return len(self._d())

    def get(self, key: str, default: Any = None) -> Any:
        return self._d().get(key, default)

    def keys(self):  # type: ignore[no-untyped-def]
        return self._d().keys()

    def items(self):  # type: ignore[no-untyped-def]
        return self._d().items()

    def values(self):  # type: ignore[no-untyped-def]
        return self._d().values()

    def pop(self, key: str, *default: Any) -> Any:
        return self._d().pop(key, *default)

    def __repr__(self) -> str:
        return repr(self._d())


INIT_ALGOS = _RegistryView("init_algos")
SCHEDULING_ALGOS = _RegistryView("scheduling_algos")


class Scheduler:
    """The ``s`` object every policy receives: clock, executor, params, plus its own state."""

    def __init__(
        self,
        clock: Any,
        executor: Any,
        scheduler_algo: str,
        init_func: PolicyFunc,
        algo_func: PolicyFunc,
        **params: Any,
    ) -> None:
        self.clock = clock
        self.executor = executor
        self.params = params
        self.algo_name = scheduler_algo
        self.algo_func = algo_func
        init_func(self)

    def run_one_tick(self, results: list[Any], pipelines: list[Pipeline]) -> Any:
        """Call the policy once."""
        return self.algo_func(self, results, pipelines)


@dataclass
class RetryStats:
    """What a failed or suspended container had: used to size its retry."""

    old_ram: float
    old_cpu: float
    error: str | None
    container_id: str | None
    pool_id: int


class WaitingQueueJob:
    """A queued unit of work: a pipeline's operators, with retry information if any."""

    def __init__(
        self,
        priority: Priority,
        p: Pipeline | None = None,
        ops: list[Operator] | None = None,
        retry_stats: RetryStats | None = None,
    ) -> None:
        self.priority = priority
        self.pipeline = p
        self.ops = ops
        self.retry_stats = retry_stats

    def __repr__(self) -> str:
        pid = self.pipeline.pipeline_id if self.pipeline else None
        return f"WaitingQueueJob({self.priority.name}, {pid}, {len(self.ops or [])} ops)"


def get_pool_with_max_avail_ram(s: Any, pool_stats: Any) -> int:
    """Pool index with the largest positive ``avail_ram`` among pools with free CPU (-1: none)."""
    best, best_ram = -1, 0
    for i in range(s.executor.num_pools):
        st = pool_stats[i]
        if st["avail_cpu"] > 0 and st["avail_ram"] > best_ram:
            best, best_ram = i, st["avail_ram"]
    return best
