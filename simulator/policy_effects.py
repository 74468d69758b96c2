"""Whether a policy call did anything that could change state: the quiet-call check's fast path.

The event-driven engine skips quiet ticks after a quiet call that left the policy's state equal
(`simulator.state_compare`); proving that by snapshots costs two picklings per quiet call, most
of a user policy's extra cost over the same code built in. A policy file is therefore compiled
so that, as it runs, every operation that *could* change state that outlives the call raises a
flag (`ModelWrites.dirty`). A quiet call that ends with the flag down changed nothing: no
snapshot is needed. One that raised it is checked by snapshots as before, so the flag only has to
be conservative, never exact.

What raises the flag (everything else is reading, or building new objects):

* any store or delete through an attribute (`simulator.policy_writes`) or a subscript
  (``x[k] = v``, ``del x[k]``, ``x[k] += v``), except a subscript of a *fresh local*: a name
  of the function every binding of which is a new list, dict or set (``x = []``, a display, a
  comprehension, ``set()``); there ``x[k] op= v`` still raises it unless the element is
  immutable, and a slice store checks what it consumes;
* entering a function that declares ``global`` or ``nonlocal``; ``with``, ``import`` inside a
  function, an ``async`` function; ``x op= v`` on a name whose value is not immutable (``aug``);
* a call, unless it is known not to change anything: the policy file's own functions and plain
  classes (their bodies are compiled the same way, so they raise the flag themselves), builtins
  that only compute (``len``, ``min``, ``sorted``...; those that consume an iterable get it
  checked, keyword and ``*args`` forms included, ``key=`` checked as a callee), ``math``, the
  simulator's read methods and constructors, a builtin container's reading method (by name,
  unless the file binds that name as data anywhere, then checked when called), or any method of
  a fresh local. ``next`` raises it unless its argument is a generator expression; a decorator is
  a call;
* iterating (``for``, a comprehension, unpacking at any depth, ``in``, ``*x``, ``yield from``,
  an iterable a builtin consumes) over an *iterator* (anything with ``__next__``): consuming it
  changes it. What a loop or an assignment unpacks is checked as deep as it unpacks, and what a
  ``__iter__`` or ``__reversed__`` returns.

The engine adds what no rewrite sees: an operator's transition (an ``Assignment`` built and
dropped) and a decision pair that is not two lists (unpacking it may consume an iterator).

A file this cannot follow is not tracked (every quiet call checked by snapshots, as before): one
that names ``defaultdict`` (a subscript read inserts), imports anything but the modules a policy
may use (or with ``*``, or relatively), uses ``getattr``/``setattr``/``vars``/``globals``/
``exec``/..., reaches a dunder attribute, binds a special method other than by ``def``, makes a
class while it runs (in a function, or by ``type(name, bases, dict)``), or nests too deeply for
the rewrite; and, once it has run, one with a class whose attribute reads or construction run
code it did not write (`_followed_class`).

Checks cost only where something is checked: each function the file defines at load has a
plain variant (`plain_variants`), which `ModelWrites.run_tracked` swaps in for every call the
engine does not check.
"""

from __future__ import annotations

import ast
import builtins
import collections
import functools
import inspect
import itertools
import math
import operator
import re
import types
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from simulator import executor, scheduling, workload
from simulator.policy_writes import (
    INPLACE_OPERATORS,
    MODEL_TYPES,
    OPERATOR_NAME,
    ModelWrites,
    mangled,
)
from simulator.policy_writes import located as _at

IT_NAME = "__policyforge_it__"  # an iterable about to be consumed
EACH_NAME = "__policyforge_each__"  # an iterable whose elements are unpacked
ARGS_NAME = "__policyforge_args__"  # ``*args`` a builtin consumes one by one
CALL_NAME = "__policyforge_call__"  # a callee known only when called
METHOD_NAME = "__policyforge_method__"  # ``obj.name`` about to be called
MUT_NAME = "__policyforge_mut__"  # a subscript target's container
TOUCH_NAME = "__policyforge_touch__"  # raise the flag
AUG_NAME = "__policyforge_aug__"  # ``x op= v`` on a name
KEY_NAME = "__policyforge_key__"  # a local: the key of ``x[k] op= v`` on a new container

# Modules a tracked file may import (a policy's allowed modules; the rest turn tracking off).
TRACKED_IMPORTS = frozenset({
    "math", "heapq", "collections", "collections.abc", "itertools", "functools", "statistics",
    "typing", "dataclasses", "enum", "numpy", "__future__",
})
# Builtins that only compute from their arguments (never call back into anything stateful).
_COMPUTING = ("abs", "bool", "callable", "chr", "complex", "divmod", "float", "format", "hash",
              "id", "int", "isinstance", "issubclass", "len", "ord", "pow", "range", "repr",
              "round", "slice", "str", "type", "bin", "hex", "oct", "object")
# Builtins that consume their positional arguments as iterables (checked with `it`); ``key=``,
# and the function ``map``/``filter`` call, checked as callees.
_CONSUMING = ("all", "any", "dict", "enumerate", "filter", "frozenset", "list", "map", "max",
              "min", "reversed", "set", "sorted", "sum", "tuple", "zip", "iter", "bytes")
# Of those, the ones whose result is a new object (iterating it consumes only checked sources;
# ``iter`` of a checked source is a new iterator, or the source itself, which raised the flag).
_FRESH_RESULT = frozenset(_CONSUMING) - {"max", "min", "sum", "all", "any"}
# Methods that only read, whatever builtin or simulator type they are called on (a policy
# class's method of the same name is compiled like the rest of the file).
PURE_METHODS = frozenset({
    "get", "keys", "values", "items", "copy", "index", "count", "startswith", "endswith",
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "replace", "is_integer",
    "bit_length", "most_common", "total", "join", "union", "intersection", "difference",
    "symmetric_difference", "issubset", "issuperset", "isdisjoint", "fromkeys", "tolist", "item",
    # the simulator's read methods
    "can_suspend_container", "failed", "find_node_by_id", "get_allocated_ram_gb",
    "get_consumed_ram_gb", "get_container_by_id", "get_current_memory_usage",
    "get_latency_ticks", "get_ops", "get_pipeline_id", "get_pool_id_with_max_avail_ram",
    "get_total_ram_gb", "has_timed_out", "is_completed", "is_pipeline_successful",
    "is_suspended", "num_completed", "runtime_status", "state", "ticks_elapsed", "to_dict",
    "get_cpu_time", "get_io_seconds", "get_peak_memory_gb", "get_seconds_until_oom",
    "get_segments",
})
# Of those, the ones that iterate their arguments.
_ITERATING_METHODS = frozenset({
    "join", "union", "intersection", "difference", "symmetric_difference", "issubset",
    "issuperset", "isdisjoint", "fromkeys", "get_ops",
})
# Every method of a fresh local (a new list, dict or set) changes only that new object; these
# iterate an argument.
_FRESH_ITERATING = frozenset({"extend", "update", "difference_update", "intersection_update",
                              "symmetric_difference_update", "union", "intersection",
                              "difference", "symmetric_difference", "issubset", "issuperset",
                              "isdisjoint", "fromkeys"})
_FRESH_CALLS = frozenset({"list", "dict", "set"})
# Types whose instances are iterables but never iterators (the fast path of `it`).
_PLAIN_ITERABLES = frozenset({list, tuple, dict, set, frozenset, str, bytes, range,
                              type({}.keys()), type({}.values()), type({}.items()),
                              collections.deque, np.ndarray})
_IMMUTABLE = frozenset({int, float, bool, str, bytes, tuple, frozenset, complex, type(None),
                        np.float64, np.int64})
_PURE_CALLABLE_TYPES = frozenset({operator.attrgetter, operator.itemgetter})


def _pure_callables() -> dict[int, Any]:
    """Callables known not to change anything, by identity (kept alive as the values)."""
    found: list[Any] = [getattr(builtins, name) for name in _COMPUTING]
    found += [v for v in vars(builtins).values()
              if isinstance(v, type) and issubclass(v, BaseException)]
    found += [v for k, v in vars(math).items()
              if callable(v) and k not in ("fsum", "prod", "dist", "sumprod")]
    found += [operator.attrgetter, operator.itemgetter, executor.Assignment, executor.Suspend,
              scheduling.WaitingQueueJob, scheduling.RetryStats,
              scheduling.get_pool_with_max_avail_ram, workload.Priority, workload.OperatorState]
    for cls in MODEL_TYPES:  # the simulator's reading methods (bound: checked by function)
        found += [v for k, v in vars(cls).items() if k in PURE_METHODS and callable(v)]
    return {id(f): f for f in found}


_PURE = _pure_callables()


def effect_namespace(writes: ModelWrites) -> dict[str, Any]:
    """The functions the rewritten code calls, each raising ``writes.dirty`` when it must."""
    code_ids = writes.code_ids
    pure = writes.pure_ids
    iterator_types: dict[type, bool] = {}

    def it(o: Any) -> Any:
        t = type(o)
        if t not in _PLAIN_ITERABLES:
            known = iterator_types.get(t)
            if known is None:
                known = iterator_types[t] = hasattr(t, "__next__")
            if known:
                writes.dirty = True
        return o

    def element(e: Any, depth: int) -> Any:
        t = type(e)
        if t is tuple or t is list:
            if depth > 1:
                for x in e:
                    element(x, depth - 1)
        elif t not in _PLAIN_ITERABLES:
            it(e)
        return e

    def each(o: Any, depth: int) -> Any:
        """``o``, its elements checked as they come, ``depth`` levels of unpacking deep."""
        return map(element, it(o), itertools.repeat(depth))

    def args(o: Any) -> list[Any]:
        return [it(e) for e in it(o)]

    def call(f: Any) -> Any:
        if writes.dirty:  # raised already: nothing more to learn in this call
            return f
        t = type(f)
        if t is types.MethodType:
            fn = f.__func__
            if type(fn) is types.FunctionType and id(fn.__code__) in code_ids:
                return f
        elif t is types.FunctionType:
            if id(f.__code__) in code_ids:
                return f
        elif id(f) in pure or t in _PURE_CALLABLE_TYPES:
            return f
        elif (t is types.BuiltinMethodType and f.__name__ in PURE_METHODS
              and type(f.__self__) in _PLAIN_ITERABLES):
            return f  # a builtin container's reading method (``d.get``)
        if t is types.MethodType and id(f.__func__) in pure:
            return f  # a simulator object's reading method
        writes.dirty = True
        return f

    def method(obj: Any, name: str) -> Any:
        return call(getattr(obj, name))

    def mut(o: Any) -> Any:
        writes.dirty = True
        return o

    def touch() -> None:
        writes.dirty = True

    def aug(op: Any, x: Any, v: Any) -> Any:
        if type(x) not in _IMMUTABLE:
            writes.dirty = True
        return op(x, v)

    return {IT_NAME: it, EACH_NAME: each, ARGS_NAME: args, CALL_NAME: call, METHOD_NAME: method,
            MUT_NAME: mut, TOUCH_NAME: touch, AUG_NAME: aug}


# Names through which code can rebind, reach or run what the rewrite cannot see.
_UNTRACKABLE_NAMES = frozenset({
    "globals", "vars", "locals", "exec", "eval", "compile", "__import__", "setattr", "delattr",
    "getattr", "breakpoint",
})
# Dunder attributes a tracked file may read (others reach code, frames or dictionaries).
_PLAIN_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__init__", "__class__",
                            "__module__"})
# Dunder names a class body may bind without defining a method.
_CLASS_DATA_DUNDERS = frozenset({"__slots__", "__match_args__", "__annotations__", "__doc__"})


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def trackable(tree: ast.Module, source: str) -> bool:
    """Whether the rewrite can follow this file (see the module doc): no ``defaultdict``, only
    the modules a policy may import, none of the names that reach around the rewrite, no class
    made at run time (inside a function), and no special method bound other than by ``def``."""
    if re.search(r"\bdefaultdict\b", source):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name not in TRACKED_IMPORTS and not a.name.startswith("eudoxia")
                   for a in node.names):
                return False
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level or any(a.name == "*" for a in node.names):
                return False
            if mod not in TRACKED_IMPORTS and not mod.startswith("eudoxia"):
                return False
        elif isinstance(node, ast.Name):
            if node.id in _UNTRACKABLE_NAMES:
                return False
        elif isinstance(node, ast.Attribute):
            if _dunder(node.attr) and node.attr not in _PLAIN_DUNDERS:
                return False
            if not isinstance(node.ctx, ast.Load) and _dunder(node.attr):
                return False
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            body = node.body if isinstance(node.body, list) else [node.body]
            if any(isinstance(n, ast.ClassDef) for n in _scope_walk(body)):
                return False  # a class made while the policy runs
        elif isinstance(node, ast.ClassDef) and not _plain_class_body(node):
            return False
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "type" and (len(node.args) != 1 or node.keywords)):
            return False  # type(name, bases, dict): a class whose special methods are anyone's
    return True


def _plain_class_body(node: ast.ClassDef) -> bool:
    """A class body that binds special methods only by ``def``."""
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                if _dunder(n.id) and n.id not in _CLASS_DATA_DUNDERS and not (
                    n.id == "__hash__" and isinstance(stmt, ast.Assign)
                    and isinstance(stmt.value, ast.Constant) and stmt.value.value is None
                ):
                    return False
    return True


def track_effects(source: str, name: str) -> tuple[ast.Module, bool]:
    """``source`` parsed, and rewritten so its calls raise the flag (see the module doc) when
    it can be tracked: (tree, whether it was)."""
    tree = ast.parse(source, name)
    if not trackable(tree, source):
        return tree, False
    try:
        bindings = _module_bindings(tree)
        top = _top_functions(tree, bindings)
        _Rewriter(bindings, top, _generator_functions(tree, top), _rebound_methods(tree)).visit(
            tree)
    except RecursionError:
        return ast.parse(source, name), False
    return tree, True


def register_module(writes: ModelWrites, code: types.CodeType, module: types.ModuleType,
                    variants: dict[int, tuple[types.CodeType, types.CodeType]]) -> bool:
    """After the file ran: its code objects (so its functions are recognised) and its plain
    classes (constructing one runs only its own, rewritten, ``__init__``). False if one of its
    classes reads or builds through code the rewrite does not follow (`_followed_class`): then
    the file is not tracked."""
    for c in _codes(code):
        writes.code_ids[id(c)] = c
    for _, plain in variants.values():
        for c in _codes(plain):
            writes.code_ids[id(c)] = c
    writes.pure_ids.update(_PURE)
    followed = True
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            followed = followed and _followed_class(value, writes)
            if _plain_class(value, module.__name__, writes):
                writes.pure_ids[id(value)] = value
    if followed:
        writes.swaps = swappable_functions(module, variants)
    return followed


# A frame of such code outlives the call that made it (a generator, a coroutine): always tracked.
_LASTING = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
            | inspect.CO_ITERABLE_COROUTINE)


def plain_variants(tracked: types.CodeType,
                   plain: types.CodeType) -> dict[int, tuple[types.CodeType, types.CodeType]]:
    """For each function the file defines at load (at its top level or in a class body there)
    that is no generator: by its tracked code's id, that code and a variant whose own body is
    ``plain``'s (the file compiled without the effects rewrite) while everything nested in it
    (closures, lambdas, comprehensions: what a call may leave behind) stays tracked. A function
    whose nesting differs between the two is left out (it always runs tracked)."""
    out: dict[int, tuple[types.CodeType, types.CodeType]] = {}
    stack = [(tracked, plain)]
    while stack:
        t, p = stack.pop()
        pairs = _nested_pairs(t, p)
        if pairs is None:
            continue
        for a, b in pairs:
            if not a.co_flags & inspect.CO_OPTIMIZED:
                stack.append((a, b))  # a class body: its functions exist at load too
            elif not a.co_flags & _LASTING:
                inner = _nested_pairs(a, b)
                if inner is None:
                    continue
                swap = {id(y): x for x, y in inner}
                consts = tuple(swap.get(id(c), c) if isinstance(c, types.CodeType) else c
                               for c in b.co_consts)
                out[id(a)] = (a, b.replace(co_consts=consts))
    return out


def _nested_pairs(t: types.CodeType, p: types.CodeType
                  ) -> list[tuple[types.CodeType, types.CodeType]] | None:
    """The code objects nested in ``t`` and ``p``, paired in order; None unless they match."""
    a = [c for c in t.co_consts if isinstance(c, types.CodeType)]
    b = [c for c in p.co_consts if isinstance(c, types.CodeType)]
    if len(a) != len(b) or any((x.co_name, x.co_firstlineno, len(x.co_freevars))
                               != (y.co_name, y.co_firstlineno, len(y.co_freevars))
                               for x, y in zip(a, b, strict=True)):
        return None
    return list(zip(a, b, strict=True))


def swappable_functions(module: types.ModuleType,
                        variants: dict[int, tuple[types.CodeType, types.CodeType]]
                        ) -> list[tuple[Any, types.CodeType, types.CodeType]]:
    """The file's function objects (in its globals and its classes) that have a plain variant,
    each with its two codes; their plain codes join the file's code objects."""
    found: dict[int, tuple[Any, types.CodeType, types.CodeType]] = {}
    stack: list[Any] = list(vars(module).values())
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if type(value) is types.FunctionType:
            pair = variants.get(id(value.__code__))
            if pair is not None and value.__code__ is pair[0]:
                found[id(value)] = (value, *pair)
        elif isinstance(value, (staticmethod, classmethod)):
            stack.append(value.__func__)
        elif isinstance(value, property):
            stack.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
        elif isinstance(value, type) and value.__module__ == module.__name__:
            stack.extend(vars(value).values())
    return list(found.values())


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    stack = [code]
    while stack:
        c = stack.pop()
        yield c
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))


def _ours(f: Any, writes: ModelWrites) -> bool:
    return type(f) is types.FunctionType and id(f.__code__) in writes.code_ids


def _followed_class(cls: type, writes: ModelWrites) -> bool:
    """Whether reading an attribute of ``cls`` or its instances, or building one (a dataclass's
    ``replace`` included), runs only the file's code: properties and static or class methods of
    the file's functions, a dataclass's generated methods, factories that only build."""
    import dataclasses

    generated = "__dataclass_fields__" in vars(cls)
    for name, value in vars(cls).items():
        if isinstance(value, property):
            if not all(f is None or _ours(f, writes) for f in (value.fget, value.fset,
                                                                value.fdel)):
                return False
        elif isinstance(value, (staticmethod, classmethod)):
            if not _ours(value.__func__, writes):
                return False
        elif isinstance(value, functools.cached_property):
            return False
        elif type(value) is types.FunctionType:
            if _ours(value, writes):
                continue
            # a special method Python calls by itself must be the file's, or what the standard
            # library generated (a dataclass's, an enum's); another method a trusted name
            if name.startswith("_") or name in PURE_METHODS:
                where = value.__code__.co_filename
                made = where in _maker_files() or (generated and where == "<string>")
                if not made:
                    return False
        elif isinstance(value, type):
            if value.__module__ == cls.__module__ and not _followed_class(value, writes):
                return False
        elif isinstance(value, (types.MemberDescriptorType, types.GetSetDescriptorType)):
            continue  # a slot or the instance dict: plain storage
        elif hasattr(type(value), "__get__"):
            return False  # some other descriptor: reading it runs its code
    for f in (vars(cls).get("__dataclass_fields__") or {}).values():
        factory = f.default_factory
        if factory is not dataclasses.MISSING and factory not in _FACTORIES and not _ours(
                factory, writes):
            return False
    return True


_FACTORIES = (list, dict, set, tuple, frozenset)


@functools.lru_cache(maxsize=1)
def _maker_files() -> frozenset[str]:
    """The standard-library modules whose generated special methods (a dataclass's ``__repr__``
    wrapper, an enum's ``__new__``, a named tuple's) a policy class may carry."""
    import dataclasses
    import enum
    import typing

    return frozenset(m.__file__ for m in (dataclasses, enum, typing, collections) if m.__file__)


def _plain_class(cls: type, module_name: str, writes: ModelWrites) -> bool:
    """A class of the file whose construction runs only the file's code (or a dataclass's
    generated ``__init__``, its factories checked by `_followed_class`)."""
    if type(cls) is not type or cls.__module__ != module_name:
        return False
    for base in cls.__mro__[:-1]:
        if base.__module__ != module_name:
            return False
    init: Any = cls.__init__  # type: ignore[misc]
    if init is object.__init__ or _ours(init, writes):
        return True
    return type(init) is types.FunctionType and "__dataclass_fields__" in vars(cls)


# --- the static analysis -----------------------------------------------------------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _bound_names(node: ast.AST) -> Iterator[str]:
    """Every name a node binds (for the module-wide count)."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        yield node.id
    elif isinstance(node, ast.arg):
        yield node.arg
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for a in node.names:
            yield (a.asname or a.name).split(".")[0]
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from node.names
    elif isinstance(node, ast.ExceptHandler) and node.name:
        yield node.name
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        yield node.name
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest


def _module_bindings(tree: ast.Module) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for node in ast.walk(tree):
        counts.update(_bound_names(node))
    return counts


def _top_functions(tree: ast.Module, bindings: collections.Counter[str]) -> frozenset[str]:
    """Top-level undecorated functions whose name is bound nowhere else: a call by that name
    always runs the file's own (rewritten) code."""
    return frozenset(
        n.name for n in tree.body
        if isinstance(n, ast.FunctionDef) and not n.decorator_list and bindings[n.name] == 1
    )


def _rebound_methods(tree: ast.Module) -> frozenset[str]:
    """Names of `PURE_METHODS` the file binds as data (an attribute store, or a class body's
    assignment): a call by such a name is checked when it is made, not trusted by its name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            names.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.update(n.id for n in ast.walk(stmt)
                                 if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load))
    return frozenset(names & PURE_METHODS)


def _generator_functions(tree: ast.Module, top: frozenset[str]) -> frozenset[str]:
    """Of ``top``, the generator functions: a call makes a new generator, whose body (the file's
    own code) raises the flag itself."""
    return frozenset(
        n.name for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name in top
        and any(isinstance(x, (ast.Yield, ast.YieldFrom)) for x in _scope_walk(n.body))
    )


def _fresh_expr(node: ast.expr | None, bindings: collections.Counter[str]) -> bool:
    if isinstance(node, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp)):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _FRESH_CALLS and bindings[node.func.id] == 0
            and not node.args and not node.keywords)


def _scope_walk(body: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of a function's own scope (nested functions and classes: only their names and
    what their definition evaluates; comprehensions: only their ``:=`` targets)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            if not isinstance(node, ast.Lambda):
                stack.extend(node.decorator_list)
            if isinstance(node, ast.ClassDef):
                stack.extend(node.bases)
                stack.extend(k.value for k in node.keywords)
            else:
                stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d)
            continue
        if isinstance(node, _COMPREHENSIONS):
            stack.extend(n.target for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            stack.append(node.generators[0].iter)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _fresh_locals(fn: ast.FunctionDef | ast.AsyncFunctionDef,
                  bindings: collections.Counter[str]) -> frozenset[str]:
    """Names of ``fn`` every binding of which is a new list, dict or set."""
    fresh: set[str] = set()
    other: set[str] = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    other.update(a.arg for a in (fn.args.vararg, fn.args.kwarg) if a)
    seen: set[int] = set()  # Name targets already accounted for
    for node in _scope_walk(fn.body):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            fresh_value = _fresh_expr(node.value, bindings)
            for t in targets:
                if isinstance(t, ast.Name):
                    (fresh if fresh_value else other).add(t.id)
                    seen.add(id(t))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            seen.add(id(node.target))  # ``+=`` on a list, dict or set keeps the object
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store) and id(node) not in seen:
                other.add(node.id)  # for, with, :=, unpacking...
        else:
            other.update(_bound_names(node))
    return frozenset(fresh - other)


class _Rewriter(ast.NodeTransformer):
    """The rewrite (see the module doc). Recursive; the caller turns a RecursionError into
    "not tracked"."""

    def __init__(self, bindings: collections.Counter[str], top: frozenset[str],
                 generators: frozenset[str], rebound: frozenset[str]) -> None:
        self.bindings = bindings
        self.rebound = rebound
        self.top = top
        self.generators = generators
        self.fresh: frozenset[str] = frozenset()
        self.owner: str | None = None  # the class whose body names are mangled
        self.in_function = False
        self.iter_method = False  # inside a policy class's ``__iter__``

    # -- helpers --

    def _call(self, name: str, args: list[ast.expr], at: ast.AST) -> ast.Call:
        return _at(ast.Call(func=_at(ast.Name(name, ast.Load()), at), args=args, keywords=[]),
                   at)

    def _touch(self, at: ast.AST) -> ast.stmt:
        return _at(ast.Expr(value=self._call(TOUCH_NAME, [], at)), at)

    def _safe_iterable(self, node: ast.expr) -> bool:
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Constant,
                             ast.JoinedStr, *_COMPREHENSIONS)):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.fresh
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            return False
        # a builtin's new object, or a new generator of one of the file's generator functions
        name = node.func.id
        return (name in _FRESH_RESULT and self.bindings[name] == 0) or name in self.generators

    def _it(self, node: ast.expr) -> ast.expr:
        return node if self._safe_iterable(node) else self._call(IT_NAME, [node], node)

    def _builtin(self, name: str) -> bool:
        return self.bindings[name] == 0 and hasattr(builtins, name)

    def _checked_callable(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Lambda):
            return node
        if isinstance(node, ast.Name) and (
            node.id in self.top or (self._builtin(node.id) and node.id in _COMPUTING)
        ):
            return node
        return self._call(CALL_NAME, [node], node)

    # -- scopes --

    def _decorators(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        # a decorator is called with what it decorates: checked like any callee
        node.decorator_list = [self._call(CALL_NAME, [self.visit(d)], d)
                               for d in node.decorator_list]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Any:
        self._decorators(node)
        node.args = self.visit(node.args)
        if node.returns is not None:
            node.returns = self.visit(node.returns)
        saved = (self.fresh, self.owner, self.in_function, self.iter_method)
        self.iter_method = node.name in ("__iter__", "__reversed__")
        self.fresh = _fresh_locals(node, self.bindings)
        self.in_function = True
        body = _flatten(self.visit(stmt) for stmt in node.body)
        declares = any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in _scope_walk(node.body))
        if declares or isinstance(node, ast.AsyncFunctionDef):
            at = 1 if _is_docstring(body[0]) and len(body) > 1 else 0
            body.insert(at, self._touch(node))
        node.body = body
        self.fresh, self.owner, self.in_function, self.iter_method = saved
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
        return self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node.args = self.visit(node.args)
        saved = (self.fresh, self.in_function, self.iter_method)
        self.fresh, self.in_function, self.iter_method = frozenset(), True, False
        node.body = self.visit(node.body)
        self.fresh, self.in_function, self.iter_method = saved
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self._decorators(node)
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        saved = (self.fresh, self.owner, self.in_function, self.iter_method)
        self.fresh, self.owner, self.in_function, self.iter_method = (
            frozenset(), node.name, False, False)
        node.body = _flatten(self.visit(stmt) for stmt in node.body)
        self.fresh, self.owner, self.in_function, self.iter_method = saved
        return node

    def _comprehension(self, node: Any) -> Any:
        first = node.generators[0]
        first.iter = self._iterated(self.visit(first.iter), first.target)
        saved = self.fresh
        targets = {n.id for g in node.generators for n in ast.walk(g.target)
                   if isinstance(n, ast.Name)}
        self.fresh = self.fresh - targets
        for i, gen in enumerate(node.generators):
            gen.target = self.visit(gen.target)
            if i:
                gen.iter = self._iterated(self.visit(gen.iter), gen.target)
            gen.ifs = [self.visit(c) for c in gen.ifs]
        for field in ("elt", "key", "value"):
            if hasattr(node, field):
                setattr(node, field, self.visit(getattr(node, field)))
        self.fresh = saved
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    # -- iteration --

    def _each(self, iterable: ast.expr, depth: int) -> ast.expr:
        return self._call(EACH_NAME, [iterable, _at(ast.Constant(depth), iterable)], iterable)

    def _iterated(self, iterable: ast.expr, target: ast.expr) -> ast.expr:
        """An iterable a loop consumes, checked; its elements too when the target unpacks."""
        depth = _depth(target)
        if not depth:
            return self._it(iterable)
        if (depth == 1 and isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name)
                and iterable.func.id in ("enumerate", "zip")
                and self.bindings[iterable.func.id] == 0):
            return iterable  # new tuples of checked sources, unpacked once
        return self._each(iterable, depth)

    def visit_For(self, node: ast.For) -> Any:
        node.iter = self.visit(node.iter)
        node.target = self.visit(node.target)
        node.iter = self._iterated(node.iter, node.target)
        node.body = _flatten(self.visit(s) for s in node.body)
        node.orelse = _flatten(self.visit(s) for s in node.orelse)
        return node

    def visit_AsyncFor(self, node: ast.AsyncFor) -> Any:
        return [self._touch(node), self.generic_visit(node)]

    def visit_Compare(self, node: ast.Compare) -> Any:
        self.generic_visit(node)
        node.comparators = [
            self._it(c) if isinstance(op, (ast.In, ast.NotIn)) else c
            for op, c in zip(node.ops, node.comparators, strict=True)
        ]
        return node

    def visit_Starred(self, node: ast.Starred) -> Any:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = self._it(node.value)
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom) -> Any:
        self.generic_visit(node)
        node.value = self._it(node.value)
        return node

    def visit_Return(self, node: ast.Return) -> Any:
        self.generic_visit(node)
        if self.iter_method and node.value is not None:
            node.value = self._it(node.value)
        return node

    # -- stores --

    def visit_Assign(self, node: ast.Assign) -> Any:
        self.generic_visit(node)
        depth = max(_depth(t) for t in node.targets)
        if depth > 1:
            node.value = self._each(node.value, depth - 1)  # unpacked, and its elements
        elif depth == 1 and not isinstance(node.value, (ast.Tuple, ast.List)):
            node.value = self._it(node.value)
        elif any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice)
                 for t in node.targets):
            node.value = self._it(node.value)  # a slice store consumes what it stores
        return node

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load) and not (
            isinstance(node.value, ast.Name) and node.value.id in self.fresh
        ):
            node.value = self._call(MUT_NAME, [node.value], node.value)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        target = node.target
        if isinstance(target, ast.Subscript):
            if (isinstance(target.value, ast.Name) and target.value.id in self.fresh
                    and not isinstance(target.slice, ast.Slice) and self.in_function):
                return self._fresh_item_aug(node, target)
            if not (isinstance(target.value, ast.Call) and isinstance(target.value.func, ast.Name)
                    and target.value.func.id == MUT_NAME):
                # ``x[k] += v`` runs the element's in-place operator, even in a new container
                target.value = self._call(MUT_NAME, [target.value], target.value)
            return node
        if not isinstance(target, ast.Name):
            return node
        if target.id in self.fresh:
            node.value = self._it(node.value)
            return node
        op = _at(ast.Attribute(value=_at(ast.Name(OPERATOR_NAME, ast.Load()), node),
                               attr=INPLACE_OPERATORS[type(node.op)], ctx=ast.Load()), node)
        value = self._call(AUG_NAME, [op, _at(ast.Name(target.id, ast.Load()), node),
                                      node.value], node)
        return _at(ast.Assign(targets=[_at(ast.Name(target.id, ast.Store()), node)],
                              value=value), node)

    def _fresh_item_aug(self, node: ast.AugAssign, target: ast.Subscript) -> list[ast.stmt]:
        """``x[k] op= v`` on a new container ``x``: the element's in-place operator raises the
        flag unless the element is immutable (`aug`). Python's order kept: ``k``, then
        ``x[k]``, then ``v``, the operator, the store."""
        container = target.value
        assert isinstance(container, ast.Name)
        key = _at(ast.Name(KEY_NAME, ast.Load()), target)
        op = _at(ast.Attribute(value=_at(ast.Name(OPERATOR_NAME, ast.Load()), node),
                               attr=INPLACE_OPERATORS[type(node.op)], ctx=ast.Load()), node)
        current = _at(ast.Subscript(value=_at(ast.Name(container.id, ast.Load()), target),
                                    slice=key, ctx=ast.Load()), target)
        store = _at(ast.Subscript(value=_at(ast.Name(container.id, ast.Load()), target),
                                  slice=_at(ast.Name(KEY_NAME, ast.Load()), target),
                                  ctx=ast.Store()), target)
        return [
            _at(ast.Assign(targets=[_at(ast.Name(KEY_NAME, ast.Store()), target)],
                           value=target.slice), node),
            _at(ast.Assign(targets=[store],
                           value=self._call(AUG_NAME, [op, current, node.value], node)), node),
        ]

    # -- statements that may change anything --

    def _touching(self, node: ast.stmt) -> Any:
        visited = self.generic_visit(node)
        return [self._touch(node), visited] if self.in_function else visited

    visit_With = visit_AsyncWith = visit_Import = visit_ImportFrom = _touching

    # -- calls --

    def visit_Call(self, node: ast.Call) -> Any:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            if name in self.top:
                return node
            if self._builtin(name):
                if name in _COMPUTING:
                    return node
                if name == "next":
                    if not (node.args and isinstance(node.args[0], ast.GeneratorExp)):
                        node.func = self._call(CALL_NAME, [func], func)
                    return node
                if (name in _CONSUMING and not (name == "iter" and len(node.args) > 1)
                        and self._consumed_args(node, name in ("map", "filter"))):
                    return node
            node.func = self._call(CALL_NAME, [func], func)
            return node
        if isinstance(func, ast.Attribute):
            recv = func.value
            if isinstance(recv, ast.Name) and recv.id in self.fresh:
                if self._consumed_args(node, False, iterated=func.attr in _FRESH_ITERATING):
                    return node
            elif func.attr in PURE_METHODS and func.attr not in self.rebound and (
                func.attr not in _ITERATING_METHODS or self._consumed_args(node, False)
            ):
                return node
            name = _at(ast.Constant(mangled(func.attr, self.owner)), func)
            node.func = self._call(METHOD_NAME, [recv, name], func)
            return node
        if not isinstance(func, ast.Lambda):
            node.func = self._call(CALL_NAME, [func], func)
        return node

    def _consumed_args(self, node: ast.Call, first_is_function: bool,
                       iterated: bool = True) -> bool:
        """Check what a call that consumes its arguments gets: each argument (and ``*args``'
        elements) an iterable, ``key=`` and ``map``'s function a callee. False (the caller
        checks the callee instead) for ``**kwargs``, or ``*args`` where a function may be."""
        if any(kw.arg is None for kw in node.keywords):
            return False
        if first_is_function and any(isinstance(a, ast.Starred) for a in node.args):
            return False
        if iterated:
            checked: list[ast.expr] = []
            for i, a in enumerate(node.args):
                if isinstance(a, ast.Starred):
                    a.value = self._call(ARGS_NAME, [a.value], a.value)
                    checked.append(a)
                elif i == 0 and first_is_function:
                    checked.append(self._checked_callable(a))
                else:
                    checked.append(self._it(a))
            node.args = checked
        for kw in node.keywords:
            if kw.arg == "key":
                kw.value = self._checked_callable(kw.value)
            elif iterated:
                kw.value = self._it(kw.value)
        return True


def _depth(target: ast.expr) -> int:
    """How many levels of unpacking an assignment target does (0: a plain target)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return 1 + max((_depth(e) for e in target.elts), default=0)
    if isinstance(target, ast.Starred):
        return _depth(target.value)
    return 0


def _flatten(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list):
            out.extend(item)
        elif item is not None:
            out.append(item)
    return out


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))
