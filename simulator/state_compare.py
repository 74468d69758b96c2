"""Value snapshots of a policy's own state, to tell whether a quiet call changed anything.

Lists, tuples, dicts, sets, deques and plain objects (their ``__dict__`` / slots) are compared by
value; the simulator's model objects (pipelines, operators, containers, pools, ...), functions,
classes and modules by identity.
"""

from __future__ import annotations

import math
import random
import types
from collections import deque
from enum import Enum
from typing import Any

import numpy as np

from simulator import executor, workload

_IDENTITY_TYPES: tuple[type, ...] = (
    workload.Node,
    workload.DAG,
    workload.PipelineRuntimeStatus,
    workload.Segment,
    executor.Container,
    executor.ResourcePool,
    executor.Executor,
    executor.Assignment,
    executor.ExecutionResult,
    executor.Suspend,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    type,
)
_ATOMS = (type(None), bool, int, float, complex, str, bytes, Enum, range)


class _Ident:
    """Compares equal only to a wrapper of the same object."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ident) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def freeze(obj: Any, memo: dict[int, int] | None = None) -> Any:
    """A hashable, comparable snapshot of ``obj``'s value."""
    memo = {} if memo is None else memo
    return _freeze(obj, memo)


def _freeze(obj: Any, memo: dict[int, int]) -> Any:
    if isinstance(obj, _ATOMS):
        if isinstance(obj, float) and math.isnan(obj):
            return ("nan",)
        return obj
    if isinstance(obj, _IDENTITY_TYPES):
        return _Ident(obj)
    key = id(obj)
    if key in memo:
        return ("ref", memo[key])
    memo[key] = len(memo)
    if isinstance(obj, (list, tuple, deque)):
        return (type(obj).__name__, tuple(_freeze(x, memo) for x in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((_freeze(k, memo), _freeze(v, memo)) for k, v in obj.items()))
    if isinstance(obj, (set, frozenset)):
        return ("set", frozenset(_freeze(x, memo) for x in obj))
    if isinstance(obj, np.ndarray):
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, np.generic):
        return ("npscalar", obj.item())
    if isinstance(obj, random.Random):
        return ("random", obj.getstate())
    if isinstance(obj, np.random.Generator):
        return ("npgen", repr(obj.bit_generator.state))
    if isinstance(obj, np.random.BitGenerator):
        return ("npbitgen", repr(obj.state))
    fields: list[tuple[str, Any]] = []
    if hasattr(obj, "__dict__"):
        fields.extend(vars(obj).items())
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                fields.append((slot, getattr(obj, slot)))
    if not fields:
        return _Ident(obj)
    return (type(obj), tuple((k, _freeze(v, memo)) for k, v in fields))


def freeze_policy_state(s: Any, module: types.ModuleType | None) -> Any:
    """Snapshot of the ``s`` object's own attributes and the policy module's globals."""
    memo: dict[int, int] = {}
    attrs = tuple(
        (k, _freeze(v, memo))
        for k, v in vars(s).items()
        if k not in ("clock", "executor", "params", "algo_func")
    )
    pools = tuple(
        (p.avail_cpu_pool, p.avail_ram_pool, p.max_cpu_pool, p.max_ram_pool)
        for p in s.executor.pools
    )
    globs: Any = ()
    if module is not None:
        globs = tuple(
            (k, _freeze(v, memo))
            for k, v in vars(module).items()
            if not k.startswith("__")
            and not isinstance(v, (types.ModuleType, type, types.FunctionType))
        )
    return attrs, pools, globs
