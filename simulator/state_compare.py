"""Value snapshots of a policy's own state, to tell whether a quiet call changed anything.

Lists, tuples, dicts, sets, deques and plain objects (their ``__dict__`` / slots) are compared by
value; the simulator's model objects (pipelines, operators, containers, pools, ...), functions,
classes and modules by identity. The policy module's own functions and classes are code, but they
can hold state too, and that state is compared by value (`PolicyCode`): a class's attributes
(``Cls.count += 1``), a function's attributes, its closure's variables (``nonlocal``) and its
mutable default arguments. An object the snapshot cannot see into (a generator, say) never
compares equal, so a policy that keeps one is called tick by tick: slower, still exact.

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

from simulator import scheduling, workload
from simulator.identity import same, token
from simulator.policy_loader import POLICY_MODULE_PREFIX, provided_names
from simulator.policy_writes import MISSING, MODEL_TYPES, WRITES_NAME

# A function of a compiled simulator module (`simulator.native`) is not a FunctionType; `token`
# is one of them exactly when the simulator is compiled.
_COMPILED_FUNCTION: type = type(token)
# (the enums among the model types are atoms to `_freeze`: it looks at atoms first)
_IDENTITY_TYPES: tuple[type, ...] = (
    *MODEL_TYPES,
    types.ModuleType,
    _COMPILED_FUNCTION,
    types.MemberDescriptorType,
    types.GetSetDescriptorType,
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


class _Opaque:
    """What a snapshot cannot see into: equal to nothing, so the state counts as changed."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)


def _kept(memo: dict[int, Any], obj: Any) -> Any:
    """``obj``, made for this walk, kept alive until it ends: the memo goes by ``id()``, and a
    freed object's id is soon another's."""
    memo.setdefault(-1, []).append(obj)
    return obj


def freeze(obj: Any, memo: dict[int, int] | None = None) -> Any:
    """A hashable, comparable snapshot of ``obj``'s value."""
    memo = {} if memo is None else memo
    return _freeze(obj, memo)


def _freeze(obj: Any, memo: dict[int, int]) -> Any:
    if isinstance(obj, _ATOMS):
        if isinstance(obj, float) and math.isnan(obj):
            return ("nan",)
        return obj
    # (a policy's own function is state, below; uncompiled, `_COMPILED_FUNCTION` is FunctionType)
    policy_function = isinstance(obj, types.FunctionType) and is_policy_code(obj)
    if not policy_function and isinstance(obj, _IDENTITY_TYPES + (types.FunctionType,)):
        return _Ident(obj)
    if isinstance(obj, types.BuiltinFunctionType):  # a C function, or one bound to an object
        owner = obj.__self__
        if owner is None or isinstance(owner, types.ModuleType):
            return _Ident(obj)
        return ("bound", obj.__name__, _freeze(owner, memo))
    if isinstance(obj, types.MethodType):
        return ("method", _freeze(obj.__func__, memo), _freeze(obj.__self__, memo))
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
    if policy_function:
        return ("function", _Ident(obj), _freeze(_kept(memo, function_state(obj)), memo))
    if isinstance(obj, types.MappingProxyType):
        return ("mappingproxy", tuple((_freeze(k, memo), _freeze(v, memo)) for k, v in obj.items()))
    if isinstance(obj, (staticmethod, classmethod)):
        return (type(obj).__name__, _freeze(obj.__func__, memo))
    if isinstance(obj, property):
        return ("property", _freeze(_kept(memo, (obj.fget, obj.fset, obj.fdel)), memo))
    if isinstance(obj, type):
        if not is_policy_code(obj):
            return _Ident(obj)
        return ("class", _Ident(obj), _freeze(_kept(memo, class_state(obj)), memo))
    fields: list[tuple[str, Any]] = []
    if hasattr(obj, "__dict__"):
        fields.extend(vars(obj).items())
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                fields.append((slot, getattr(obj, slot)))
    if not fields:
        try:  # a C object (an itertools counter, a partial): its value is what it pickles as
            reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - a generator, say: nothing to compare it by
            return _Opaque(obj)
        return ("reduced", type(obj), _freeze(_kept(memo, reduced), memo))
    cls = _freeze(type(obj), memo) if is_policy_code(type(obj)) else type(obj)
    return (cls, tuple((k, _freeze(v, memo)) for k, v in fields))


# --- the policy's code, as state ---------------------------------------------------------------

# A class's own names that are its machinery, not the policy's data.
_INERT_CLASS_NAMES = frozenset({
    "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
    "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__slots__",
    "__orig_bases__", "__parameters__", "__firstlineno__", "__static_attributes__",
})
_CELL = operator.attrgetter("cell_contents")
_EMPTY_CELL = ("empty cell",)


def is_policy_code(obj: Any) -> bool:
    """Whether a function or class was defined by a policy file (not the simulator, not a
    library)."""
    return str(getattr(obj, "__module__", None) or "").startswith(POLICY_MODULE_PREFIX)


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a variable not assigned yet
        return _EMPTY_CELL


def function_state(fn: types.FunctionType) -> tuple[Any, ...]:
    """Where a function keeps state: its attributes, defaults and closure's variables."""
    cells = tuple(map(_cell_value, fn.__closure__ or ()))
    return fn.__dict__, fn.__defaults__, fn.__kwdefaults__, cells


def class_state(cls: type) -> dict[str, Any]:
    """A class's own attributes, but for its machinery (`_INERT_CLASS_NAMES`)."""
    return {k: v for k, v in vars(cls).items() if k not in _INERT_CLASS_NAMES}


def _model_writes(module: types.ModuleType) -> Any:
    """What the policy stored on simulator objects (`simulator.policy_writes`), with values."""
    writes = vars(module).get(WRITES_NAME)
    return writes.state() if writes is not None else None


class PolicyCode:
    """The functions and classes a policy module defined, found from its globals (and from
    their closures, defaults and class bodies), with where each keeps state.

    `state` gives, cheaply, everything that can change through ordinary code: each function's
    attributes (``f.calls += 1``), closure variables (``nonlocal``) and the contents of its
    mutable defaults, each class's own attributes (its methods by identity). `changed_shape`
    says when a class gained or lost an attribute: then collect again. What is not seen is a
    rewrite of a function's own machinery (``f.__defaults__ = ...``, ``f.__code__ = ...``): the
    static checks reject dunder attributes in policy files.
    """

    def __init__(self, module: types.ModuleType) -> None:
        self.functions: list[types.FunctionType] = []
        self.classes: list[type] = []
        seen: set[int] = set()
        stack = [v for k, v in vars(module).items() if not k.startswith("__")]
        while stack:
            value = stack.pop()
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                stack.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
                continue
            if id(value) in seen or not isinstance(value, (types.FunctionType, type)):
                continue
            if not is_policy_code(value):
                continue
            seen.add(id(value))
            if isinstance(value, type):
                self.classes.append(value)
                stack.extend(vars(value).values())
            else:
                self.functions.append(value)
                stack.extend(map(_cell_value, value.__closure__ or ()))
                stack.extend(value.__defaults__ or ())
                stack.extend((value.__kwdefaults__ or {}).values())
        fns = self.functions
        self.fdicts = [fn.__dict__ for fn in fns]  # made on first read, the same dict after
        self.cells = [c for fn in fns for c in fn.__closure__ or ()]
        self.mutable_defaults = [
            d for fn in fns
            for d in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values())
            if not isinstance(d, _ATOMS + _CODE_TYPES)
        ]
        self.proxies = [vars(cls) for cls in self.classes]
        self.lengths = list(map(len, self.proxies))
        names = [[k for k in p if k not in _INERT_CLASS_NAMES] for p in self.proxies]
        self.getters = [operator.itemgetter(*n) if n else len for n in names]
        # What `state` shows by identity (a memo reference): the code itself.
        self.code = [*fns, *self.classes, _EMPTY_CELL,
                     *(v for p, n in zip(self.proxies, names, strict=True) for k in n
                       if isinstance(v := p[k], _CLASS_CODE))]

    def changed_shape(self) -> bool:
        """Whether a class gained or lost an attribute (`state` would miss a new one)."""
        return bool(self.proxies) and list(map(len, self.proxies)) != self.lengths

    def state(self) -> tuple[Any, ...]:
        """Everything of the code that can change, for a snapshot to pickle, each part None
        where there is nothing (KeyError if a class lost an attribute: `changed_shape` then
        says so)."""
        fdicts = self.fdicts
        attrs = (list(map(len, fdicts)), list(filter(None, fdicts))) if any(fdicts) else None
        cells = None
        if self.cells:
            try:
                cells = list(map(_CELL, self.cells))
            except ValueError:
                cells = list(map(_cell_value, self.cells))
        classes = (list(map(operator.call, self.getters, self.proxies))  # type: ignore[arg-type]
                   if self.proxies else None)
        return attrs, cells, self.mutable_defaults or None, classes


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
        # (the globals' functions and classes bring their own state: `_freeze` walks into it)
        globs += (_freeze(_model_writes(module), memo),)
    return attrs, pools, globs


# --- the fast probe ----------------------------------------------------------------------------

_HOOKS = ("__reduce__", "__reduce_ex__", "__getstate__", "__getnewargs__", "__getnewargs_ex__")
# Globals that are code or constants: modules, classes, functions, ``from __future__`` flags.
_CODE_TYPES = (types.ModuleType, type, types.FunctionType, _COMPILED_FUNCTION,
               type(__future__.annotations))
# A class attribute that is code (shown by identity; a function's own state is `PolicyCode`'s).
_CLASS_CODE = (types.FunctionType, staticmethod, classmethod, property, type,
               types.MemberDescriptorType, types.GetSetDescriptorType, _COMPILED_FUNCTION,
               types.BuiltinFunctionType)
_POOL_FIELDS = operator.attrgetter(
    "avail_cpu_pool", "avail_ram_pool", "max_cpu_pool", "max_ram_pool"
)
_by_token = operator.attrgetter("_snap")
_DISPATCH: dict[Any, Any] = dict(copyreg.dispatch_table)
for _cls in MODEL_TYPES:
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
    """Snapshots of one policy's state (``s``, its module's globals and the state its code
    keeps, `PolicyCode`) for equality tests."""

    def __init__(self, s: Any, module: types.ModuleType | None) -> None:
        self.s = s
        self.module = module
        self.buf = io.BytesIO()
        self.pickler = pickle.Pickler(self.buf, protocol=pickle.HIGHEST_PROTOCOL)
        table = _DISPATCH
        self.fast = not _own_pickling_hooks(module)
        self.provided: dict[str, Any] = {}
        if module is not None:
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
        self._base_memo = self.pickler.memo.copy()
        self._splits = 0  # how often the module's globals were split: a rebinding shows in it
        self._code: PolicyCode | None = None
        self._writes: Any = None
        if module is not None:
            self._writes = vars(module).get(WRITES_NAME)
            self._split_globals()
        else:
            self._prime()

    def _prime(self) -> None:
        """The memo every snapshot starts from: the primer's, the engine's attributes of ``s``
        and the policy's code, each a reference without being pickled. The engine's attributes
        count by identity (a policy that rebinds one is seen; none of them is its data); so does
        code, whose own state `PolicyCode.state` shows by value."""
        memo = dict(self._base_memo)
        code = [*(self._code.code if self._code is not None else []), MISSING]
        for value in (*(vars(self.s).get(name) for name in _ENGINE_ATTRS), *code):
            if value is not None and id(value) not in memo:
                memo[id(value)] = (len(memo), value)
        primed = pickle.Pickler(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
        primed.memo = memo
        self._memo_keep = (memo, primed)  # the objects stay alive while their ids are keys
        self._memo = primed.memo  # a proxy: assigning it copies the table in C, not a dict

    def snapshot(self) -> Any:
        """A value that compares equal to another snapshot only if the state did not change."""
        if self.fast:
            try:
                return self._pickled()
            except Exception:  # noqa: BLE001 - anything unpicklable: use the slow walk from now on
                self.fast = False
        return freeze_policy_state(self.s, self.module)

    def _split_globals(self) -> None:
        """Which module globals are state (data) and which are code or provided names; the
        policy's code collected again, and the memo primed with it."""
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
        self._gget = operator.itemgetter(*keys) if keys else None
        self._ex_get = operator.itemgetter(*ex_keys) if ex_keys else None
        self._ex_vals = self._ex_get(d) if self._ex_get is not None else None
        self._code = PolicyCode(self.module)  # type: ignore[arg-type]
        self._prime()

    def _globals(self) -> tuple[int, tuple[str, ...], Any]:
        """The data globals; re-split whenever a name is added or removed, or a code or provided
        name is rebound, or the code changed shape (the count of splits goes with them, so any
        of these is a change)."""
        d = vars(self.module)
        try:
            if (self._glen != len(d) or self._code.changed_shape()  # type: ignore[union-attr]
                    or (self._ex_get is not None and self._ex_get(d) != self._ex_vals)):
                self._split_globals()
        except KeyError:  # a code name removed and another added
            self._split_globals()
        try:
            values = self._gget(d) if self._gget is not None else None
        except KeyError:
            self._split_globals()
            values = self._gget(d) if self._gget is not None else None
        return self._splits, self._gkeys, values

    def _pickled(self) -> bytes:
        s = self.s
        pools = list(map(_POOL_FIELDS, s.executor.pools))
        globs: Any = None
        code: Any = None
        written: Any = None
        if self.module is not None:
            written = self._writes.state() if self._writes is not None else None
            globs = self._globals()
            try:
                code = self._code.state()  # type: ignore[union-attr]
            except KeyError:  # a class lost an attribute
                self._split_globals()
                globs = self._globals()
                code = self._code.state()  # type: ignore[union-attr]
        buf = self.buf
        buf.seek(0)
        buf.truncate()
        self.pickler.memo = self._memo
        self.pickler.dump((vars(s), pools, globs, code, written))
        return buf.getvalue()
