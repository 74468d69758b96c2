"""Loading policies: built-in names, or Eudoxia-style policy files (with or without imports).

A policy file may say ``from eudoxia.executor.assignment import Assignment`` (Eudoxia's paths,
spec §17) or import nothing at all (the paper's style: the names are provided). The ``eudoxia``
names resolve to this simulator's objects only inside `eudoxia_names()`, which the loader and the
engine enter while a policy file is loaded and run; we never install a top-level ``eudoxia``
package, so a real Eudoxia stays importable.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator import executor, scheduling, workload
from simulator.errors import PolicyLoadError
from simulator.scheduling import Registry, _current

_counter = itertools.count(1)
# What a policy file's module is named (`simulator.state_compare` tells its code by it).
POLICY_MODULE_PREFIX = "policyforge_policy_"


@dataclass
class LoadedPolicy:
    """A policy ready to run: its key, init and scheduling functions, and where it came from."""

    key: str
    init: Callable[..., Any]
    func: Callable[..., Any]
    source: str
    path: Path | None = None
    module: types.ModuleType | None = None
    builtin: bool = False


def _names() -> dict[str, dict[str, Any]]:
    w, e, s = workload, executor, scheduling
    wl = {
        "Pipeline": w.Pipeline,
        "Operator": w.Operator,
        "Segment": w.Segment,
        "OperatorState": w.OperatorState,
        "ASSIGNABLE_STATES": w.ASSIGNABLE_STATES,
        "PipelineRuntimeStatus": w.PipelineRuntimeStatus,
        "VALID_TRANSITIONS": w.VALID_TRANSITIONS,
        "ScalingFuncs": w.ScalingFuncs,
    }
    utils = {
        "Priority": w.Priority,
        "DagShape": w.DagShape,
        "EudoxiaException": w.EudoxiaException,
        "DISK_SCAN_GB_SEC": w.DISK_SCAN_GB_SEC,
        "SEC_TO_MICROSECONDS": w.SEC_TO_MICROSECONDS,
        "MICROSEC_TO_SEC": w.MICROSEC_TO_SEC,
        "Node": w.Node,
        "DAG": w.DAG,
        "DAGIterator": w.DAGIterator,
    }
    asg = {"Assignment": e.Assignment, "ExecutionResult": e.ExecutionResult, "Suspend": e.Suspend}
    deco = {
        "register_scheduler_init": s.register_scheduler_init,
        "register_scheduler": s.register_scheduler,
        "INIT_ALGOS": s.INIT_ALGOS,
        "SCHEDULING_ALGOS": s.SCHEDULING_ALGOS,
    }
    wq = {"WaitingQueueJob": s.WaitingQueueJob, "RetryStats": s.RetryStats}
    return {
        "eudoxia": {},
        "eudoxia.utils": utils,
        "eudoxia.utils.utils": {k: utils[k] for k in ("Priority", "DagShape", "EudoxiaException")},
        "eudoxia.utils.consts": {
            k: utils[k] for k in ("DISK_SCAN_GB_SEC", "SEC_TO_MICROSECONDS", "MICROSEC_TO_SEC")
        },
        "eudoxia.utils.dag": {k: utils[k] for k in ("Node", "DAG", "DAGIterator")},
        "eudoxia.workload": wl,
        "eudoxia.workload.runtime_status": {
            k: wl[k]
            for k in (
                "ASSIGNABLE_STATES",
                "OperatorState",
                "PipelineRuntimeStatus",
                "VALID_TRANSITIONS",
            )
        },
        "eudoxia.workload.pipeline": {
            k: wl[k] for k in ("Pipeline", "Operator", "Segment", "ScalingFuncs")
        },
        "eudoxia.executor": {**asg, "Executor": e.Executor},
        "eudoxia.executor.assignment": asg,
        "eudoxia.executor.executor": {"Executor": e.Executor},
        "eudoxia.executor.resource_pool": {"ResourcePool": e.ResourcePool},
        "eudoxia.executor.container": {"Container": e.Container},
        "eudoxia.scheduler": {**deco, "Scheduler": s.Scheduler},
        "eudoxia.scheduler.decorators": deco,
        "eudoxia.scheduler.scheduler": {"Scheduler": s.Scheduler},
        "eudoxia.scheduler.waiting_queue": wq,
        "eudoxia.scheduler.priority": {
            "get_pool_with_max_avail_ram": s.get_pool_with_max_avail_ram
        },
        "eudoxia.clock": {"SimClock": __import__("simulator.clock").clock.SimClock},
        "eudoxia.estimator": {"Estimate": w.Estimate},
    }


def compat_modules() -> dict[str, frozenset[str]]:
    """The ``eudoxia.*`` modules a policy may import, and the names each one provides."""
    return {name: frozenset(attrs) for name, attrs in _names().items()}


def provided_names() -> dict[str, Any]:
    """Names a policy file may use without importing them (the paper's style)."""
    table = _names()
    out: dict[str, Any] = {}
    for mod in (
        "eudoxia.workload",
        "eudoxia.utils",
        "eudoxia.executor.assignment",
        "eudoxia.scheduler.decorators",
        "eudoxia.scheduler.waiting_queue",
    ):
        out.update(table[mod])
    for name in ("List", "Tuple", "Dict", "Optional", "Set", "Any", "Iterable", "Sequence"):
        out[name] = getattr(typing, name)
    return out


_shim_lock = threading.Lock()
_shim_users = 0  # runs and loads inside `eudoxia_names` right now (threads share sys.modules)
_shim_saved: dict[str, types.ModuleType | None] = {}


@contextlib.contextmanager
def eudoxia_names() -> Iterator[None]:
    """Make ``import eudoxia…`` resolve to this simulator's objects, and undo it afterwards.

    Nested and concurrent users (a population's replays run in threads) share one installation:
    the first to enter installs the shims, the last to leave restores what was there before.
    """
    global _shim_users, _shim_saved
    with _shim_lock:
        if _shim_users == 0:
            _shim_saved = _install_shims()
        _shim_users += 1
    try:
        yield
    finally:
        with _shim_lock:
            _shim_users -= 1
            if _shim_users == 0:
                for name, old in _shim_saved.items():
                    if old is None:
                        sys.modules.pop(name, None)
                    else:
                        sys.modules[name] = old


def _install_shims() -> dict[str, types.ModuleType | None]:
    """Put the shim modules in ``sys.modules``; what each name held before."""
    table = _names()
    saved = {name: sys.modules.get(name) for name in table}
    modules: dict[str, types.ModuleType] = {}
    for name, attrs in table.items():
        mod = types.ModuleType(name, f"policyforge compatibility shim for {name}")
        mod.__dict__.update(attrs)
        mod.__path__ = []  # type: ignore[attr-defined]
        modules[name] = mod
    for name, mod in modules.items():
        parent, _, child = name.rpartition(".")
        if parent in modules:
            setattr(modules[parent], child, mod)
        sys.modules[name] = mod
    return saved


def is_policy_path(policy: str | Path) -> bool:
    """Whether ``policy`` names a file rather than a registered key."""
    text = str(policy)
    return text.endswith(".py") or "/" in text or Path(text).is_file()


def load_policy_file(path: str | Path) -> LoadedPolicy:
    """Execute a policy file in a fresh registry; it must register exactly one key."""
    path = Path(path)
    name = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyLoadError("policy file not found", file=name) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise PolicyLoadError(f"cannot read policy file: {exc}", file=name) from None
    from simulator.policy_effects import effect_namespace, register_module
    from simulator.policy_writes import ModelWrites, namespace

    code, tracked, variants = compile_policy(source, name)
    registry = Registry()
    module = types.ModuleType(f"{POLICY_MODULE_PREFIX}{next(_counter)}")
    module.__file__ = name
    module.__dict__.update(provided_names())
    writes = ModelWrites()
    module.__dict__.update(namespace(writes))
    module.__dict__.update(effect_namespace(writes))
    token = _current.set(registry)
    sys.modules[module.__name__] = module
    try:
        with eudoxia_names():
            exec(code, module.__dict__)  # noqa: S102 - loading the policy file is the point
    except Exception as exc:  # noqa: BLE001 - any error while loading is the file's fault
        line = policy_line(exc, name)
        raise PolicyLoadError(
            f"loading the policy raised {type(exc).__name__}: {exc}", file=name, line=line
        ) from None
    finally:
        _current.reset(token)
    writes.tracked = tracked and register_module(writes, code, module, variants)
    return _single_key(registry, name, source, path, module)


# (code, tracked, plain variants of its functions: `simulator.policy_effects.plain_variants`)
Compiled = tuple[types.CodeType, bool, dict[int, tuple[types.CodeType, types.CodeType]]]
_COMPILED: collections.OrderedDict[tuple[str, str], Compiled] = collections.OrderedDict()
_COMPILED_KEEP = 16  # sources kept compiled in this process (code objects are immutable)
_compiled_lock = threading.Lock()


def compile_policy(source: str, name: str) -> Compiled:
    """A policy file's source compiled as the loader runs it (attribute stores recorded, its
    effects tracked when it can be: `simulator.policy_effects`), whether it is tracked, and the
    plain variants of its functions (for the calls nothing checks). Runs none of it. The same
    source and name again in this process cost a lookup."""
    key = (name, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest())
    with _compiled_lock:
        hit = _COMPILED.get(key)
        if hit is not None:
            _COMPILED.move_to_end(key)
            return hit
    import ast

    from simulator.policy_effects import plain_variants, track_effects
    from simulator.policy_writes import watch_attribute_stores

    try:
        tree, tracked = track_effects(source, name)
        code = compile(watch_attribute_stores(tree), name, "exec")
        variants = {}
        if tracked:
            plain = compile(watch_attribute_stores(ast.parse(source, name)), name, "exec")
            variants = plain_variants(code, plain)
    except SyntaxError as exc:
        raise PolicyLoadError(
            f"syntax error: {exc.msg}", file=name, line=exc.lineno, column=exc.offset
        ) from None
    except RecursionError:
        raise PolicyLoadError(
            "the policy's code is nested too deeply to compile (an expression or block hundreds "
            "of levels deep); split it into smaller parts", file=name) from None
    compiled = (code, tracked, variants)
    with _compiled_lock:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _COMPILED_KEEP:
            _COMPILED.popitem(last=False)
    return compiled


def _single_key(
    registry: Registry, name: str, source: str, path: Path, module: types.ModuleType
) -> LoadedPolicy:
    keys = registry.keys()
    if len(keys) != 1:
        found = ", ".join(repr(k) for k in keys) or "none"
        raise PolicyLoadError(
            f"a policy file must register exactly one key with @register_scheduler_init and "
            f"@register_scheduler; found {found}",
            file=name,
        )
    key = keys[0]
    if key not in registry.init_algos:
        raise PolicyLoadError(f"key {key!r} has no @register_scheduler_init function", file=name)
    if key not in registry.scheduling_algos:
        raise PolicyLoadError(f"key {key!r} has no @register_scheduler function", file=name)
    return LoadedPolicy(
        key, registry.init_algos[key], registry.scheduling_algos[key], name, path, module
    )


def policy_line(exc: BaseException, filename: str) -> int | None:
    """Line number of the innermost traceback frame inside ``filename``."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def builtin_keys() -> list[str]:
    """Keys of the built-in policies, sorted."""
    import simulator.policies  # noqa: F401  (registers them)

    return sorted(scheduling.BUILTINS.keys())


def resolve_policy(policy: str | Path | None, params: dict[str, Any]) -> LoadedPolicy:
    """A policy from a file path, a built-in key, a key registered in this process, or params."""
    if policy is None:
        policy = params.get("scheduler_algo")
        if not isinstance(policy, str) or not policy:
            raise PolicyLoadError(
                "no policy given and params have no scheduler_algo", field="scheduler_algo"
            )
    if is_policy_path(policy):
        return load_policy_file(policy)
    import simulator.policies  # noqa: F401

    key = str(policy)
    for registry, builtin in ((scheduling.BUILTINS, True), (scheduling.USER, False)):
        if key in registry.scheduling_algos:
            if key not in registry.init_algos:
                raise PolicyLoadError(f"scheduler {key!r} has no init function registered")
            return LoadedPolicy(
                key, registry.init_algos[key], registry.scheduling_algos[key], key, builtin=builtin
            )
    options = sorted({*scheduling.BUILTINS.keys(), *scheduling.USER.keys()})
    raise PolicyLoadError(
        f"Scheduler '{key}' not available.  Options: {options}", field="scheduler_algo"
    )
