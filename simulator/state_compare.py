"""Value snapshots of a policy's own state, to tell whether a quiet call changed anything.

Lists, tuples, dicts, sets, deques and plain objects (their ``__dict__`` / slots) are compared by
value; the simulator's model objects (pipelines, operators, containers, pools, ...), functions,
classes and modules by identity.

`StateProbe` is the fast way: it pickles the state (C code end to end) with the simulator's
objects reduced to their identity tokens (`simulator.identity`), and compares bytes. Equal bytes
mean equal values; unequal bytes may also come from equal values (a set's iteration order, ``1``
against ``1.0``), which only makes the engine call the policy tick by tick, so it stays exact.
State that cannot be pickled this way (lambdas, local classes, generators, a policy class with
its own pickling hooks) falls back to `freeze_policy_state`, the slower walk.
"""

from __future__ import annotations
import __future__

import copyreg
import io
import math
import operator
import pickle
import random
import types
from collections import deque
from enum import Enum
from typing import Any

import numpy as np

from simulator import executor, scheduling, workload
from simulator.identity import same, token

# A function of a compiled simulator module (`simulator.native`) is not a FunctionType; `token`
# is one of them exactly when the simulator is compiled.
_COMPILED_FUNCTION: type = type(token)
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
    _COMPILED_FUNCTION,
    types.BuiltinFunctionType,
    types.MethodType,
    type,
)
_ATOMS = (type(None), bool, int, float, complex, str, bytes, Enum, range)
# ``s``'s attributes holding the engine's objects: compared by identity (a snapshot names them by
# reference). ``s.params`` is the policy's copy, compared by value like its other attributes.
_ENGINE_ATTRS = ("clock", "executor", "algo_func")


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
        (k, _Ident(v) if k in _ENGINE_ATTRS else _freeze(v, memo)) for k, v in vars(s).items()
    )
    pools = tuple(
        (p.avail_cpu_pool, p.avail_ram_pool, p.max_cpu_pool, p.max_ram_pool)
        for p in s.executor.pools
    )
    globs: Any = ()
    if module is not None:
        # code (modules, classes, functions) by identity: rebinding a name to other code is a
        # change of state like any other
        globs = tuple(
            (k, _freeze(v, memo)) for k, v in vars(module).items() if not k.startswith("__")
        )
    return attrs, pools, globs


# --- the fast probe ----------------------------------------------------------------------------

_HOOKS = ("__reduce__", "__reduce_ex__", "__getstate__", "__getnewargs__", "__getnewargs_ex__")
# Globals that are code or constants: modules, classes, functions, ``from __future__`` flags.
_CODE_TYPES = (types.ModuleType, type, types.FunctionType, _COMPILED_FUNCTION,
               type(__future__.annotations))
_POOL_FIELDS = operator.attrgetter(
    "avail_cpu_pool", "avail_ram_pool", "max_cpu_pool", "max_ram_pool"
)
_by_token = operator.attrgetter("_snap")
_DISPATCH: dict[Any, Any] = dict(copyreg.dispatch_table)
for _cls in (
    workload.Node,
    workload.Operator,
    workload.Pipeline,
    workload.DAG,
    workload.PipelineRuntimeStatus,
    workload.Segment,
    executor.Container,
    executor.ResourcePool,
    executor.Executor,
    executor.Assignment,
    executor.ExecutionResult,
    executor.Suspend,
    workload.Priority,
    workload.OperatorState,
):
    _DISPATCH[_cls] = _by_token
for _enum in (workload.Priority, workload.OperatorState):
    for _member in _enum:
        _member._snap = token()  # type: ignore[union-attr]


# A plain object's reduction computed in C: (its class, a tuple, its __dict__). Never unpickled,
# only compared: equal bytes mean the same class and equal attributes.
_by_dict = operator.attrgetter("__class__", "__class__.__bases__", "__dict__")
for _plain in (scheduling.WaitingQueueJob, scheduling.RetryStats):
    _DISPATCH[_plain] = _by_dict


def _plain_class(cls: type, module_name: str) -> bool:
    """A class of the policy module whose instances are just their ``__dict__``."""
    if type(cls) is not type or getattr(cls, "__module__", None) != module_name:
        return False
    for base in cls.__mro__[:-1]:
        if base.__module__ != module_name or "__slots__" in vars(base):
            return False
        if any(hook in vars(base) for hook in _HOOKS):
            return False
    return cls.__mro__[-1] is object


def _module_dispatch(module: types.ModuleType) -> dict[Any, Any]:
    """The dispatch table plus the policy module's own plain classes."""
    table = dict(_DISPATCH)
    for value in list(vars(module).values()):
        if isinstance(value, type) and _plain_class(value, module.__name__):
            table[value] = _by_dict
    return table


def _module_token(mod: types.ModuleType) -> Any:
    return (_module_named, (mod.__name__,))


def _module_named(name: str) -> Any:
    raise TypeError(f"module token {name} is not meant to be unpickled")


_DISPATCH[types.ModuleType] = _module_token


def _own_pickling_hooks(module: types.ModuleType | None) -> bool:
    """Whether a class defined in the policy module customizes how it pickles."""
    if module is None:
        return False
    for value in list(vars(module).values()):
        if not isinstance(value, type):
            continue
        for base in value.__mro__:
            if getattr(base, "__module__", None) == module.__name__ and any(
                hook in vars(base) for hook in _HOOKS
            ):
                return True
    return False


class StateProbe:
    """Snapshots of one policy's state (``s`` and its module's globals) for equality tests."""

    def __init__(self, s: Any, module: types.ModuleType | None) -> None:
        self.s = s
        self.module = module
        self.buf = io.BytesIO()
        self.pickler = pickle.Pickler(self.buf, protocol=pickle.HIGHEST_PROTOCOL)
        table = _DISPATCH
        self.fast = not _own_pickling_hooks(module)
        self.provided: dict[str, Any] = {}
        if module is not None:
            from simulator.policy_loader import provided_names

            self.provided = provided_names()
            table = _module_dispatch(module)
        self.pickler.dispatch_table = table
        # Every snapshot starts from the same memo, primed with the classes, functions and enum
        # members that recur in every snapshot, so each costs a memo reference, not a lookup.
        classes = [c for c, r in table.items() if r is _by_dict]
        self._primer = (
            same,
            _module_named,
            *classes,
            *{c.__bases__ for c in classes},
            *workload.Priority,
            *workload.OperatorState,
            *vars(s),  # the names of ``s``'s attributes (the same str objects every time)
            *(vars(s).get("params") or ()),  # and of the params
        )
        self.pickler.dump(self._primer)
        memo = self.pickler.memo.copy()
        # The engine's own attributes of ``s`` become references without being pickled: their
        # identity is what counts (a policy that rebinds one is seen; none of them is its data).
        for name in _ENGINE_ATTRS:
            value = vars(s).get(name)
            if value is not None and id(value) not in memo:
                memo[id(value)] = (len(memo), value)
        self._memo = memo
        self._splits = 0  # how often the module's globals were split: a rebinding shows in it

    def snapshot(self) -> Any:
        """A value that compares equal to another snapshot only if the state did not change."""
        if self.fast:
            try:
                return self._pickled()
            except Exception:  # noqa: BLE001 - anything unpicklable: use the slow walk from now on
                self.fast = False
        return freeze_policy_state(self.s, self.module)

    def _split_globals(self) -> None:
        """Which module globals are state (data) and which are code or provided names."""
        d = vars(self.module)
        provided = self.provided
        keys, ex_keys, ex_vals = [], [], []
        for k, v in d.items():
            if k.startswith("__"):
                continue
            if provided.get(k, provided) is v or isinstance(v, _CODE_TYPES):
                ex_keys.append(k)
                ex_vals.append(v)
            else:
                keys.append(k)
        self._glen = len(d)
        self._splits += 1
        self._gkeys = tuple(keys)
        self._ex_keys = ex_keys
        self._ex_vals = ex_vals

    def _globals(self) -> tuple[int, tuple[str, ...], list[Any]]:
        """The data globals; re-split whenever a name is added or removed, or a code or provided
        name is rebound (the count of splits goes with them, so a rebinding is a change)."""
        d = vars(self.module)
        if getattr(self, "_glen", -1) != len(d) or list(map(d.get, self._ex_keys)) != self._ex_vals:
            self._split_globals()
        try:
            return self._splits, self._gkeys, list(map(d.__getitem__, self._gkeys))
        except KeyError:
            self._split_globals()
            return self._splits, self._gkeys, list(map(d.__getitem__, self._gkeys))

    def _pickled(self) -> bytes:
        s = self.s
        pools = list(map(_POOL_FIELDS, s.executor.pools))
        globs = self._globals() if self.module is not None else None
        buf = self.buf
        buf.seek(0)
        buf.truncate()
        self.pickler.memo = self._memo
        self.pickler.dump((vars(s), pools, globs))
        return buf.getvalue()
