"""The static checks' rule tables: the import allowlist, forbidden builtins and attributes,
and the advice each finding gives."""

from __future__ import annotations

import functools
import importlib
import re
import types

from simulator import policy_loader

MAX_SOURCE_BYTES = 200 * 1024


ALLOWED_STDLIB = (
    "math", "heapq", "collections", "collections.abc", "itertools", "functools", "statistics",
    "typing", "dataclasses", "enum",
)


NUMPY_ALLOWED = frozenset({
    "array", "asarray", "mean", "median", "percentile", "quantile", "std", "var", "sqrt", "log",
    "log2", "log10", "exp", "minimum", "maximum", "min", "max", "argmin", "argmax", "clip",
    "argsort", "sort", "sum", "cumsum", "prod", "zeros", "ones", "full", "arange", "linspace",
    "floor", "ceil", "round", "abs", "where", "isnan", "isfinite", "isinf", "all", "any", "unique",
    "inf", "nan", "float64", "int64", "ndarray",
})


NUMPY_REJECTED = {
    "ctypeslib": "gives raw memory access through ctypes",
    "load": "reads files (and can unpickle code)",
    "loadtxt": "reads files",
    "genfromtxt": "reads files",
    "fromfile": "reads files",
    "fromregex": "reads files",
    "memmap": "maps files into memory",
    "save": "writes files",
    "savez": "writes files",
    "savez_compressed": "writes files",
    "savetxt": "writes files",
    "lib": "exposes numpy internals and file I/O",
    "testing": "exposes test tooling that runs subprocesses",
    "f2py": "compiles and loads native code",
    "distutils": "compiles and loads native code",
    "random": "is non-deterministic; break ties by arrival order, pipeline_id or a counter on `s`",
}


FORBIDDEN_BUILTINS = {
    "eval": "policies may not run generated code; write the logic as ordinary Python",
    "exec": "policies may not run generated code; write the logic as ordinary Python",
    "compile": "policies may not compile code; write the logic as ordinary Python",
    "__import__": "policies may not import dynamically; use a top-level `import` of an allowed "
    "module",
    "open": "policies have no file access; use what arrives in `s`, `results` and `pipelines` "
    "instead",
    "input": "policies have no console; use what arrives in `s`, `results` and `pipelines` "
    "instead",
    "globals": "introspection is not allowed; keep state on `s` (create it in the init function)",
    "locals": "introspection is not allowed; use the local variables directly",
    "vars": "introspection is not allowed; use ordinary attribute access (`obj.name`)",
    "dir": "introspection is not allowed; use ordinary attribute access (`obj.name`)",
    "getattr": "use plain attribute access (`obj.name`); create optional state in the init "
    "function instead of probing for it, and use `d.get(key, default)` for dicts",
    "setattr": "assign attributes directly (`s.name = value`)",
    "delattr": "delete attributes directly (`del s.name`) or reset them (`s.name = None`)",
    "hasattr": "hasattr can run arbitrary property code; create the attribute in the init "
    "function (e.g. `s.queue = []`) and test it with `if s.queue:`, or use `key in d` for dicts",
    "breakpoint": "there is no debugger in the sandbox; remove the call",
    "help": "there is no console in the sandbox; remove the call",
    "license": "there is no console in the sandbox; remove the call",
    "credits": "there is no console in the sandbox; remove the call",
    "copyright": "there is no console in the sandbox; remove the call",
    "exit": "return `([], [])` from the scheduler instead of exiting",
    "quit": "return `([], [])` from the scheduler instead of exiting",
    "memoryview": "raw memory access is not allowed; use lists or numpy arrays",
}


# Attributes that reach frames, code objects, raw memory or files, whatever object they are on.
INTROSPECTION_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
    "ag_code", "ag_await", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace",
    "tb_frame", "tb_next", "co_code", "co_consts", "co_names", "func_globals", "func_code",
    "ctypes", "tofile", "dump", "dumps",
})


# An operator's true resource profile (spec: segments). A real scheduler only has estimates.
ORACLE_ATTRIBUTES = frozenset({
    "get_segments", "baseline_cpu_seconds", "storage_read_gb", "memory_gb", "scaling_func",
    "cpu_scaling", "get_cpu_time", "get_peak_memory_gb", "get_io_seconds",
    "get_seconds_until_oom",
})


# Dunder methods a policy's own helper classes may define (ordering for heapq, dataclass hooks).
ALLOWED_DUNDER_METHODS = frozenset({
    "__init__", "__post_init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__hash__", "__len__", "__iter__", "__next__", "__contains__",
    "__bool__", "__getitem__",
})


TYPING_EVALUATORS = frozenset({"get_type_hints", "ForwardRef"})


SIMULATOR_STATE = frozenset({"executor", "clock", "params"})


# The executor's resource accounting (ResourcePool): a write to one of these is tampering
# whatever name the pool is reached through (`for pool in s.executor.pools:`), except directly on
# `s`, where it is the policy's own state.
ACCOUNTING_ATTRIBUTES = frozenset({
    "avail_cpu_pool", "avail_ram_pool", "max_cpu_pool", "max_ram_pool", "consumed_ram_gb",
    "num_completed", "container_tick_times", "active_containers", "suspending_containers",
    "suspended_containers",
})


MUTATORS = frozenset({
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "add",
    "discard", "setdefault", "sort", "reverse",
})


WELL_KNOWN_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "ctypes", "importlib", "builtins", "pickle", "marshal",
    "threading", "multiprocessing", "signal", "io", "pathlib", "shutil", "time", "random",
    "inspect", "gc", "types", "code", "codeop", "runpy", "resource", "posix", "nt", "pty",
    "urllib", "http", "requests", "json", "tempfile", "glob", "weakref", "operator",
})


IMPORT_ADVICE = {
    "random": "policies must be deterministic: break ties by arrival order, pipeline_id or a "
    "counter kept on `s`",
    "time": "read simulated time from `s.clock` instead of the wall clock",
    "datetime": "read simulated time from `s.clock` instead of the wall clock",
    "copy": "build new containers directly (`list(x)`, `dict(x)`, `[j for j in q]`)",
    "operator": "use a lambda (e.g. `key=lambda j: j.priority.value`)",
    "logging": "use `print` sparingly (its output is capped) or drop the logging",
    "simulator": "import the same names from the eudoxia paths (e.g. `from "
    "eudoxia.executor.assignment import Assignment`), or use the provided names without imports",
}


DUNDER_TEXT = re.compile(r"__[A-Za-z][A-Za-z0-9_]*__")


OPERATOR_NAME = re.compile(r"^(op|oper|operator)\d*$|^(op|oper|operator)_|_(op|oper|operator)$")


OPS_NAME = re.compile(r"^(ops|operators)\d*$|_(ops|operators)$|^(ops|operators)_")


OPS_ATTRIBUTES = frozenset({"operators", "ops", "children", "parents", "roots"})


LINE_BREAK = re.compile(r"\r\n|\r|\n")


@functools.cache
def module_exports() -> dict[str, frozenset[str]]:
    """Importable module -> the names a policy may take from it."""
    # The shim's table is the single source of the eudoxia names (spec §17 as far as we provide
    # it); modules from §17 it lacks would fail at load time, so they are rejected here too.
    table = policy_loader.compat_modules()
    for name in ALLOWED_STDLIB:
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        if exported is None:
            exported = [n for n in dir(module) if not n.startswith("_")]
        # __all__ keeps out the modules they import (typing.sys, dataclasses.builtins, ...)
        table[name] = frozenset(n for n in exported if not isinstance(getattr(module, n, None),
                                                                     types.ModuleType))
    table["typing"] = table["typing"] - TYPING_EVALUATORS
    table["numpy"] = NUMPY_ALLOWED
    return table


ORACLE_MESSAGE = (
    "{what} is the operator's true resource profile, which a real scheduler does not have; "
    "use `op.estimate.mem_peak_gb` (None when no estimator runs) and what results tell you "
    "(OOM failures, container memory) instead"
)


DUNDER_HINTS = {
    "__class__": "use `isinstance(x, T)` or `type(x)`",
    "__name__": "use a string constant or the enum's `.name`",
    "__dict__": "use ordinary attributes",
    "__builtins__": "the builtins a policy may use are available by name",
    "__import__": "use a top-level `import` of an allowed module",
}


def dunder_message(name: str, attribute: bool = False) -> str:
    what = f"`.{name}`" if attribute else f"`{name}`"
    hint = DUNDER_HINTS.get(name, "use ordinary names and attributes")
    return (f"{what} is a dunder name, and policies may not use them (they are the usual way "
            f"out of a sandbox); {hint}")


def numpy_hint() -> str:
    return f"Policies may use only np.{{{', '.join(sorted(NUMPY_ALLOWED))}}}"


@functools.cache
def eudoxia_modules() -> str:
    return ", ".join(sorted(m for m in module_exports() if m.startswith("eudoxia.")))


def example_attribute(module: str) -> str:
    names = sorted(module_exports().get(module, ()))
    return names[0] if names else "name"

