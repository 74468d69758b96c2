"""What a policy file writes onto the simulator's objects, so the quiet-call check sees it.

A policy may keep data on the objects it is shown (``p.waited += 1`` on a pipeline, as Eudoxia's
plain Python objects allow). The quiet-call check (`simulator.state_compare`) compares those
objects by identity, so such data would be invisible to it, and a quiet call that only changed it
would be skipped over: a silent wrong answer. So a policy file is compiled with its attribute
stores going through `ModelWrites` (`watch_attribute_stores` rewrites every attribute target:
``x.a = v``, ``x.a += v``, ``del x.a``, ``for x.a in ...``, unpacking), and ``setattr`` /
``delattr`` in its namespace do the same. A store onto a simulator object is recorded; the
recorded (object, name) pairs' current values are part of every snapshot (`ModelWrites.state`).
Stores onto anything else cost one small call more and are not recorded.

Behaviour is unchanged: the target object is evaluated after the value, as Python does, names
are mangled as the compiler would (``self.__x`` in class ``C`` is ``_C__x``), and errors point at
the policy's own line. Not seen: writes that bypass attribute syntax (``vars(p)[k] = v``,
``object.__setattr__``), which the static checks reject in policy files.
"""

from __future__ import annotations

import ast
import builtins
import operator
import threading
from typing import Any

from simulator import executor, workload

# The names the rewritten code calls; dunder names, which a policy file may not use itself.
TARGET_NAME = "__policyforge_target__"
STORE_NAME = "__policyforge_store__"
OPERATOR_NAME = "__policyforge_operator__"
WRITES_NAME = "__policyforge_writes__"
# ``x.a op= v`` as a call: the in-place operator function of each augmented assignment
INPLACE_OPERATORS = {ast.Add: "iadd", ast.Sub: "isub", ast.Mult: "imul", ast.MatMult: "imatmul",
            ast.Div: "itruediv", ast.FloorDiv: "ifloordiv", ast.Mod: "imod", ast.Pow: "ipow",
            ast.LShift: "ilshift", ast.RShift: "irshift", ast.BitOr: "ior", ast.BitXor: "ixor",
            ast.BitAnd: "iand"}
MISSING = ("no such attribute",)  # a recorded attribute deleted since (a constant: primed)
# The simulator's model objects, what a policy is shown: a snapshot names each by its identity
# token (`simulator.state_compare`), and what a policy file stores on one is recorded here.
MODEL_TYPES: tuple[type, ...] = (
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
)


class ModelWrites:
    """The attributes a policy set on simulator objects (instances of `MODEL_TYPES`)."""

    def __init__(self) -> None:
        self.written: dict[tuple[int, str], tuple[Any, str]] = {}
        self.is_model: dict[type, bool] = {}  # by exact type, learnt as stores happen
        # `simulator.policy_effects`: whether the file is tracked, and the flag it raises when
        # a call may have changed state (any attribute store raises it too); the file's code
        # objects and the callables known not to change anything, by identity
        self.tracked = False
        self.dirty = False
        self.code_ids: dict[int, Any] = {}
        self.pure_ids: dict[int, Any] = {}
        # the file's functions defined at load, each with its tracked code and a plain variant
        # (`simulator.policy_effects.plain_variants`), run plain where nothing is checked
        self.swaps: list[tuple[Any, Any, Any]] = []
        self.plain_now = False
        self.runs = 0  # runs using this module now: with more than one it stays tracked
        self._swap_lock = threading.Lock()

    def enter(self) -> None:
        """A run starts using the module."""
        with self._swap_lock:
            self.runs += 1

    def leave(self) -> None:
        """A run is done with it: its functions go back to their tracked code."""
        with self._swap_lock:
            self.runs -= 1
            self._set_plain(False)

    def run_tracked(self, tracked: bool) -> None:
        """Before a policy call: the file's functions tracked (a checked quiet call) or plain
        (every other call, unless another run uses the module at the same time). Calls come
        one at a time in a run; no policy frame is live in between."""
        if tracked and not self.plain_now:
            return
        if not tracked and (self.plain_now or not self.swaps):
            return
        with self._swap_lock:
            self._set_plain(not tracked and self.runs <= 1)

    def _set_plain(self, plain: bool) -> None:
        if plain == self.plain_now:
            return
        if plain:
            self.plain_now = True  # first: a run about to check sees it and waits on the lock
        for f, tracked_code, plain_code in self.swaps:
            f.__code__ = plain_code if plain else tracked_code
        self.plain_now = plain

    def store(self, value: Any, obj: Any, name: str) -> None:
        """``obj.name = value``, recorded if ``obj`` is the simulator's (value first: ``x.a = v``
        evaluates ``v`` before ``x``)."""
        builtins.setattr(obj, name, value)
        self._note(obj, name)

    def set(self, obj: Any, name: str, value: Any) -> None:
        """``setattr(obj, name, value)``, recorded if ``obj`` is the simulator's."""
        builtins.setattr(obj, name, value)
        self._note(obj, name)

    def delete(self, obj: Any, name: str) -> None:
        """``delattr(obj, name)``, recorded if ``obj`` is the simulator's."""
        builtins.delattr(obj, name)
        self._note(obj, name)

    def _note(self, obj: Any, name: str) -> None:
        self.dirty = True
        model = self.is_model.get(type(obj))
        if model is None:
            model = self.is_model[type(obj)] = isinstance(obj, MODEL_TYPES)
        if model and (id(obj), name) not in self.written:
            self.written[(id(obj), name)] = (obj, name)  # keeps obj alive: its id stays its own

    def state(self) -> list[tuple[Any, str, Any]] | None:
        """Each recorded attribute with its current value (None if there is none)."""
        if not self.written:
            return None
        return [(obj, name, getattr(obj, name, MISSING)) for obj, name in self.written.values()]

    def clear(self) -> None:
        """Forget every record (a new run)."""
        self.written.clear()


class _Target:
    """An attribute target as a subscript target: ``t[None] = v`` stores, ``t[None]`` loads
    (for ``+=``), ``del t[None]`` deletes, each through `ModelWrites`."""

    __slots__ = ("name", "obj", "writes")

    def __init__(self, writes: ModelWrites, obj: Any, name: str) -> None:
        self.writes = writes
        self.obj = obj
        self.name = name

    def __getitem__(self, _: None) -> Any:
        return getattr(self.obj, self.name)

    def __setitem__(self, _: None, value: Any) -> None:
        self.writes.set(self.obj, self.name, value)

    def __delitem__(self, _: None) -> None:
        self.writes.delete(self.obj, self.name)


def namespace(writes: ModelWrites) -> dict[str, Any]:
    """What a policy module compiled by `watch_attribute_stores` needs in its globals."""

    def target(obj: Any, name: str) -> _Target:
        return _Target(writes, obj, name)

    # plain functions, so the quiet-call check takes them for code, not the policy's data
    def setattr(obj: Any, name: str, value: Any) -> None:  # noqa: A001 - the builtin's stand-in
        writes.set(obj, name, value)

    def delattr(obj: Any, name: str) -> None:  # noqa: A001
        writes.delete(obj, name)

    return {TARGET_NAME: target, STORE_NAME: writes.store, OPERATOR_NAME: operator,
            WRITES_NAME: writes, "setattr": setattr, "delattr": delattr}


def watch_attribute_stores(tree: ast.Module) -> ast.Module:
    """``tree`` with every attribute target ``x.a`` made ``__policyforge_target__(x, "a")[None]``,
    ``x.a = v`` and ``name.a op= v`` made one call each (see the module doc). Iterative: a file
    nested as deeply as the compiler takes is taken here too."""
    stack: list[tuple[ast.AST, str | None]] = [(tree, None)]
    while stack:
        node, owner = stack.pop()
        for field, value in ast.iter_fields(node):
            # a class's body is mangled with its name; its decorators and bases are not
            scope = node.name if isinstance(node, ast.ClassDef) and field == "body" else owner
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        value[i] = _rewritten(item, scope)
                        stack.append((value[i], scope))
            elif isinstance(value, ast.AST):
                replaced = _rewritten(value, scope)
                setattr(node, field, replaced)
                stack.append((replaced, scope))
    return tree


def _rewritten(node: ast.AST, owner: str | None) -> ast.AST:
    """``node`` itself, or what it becomes if it stores an attribute (its own children are
    rewritten after, by the caller's walk)."""
    if isinstance(node, ast.Assign):
        target = node.targets[0]
        if len(node.targets) == 1 and isinstance(target, ast.Attribute):
            # ``x.a = v``: one call, ``v`` then ``x`` evaluated in Python's order
            return _store(node.value, target.value, mangled(target.attr, owner), node)
    elif isinstance(node, ast.AugAssign):
        target = node.target
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and not any(isinstance(n, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom))
                            for n in ast.walk(node.value))):
            # ``x.a += v`` with ``x`` a plain name that ``v`` cannot rebind: the in-place
            # operator on ``x.a`` and ``v``, then the store (``x`` is the same object both times)
            name = target.value.id
            loaded = located(ast.Attribute(value=located(ast.Name(name, ast.Load()), node),
                                       attr=target.attr, ctx=ast.Load()), node)
            op = located(ast.Attribute(value=located(ast.Name(OPERATOR_NAME, ast.Load()), node),
                                   attr=INPLACE_OPERATORS[type(node.op)], ctx=ast.Load()), node)
            value = located(ast.Call(func=op, args=[loaded, node.value], keywords=[]), node)
            return _store(value, located(ast.Name(name, ast.Load()), node),
                          mangled(target.attr, owner), node)
    elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
        attr = located(ast.Constant(mangled(node.attr, owner)), node)
        call = located(ast.Call(func=located(ast.Name(TARGET_NAME, ast.Load()), node),
                                args=[node.value, attr], keywords=[]), node)
        return located(ast.Subscript(value=call, slice=located(ast.Constant(None), node),
                                     ctx=node.ctx), node)
    return node


def _store(value: ast.expr, obj: ast.expr, name: str, node: ast.stmt) -> ast.stmt:
    call = located(ast.Call(func=located(ast.Name(STORE_NAME, ast.Load()), node),
                        args=[value, obj, located(ast.Constant(name), node)], keywords=[]), node)
    return located(ast.Expr(value=call), node)


def located(new: Any, old: ast.AST) -> Any:
    """``new`` (a node made here) at ``old``'s place in the source, for tracebacks."""
    return ast.copy_location(new, old)


def mangled(name: str, owner: str | None) -> str:
    """``name`` as the compiler stores it inside class ``owner``."""
    if owner is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = owner.lstrip("_")
    return f"_{stripped}{name}" if stripped else name
