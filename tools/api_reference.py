"""``api_reference``: the policy API, generated from the simulator's own code and docstrings.

The surface a policy uses is listed here by name (`SURFACE`); what each name says comes from the
simulator: signatures from `inspect`, descriptions from docstrings, instance attributes from the
``self.x = ...`` lines of ``__init__``. A name that no longer exists is a programming error, so
the reference cannot drift from the simulator silently. The example is a built-in policy's own
source with its imports rewritten to the ``eudoxia.*`` paths a policy file may use.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from simulator import clock, executor, scheduling, workload
from simulator.python_ast import parse
from tools.context import ToolContext
from tools.errors import tool_function
from tools.policy_facts import OOM, QUIET_TICKS, STARVED_CLASSES, scaling_text

NAME = "api_reference"
DESCRIPTION = (
    "The scheduling-policy API: how a policy file registers itself, what the `s` object, pools, "
    "containers, pipelines, operators, Assignment, Suspend and ExecutionResult offer, the "
    "allowed imports, the params keys, and a complete example policy. Read it before writing "
    "a first policy. No arguments."
)
LIMIT = 9000  # the one tool allowed past the usual cap: it is read once, up front
EXAMPLE_POLICY = "naive"

# (how a policy reaches it, the class, the members a policy uses)
SURFACE: tuple[tuple[str, type, tuple[str, ...]], ...] = (
    ("s (the scheduler object)", scheduling.Scheduler, ("clock", "executor", "params")),
    ("s.clock", clock.SimClock, ("now_seconds", "now_ticks", "ticks_per_second")),
    ("s.executor", executor.Executor,
     ("pools", "num_pools", "cpus_per_pool", "ram_gb_per_pool")),
    ("pool = s.executor.pools[i]", executor.ResourcePool,
     ("pool_id", "max_cpu_pool", "max_ram_pool", "avail_cpu_pool", "avail_ram_pool",
      "active_containers", "suspending_containers", "suspended_containers",
      "get_container_by_id", "consumed_ram_gb")),
    ("container (in a pool's lists)", executor.Container,
     ("container_id", "pool_id", "priority", "operators", "assignment", "can_suspend_container",
      "get_current_memory_usage")),
    ("p (each new Pipeline arrives once in `pipelines`)", workload.Pipeline,
     ("pipeline_id", "priority", "runtime_status")),
    ("p.runtime_status()", workload.PipelineRuntimeStatus,
     ("get_ops", "has_timed_out", "is_pipeline_successful", "state_counts", "operator_states",
      "arrival_tick")),
    ("op (an Operator)", workload.Operator,
     ("pipeline", "parents", "children", "state", "estimate")),
    ("op.estimate", workload.Estimate, ("mem_peak_gb",)),
    ("r (each ExecutionResult in `results`)", executor.ExecutionResult,
     ("ops", "cpu", "ram", "priority", "pool_id", "container_id", "error", "failed")),
)
CONSTRUCTORS: tuple[Callable[..., Any], ...] = (executor.Assignment, executor.Suspend)
# The params a policy may reasonably read (the rest describe how the trace was generated).
POLICY_PARAMS = ("duration", "ticks_per_second", "num_pools", "cpus_per_pool", "ram_gb_per_pool",
                 "multi_operator_containers", "allow_memory_overcommit", "max_job_seconds",
                 "estimator_algo")
# Where the example's imports point, most specific first (the modules Eudoxia's own policies use).
IMPORT_MODULES = ("eudoxia.executor.assignment", "eudoxia.scheduler.decorators", "eudoxia.utils",
                  "eudoxia.workload", "eudoxia.scheduler.waiting_queue")


class ApiReferenceArgs(BaseModel):
    """``api_reference`` takes no arguments."""


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _instance_attributes(cls: type) -> dict[str, str]:
    """``self.x`` assigned in the ``__init__`` of ``cls`` and its bases, with annotations."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or "__init__" not in klass.__dict__:
            continue
        init = _written_init(klass)
        if init is None:  # generated (a dataclass's): its fields are class annotations
            out.update({k: str(v) for k, v in inspect.get_annotations(klass).items()})
            continue
        for node in ast.walk(init):
            target = node.target if isinstance(node, ast.AnnAssign) else None
            targets = [target] if target is not None else getattr(node, "targets", [])
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) \
                        and t.value.id == "self":
                    note = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else ""
                    out[t.attr] = note or out.get(t.attr, "")
    return out


def _written_init(klass: type) -> ast.FunctionDef | None:
    """The ``__init__`` of ``klass`` as its module's source has it (read from the ``.py`` file,
    so a compiled simulator module reads the same), or None where it is generated."""
    from simulator import native

    module = klass.__module__
    path = native.source_of(module) if module in native.COMPILED else inspect.getsourcefile(klass)
    if path is None:
        return None
    for node in ast.walk(_module_tree(str(path))):
        if isinstance(node, ast.ClassDef) and node.name == klass.__name__:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return item
    return None


@cache
def _module_tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as fh:
        return parse(fh.read())


def _member(cls: type, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """(``attribute`` or ``method``, its text); `LookupError` if the simulator has no such name."""
    found = inspect.getattr_static(cls, name, None)
    if isinstance(found, property):
        return "attribute", name
    if callable(found) and inspect.isroutine(found):  # a function, or a compiled one
        params = list(inspect.signature(found).parameters.values())[1:]
        sig = ", ".join(str(p).replace("'", "") for p in params)
        return "method", f"  .{name}({sig}): {_first_line(found)}"
    if name in attributes:
        return "attribute", name + (f" ({attributes[name]})" if attributes[name] else "")
    if found is not None:
        return "attribute", name
    raise LookupError(f"{cls.__name__} has no member {name!r}: update tools.api_reference.SURFACE")


def _class_section(where: str, cls: type, members: tuple[str, ...]) -> list[str]:
    attributes = _instance_attributes(cls)
    found = [_member(cls, m, attributes) for m in members]
    lines = [f"{where}: {_first_line(cls)}"]
    plain = [text for kind, text in found if kind == "attribute"]
    if plain:
        lines.append("  ." + ", .".join(plain))
    return lines + [text for kind, text in found if kind == "method"]


def _constructor(cls: Callable[..., Any]) -> str:
    sig = str(inspect.signature(cls)).replace("'", "").replace(" -> None", "")
    return f"{cls.__name__}{sig}: {_first_line(cls)}"


def _imports() -> list[str]:
    from simulator.policy_loader import compat_modules
    from tools.policy_facts import imports_text

    assignment = "eudoxia.executor.assignment"
    names = ", ".join(sorted(compat_modules()[assignment]))
    return [
        ("Imports are optional (every name here is provided); if you import, use the eudoxia paths "
        f"as in the example, e.g. from {assignment} import {names}; from eudoxia.utils import "
        "Priority."),
        imports_text(),
    ]


def _enums() -> list[str]:
    prio = ", ".join(f"{p.name}={p.value}" for p in workload.Priority)
    states = ", ".join(s.name for s in workload.OperatorState)
    assignable = ", ".join(sorted(s.name for s in workload.ASSIGNABLE_STATES))
    return [f"Priority: {prio} ({_first_line(workload.Priority)})",
            f"OperatorState: {states}; ASSIGNABLE_STATES = {{{assignable}}}"]


def example_source(policy: str = EXAMPLE_POLICY) -> str:
    """A built-in policy's source with its ``simulator.*`` imports rewritten to ``eudoxia.*``."""
    import importlib

    from simulator.policy_loader import compat_modules

    module = importlib.import_module(f"simulator.policies.{policy}")
    source = inspect.getsource(module)
    modules = compat_modules()
    tree = parse(source)
    lines = source.splitlines()
    for node in sorted(ast.walk(tree), key=lambda n: -getattr(n, "lineno", 0)):
        if not isinstance(node, ast.ImportFrom) or node.end_lineno is None:
            continue
        replacement: list[str] = []
        if (node.module or "").startswith("simulator"):
            by_module: dict[str, list[str]] = {}
            for alias in node.names:
                home = next(m for m in IMPORT_MODULES + tuple(sorted(modules))
                            if alias.name in modules.get(m, ()))
                by_module.setdefault(home, []).append(alias.name)
            replacement = [f"from {m} import {', '.join(n)}" for m, n in by_module.items()]
        elif node.module != "__future__":
            continue
        lines[node.lineno - 1:node.end_lineno] = replacement
    if ast.get_docstring(tree) is not None:  # the module docstring: the reference says it
        first = tree.body[0]
        del lines[first.lineno - 1:first.end_lineno]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


@lru_cache(maxsize=1)
def reference_text() -> str:
    """The whole reference (built once per process)."""
    from simulator.params import DEFAULTS

    lines = [
        "POLICY API (Eudoxia-compatible). A policy file registers one key twice:",
        (f"  @register_scheduler_init(key=\"k\") def init(s): ...  "
        f"({_first_line(scheduling.register_scheduler_init)})"),
        "  @register_scheduler(key=\"k\") def schedule(s, results, pipelines): ...",
        ("The scheduler returns (suspensions: list[Suspend], assignments: list[Assignment]). "
        "`pipelines` holds pipelines that arrived since the last call (each once: keep your own "
        "queue on `s`); `results` holds containers that finished or failed (r.error 'OOM' or "
        "'timeout'); their operators return to an ASSIGNABLE state. Never assign more CPU or "
        "RAM than a pool has free, counting your own assignments in the same call. Do not read "
        "an operator's true resource profile (op.get_segments()): a real scheduler only has "
        "op.estimate."),
        *_imports(),
        scaling_text(), OOM, STARVED_CLASSES, QUIET_TICKS,
    ]
    for where, cls, members in SURFACE:
        lines += _class_section(where, cls, members)
    lines.append("Constructors:")
    lines += [f"  {_constructor(c)}" for c in CONSTRUCTORS]
    lines += _enums()
    lines.append("s.params[...]: a dict of the run's params, e.g. "
                 + ", ".join(k for k in DEFAULTS if k in POLICY_PARAMS))
    lines.append(f"Example: the built-in `{EXAMPLE_POLICY}` policy, as a policy file:")
    lines.append(example_source())
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``api_reference`` tool (it needs nothing from the context)."""

    @tool_function(LIMIT)
    def api_reference() -> str:
        return reference_text()

    return StructuredTool.from_function(func=api_reference, name=NAME, description=DESCRIPTION,
                                        args_schema=ApiReferenceArgs)
