"""Pipelines, operators, segments and their runtime status: Eudoxia's workload model (spec §6.1).

These are the objects a policy sees. Their public names, attributes and methods match Eudoxia's;
the engine reads and writes the underscore-prefixed fields directly so that only the policy's own
reads of time-varying values are noticed (see `simulator.engine`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.identity import OnFirstRead, token

if TYPE_CHECKING:
    from simulator.clock import SimClock

DISK_SCAN_GB_SEC = 20
SEC_TO_MICROSECONDS = 1_000_000
MICROSEC_TO_SEC = 1e-6


class Priority(Enum):
    """Pipeline priority; a smaller value is more important."""

    QUERY = 1
    INTERACTIVE = 2
    BATCH_PIPELINE = 3

    # Members are singletons compared by identity: hash them in C, not by Enum's Python-level
    # hash(name) (set iteration order over members was never stable: str hashes are salted).
    __hash__ = object.__hash__


class DagShape(Enum):
    """Shapes the random generator draws."""

    LINEAR = "linear"
    BRANCH_IN = "branch_in"
    BRANCH_OUT = "branch_out"


class EudoxiaException(Exception):
    """Eudoxia's generic exception (bad scaling function names and the like)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class OperatorState(Enum):
    """Lifecycle of an operator."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUSPENDING = "suspending"
    COMPLETED = "completed"
    FAILED = "failed"

    __hash__ = object.__hash__  # as for Priority


class _MemberField:
    """Stands in for Enum's ``value`` / ``name`` properties on our two enums.

    Each member also holds its value and name in its own ``__dict__``, which wins over this
    non-data descriptor, so ``p.priority.value`` is a plain attribute load instead of a call
    into `enum.property` (policies read it in sort keys on every call).
    """

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        return self if obj is None else getattr(obj, self.attr)


for _enum in (Priority, OperatorState):
    type.__setattr__(_enum, "value", _MemberField("_value_"))
    type.__setattr__(_enum, "name", _MemberField("_name_"))
    for _member in _enum:
        _member.__dict__["value"] = _member._value_
        _member.__dict__["name"] = _member._name_


ASSIGNABLE_STATES = frozenset({OperatorState.PENDING, OperatorState.FAILED})
# Read-only (Eudoxia has a dict): no policy can change the simulator's transition rules.
VALID_TRANSITIONS: Mapping[OperatorState, frozenset[OperatorState]] = MappingProxyType(
    {
        OperatorState.PENDING: frozenset({OperatorState.ASSIGNED}),
        OperatorState.ASSIGNED: frozenset(
            {OperatorState.RUNNING, OperatorState.SUSPENDING, OperatorState.FAILED}
        ),
        OperatorState.RUNNING: frozenset({OperatorState.COMPLETED, OperatorState.FAILED}),
        OperatorState.SUSPENDING: frozenset({OperatorState.PENDING}),
        OperatorState.COMPLETED: frozenset(),
        OperatorState.FAILED: frozenset({OperatorState.ASSIGNED}),
    }
)


# --- CPU scaling functions (n = CPUs of the container, b = baseline seconds) -------------------


def _const(n: float, b: float) -> float:
    return b


def _linear3(n: float, b: float) -> float:
    return b / n if n < 3 else b / 3


def _linear7(n: float, b: float) -> float:
    return b / n if n < 7 else b / 7


def _sqrt(n: float, b: float) -> float:
    return b / np.sqrt(n)


def _log(n: float, b: float) -> float:
    return b / (np.log(n) + 1)


def _squared(n: float, b: float) -> float:
    return b / np.power(n, 2)


def _exp(n: float, b: float) -> float:
    return b / np.power(2, n) if n < 4 else b / 16


class ScalingFuncs:
    """Named CPU scaling functions, as Eudoxia names them."""

    const = staticmethod(_const)
    log = staticmethod(_log)
    sqrt = staticmethod(_sqrt)
    linear3 = staticmethod(_linear3)
    linear7 = staticmethod(_linear7)
    squared = staticmethod(_squared)
    exp = staticmethod(_exp)


SCALING_FUNCS: dict[str, Callable[[float, float], float]] = {
    "const": _const,
    "log": _log,
    "sqrt": _sqrt,
    "linear3": _linear3,
    "linear7": _linear7,
    "squared": _squared,
    "exp": _exp,
}


class Segment:
    """Resource profile of an operator: CPU work, scaling, memory model, storage read."""

    __slots__ = (
        "baseline_cpu_seconds",
        "cpu_scaling",
        "memory_gb",
        "scaling_func",
        "storage_read_gb",
        "_snap",
    )

    def __init__(
        self,
        baseline_cpu_seconds: float | None = None,
        cpu_scaling: str | Callable[[float, float], float] = "const",
        memory_gb: float | None = None,
        storage_read_gb: float = 0,
    ) -> None:
        func = SCALING_FUNCS.get(cpu_scaling) if type(cpu_scaling) is str else None
        if func is not None:
            self.scaling_func = func
        elif callable(cpu_scaling):
            self.scaling_func = cpu_scaling
        else:
            raise EudoxiaException(
                "Invalid scaling func passed to segment. Must be one of: "
                "[<callable>|const|log|sqrt|linear3|linear7|squared|exp]"
            )
        self.cpu_scaling = cpu_scaling
        self.baseline_cpu_seconds = baseline_cpu_seconds
        self.memory_gb = memory_gb
        self.storage_read_gb = storage_read_gb

    def __getattr__(self, name: str) -> Any:
        # only reached for an unset slot or an unknown name: ``_snap`` is drawn on first read
        if name == "_snap":
            tok = token()
            self._snap = tok
            return tok
        raise AttributeError(f"'Segment' object has no attribute '{name}'", name=name, obj=self)

    def get_io_seconds(self) -> float:
        """Seconds to read the segment's input from storage."""
        return self.storage_read_gb / DISK_SCAN_GB_SEC

    def get_cpu_time(self, num_cpus: float) -> float:
        """CPU seconds with ``num_cpus`` CPUs."""
        assert self.baseline_cpu_seconds is not None, "segment has no baseline_cpu_seconds"
        return self.scaling_func(num_cpus, self.baseline_cpu_seconds)

    def get_peak_memory_gb(self) -> float:
        """Peak memory: the fixed amount, or the storage read volume for the growth model."""
        return self.memory_gb if self.memory_gb is not None else self.storage_read_gb

    def get_seconds_until_oom(self, limit: float) -> float | None:
        """Eudoxia's helper (unused by the engine)."""
        if self.memory_gb is not None:
            return 0.0 if self.memory_gb > limit else None
        if self.storage_read_gb <= limit:
            return None
        return limit / DISK_SCAN_GB_SEC


@dataclass
class Estimate:
    """What an estimator tells a policy about an operator."""

    mem_peak_gb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"mem_peak_gb": self.mem_peak_gb}


class Node:
    """A DAG node: parents and children in edge-insertion order."""

    _snap = OnFirstRead("_snap", token)

    def __init__(self) -> None:
        self._id: uuid.UUID | None = None
        self.parents: list[Any] = []
        self.children: list[Any] = []

    @property
    def id(self) -> uuid.UUID:
        """A random UUID, drawn on first use (most runs never ask)."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id = value


class DAG:
    """Operators of a pipeline; iterates breadth-first from the roots (spec §6.1)."""

    _snap = OnFirstRead("_snap", token)

    def __init__(self) -> None:
        self._dag_id: uuid.UUID | None = None
        self._nodes: list[Any] = []
        self._members: set[int] = set()
        self._lookup: dict[Any, Any] | None = None
        self.roots: list[Any] = []
        self._order: list[Any] | None = None

    @property
    def dag_id(self) -> uuid.UUID:
        """A random UUID, drawn on first use."""
        if self._dag_id is None:
            self._dag_id = uuid.uuid4()
        return self._dag_id

    @property
    def node_ids(self) -> list[Any]:
        """Node ids in insertion order."""
        return [node.id for node in self._nodes]

    @property
    def node_lookup(self) -> dict[Any, Any]:
        """Nodes by id."""
        if self._lookup is None or len(self._lookup) != len(self._nodes):
            self._lookup = {node.id: node for node in self._nodes}
        return self._lookup

    def add_node(self, node: Any, parents: list[Any] | None = None) -> None:
        """Add ``node`` below ``parents`` (which must already be in the DAG)."""
        for parent in parents or []:
            if id(parent) not in self._members:
                raise KeyError(f"parent {parent.id} is not in the DAG")
        self._nodes.append(node)
        self._members.add(id(node))
        self._lookup = None
        if parents:
            for parent in parents:
                node.parents.append(parent)
                parent.children.append(node)
        else:
            self.roots.append(node)
        self._order = None

    def find_node_by_id(self, node_id: Any) -> Any:
        """The node with this id, or None."""
        return self.node_lookup.get(node_id)

    def ordered(self) -> list[Any]:
        """Nodes in iteration order (cached until the DAG changes)."""
        if self._order is None:
            order: list[Any] = []
            queue = list(self.roots)
            taken: set[int] = set()
            head = 0
            while head < len(queue):
                node = queue[head]
                head += 1
                order.append(node)
                taken.add(id(node))
                for child in node.children:
                    parents = child.parents
                    if len(parents) == 1 or all(id(p) in taken for p in parents):
                        queue.append(child)
            self._order = order
        return self._order

    def __iter__(self) -> Iterator[Any]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self._nodes)


DAGIterator = Iterator


class Operator(Node):
    """A DAG node of a pipeline holding its segments."""

    def __init__(self) -> None:
        # Node's fields set here directly: a trace builds thousands of operators per run
        self._id: uuid.UUID | None = None
        self.parents: list[Any] = []
        self.children: list[Any] = []
        self.values: list[Segment] = []
        self.pipeline: Pipeline | None = None
        self._ref: tuple[int, int] = (-1, -1)

    # what the estimator tells a policy about this operator, made on first read
    estimate = OnFirstRead("estimate", Estimate)

    def add_segment(self, seg: Segment) -> None:
        """Append a segment (Eudoxia supports one in practice)."""
        self.values.append(seg)

    def get_segments(self) -> list[Segment]:
        """The operator's true resource profile."""
        return self.values

    def state(self) -> OperatorState:
        """Current state, from the pipeline's runtime status."""
        assert self.pipeline is not None
        return self.pipeline.runtime_status().operator_states[self]

    def transition(self, new_state: OperatorState) -> None:
        """Move to ``new_state`` (validated)."""
        assert self.pipeline is not None
        self.pipeline.runtime_status().transition(self, new_state)

    def to_dict(self) -> dict[str, Any]:
        """REST form."""
        status = self.pipeline.runtime_status() if self.pipeline else None
        state = status.operator_states[self] if status else OperatorState.PENDING
        return {
            "id": str(self.id),
            "state": state.value,
            "is_assignable_state": state in ASSIGNABLE_STATES,
            "parents_complete": all(
                status.operator_states[p] == OperatorState.COMPLETED for p in self.parents
            )
            if status
            else not self.parents,
            "estimate": self.estimate.to_dict(),
        }

    def __repr__(self) -> str:
        pid = self.pipeline.pipeline_id if self.pipeline else "?"
        return f"<Operator {self._ref[1]} of pipeline {pid}>"


class _DeferredDAG:
    """``Pipeline.values`` of a pipeline made by `Pipeline.deferred`: the DAG is built on first
    read by the pipeline's ``_build`` and kept in its ``__dict__``, which then shadows this
    non-data descriptor. A pipeline made by ``Pipeline(...)`` has its DAG from the start."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        build = obj.__dict__.pop("_build", None)
        if build is None:
            raise AttributeError(f"'{type(obj).__name__}' object has no attribute 'values'")
        dag = obj.__dict__["values"] = DAG()
        try:
            build(obj)
        except BaseException:  # never half a DAG: the next read tries again (and fails alike)
            del obj.__dict__["values"]
            obj.__dict__["_build"] = build
            raise
        return dag


class Pipeline(Node):
    """A job: a DAG of operators with a priority."""

    values = _DeferredDAG()
    _num_ops: int  # these two only on a deferred pipeline (and _build only until it is built)
    _build: Callable[[Pipeline], object]

    def __init__(self, pipeline_id: str, priority: Priority) -> None:
        super().__init__()
        self.pipeline_id = pipeline_id
        self.priority = priority
        self.values = DAG()
        self._status: PipelineRuntimeStatus | None = None
        self._seq = -1

    @classmethod
    def deferred(
        cls,
        pipeline_id: str,
        priority: Priority,
        num_operators: int,
        build: Callable[[Pipeline], object],
    ) -> Pipeline:
        """A pipeline whose ``num_operators`` operators ``build(pipeline)`` adds (with
        `new_operator`) when something first reads ``values``: most of a saturated run's
        pipelines wait, time out or stay queued, and nothing ever reads their operators."""
        p = cls.__new__(cls)
        p._id = None
        p.parents = []
        p.children = []
        p.pipeline_id = pipeline_id
        p.priority = priority
        p._status = None
        p._seq = -1
        p._num_ops = num_operators
        p._build = build
        return p

    @property
    def built(self) -> bool:
        """Whether the operators exist (always, unless made by `deferred` and never read)."""
        return "values" in self.__dict__

    def new_operator(self, parents: list[Operator] | None = None) -> Operator:
        """Create an operator below ``parents`` and return it."""
        op = Operator()
        op.pipeline = self
        self.values.add_node(op, parents)
        return op

    def runtime_status(self) -> PipelineRuntimeStatus:
        """The mutable status, created on first use (the arrival tick in the simulator)."""
        if self._status is None:
            self._status = PipelineRuntimeStatus(self)
            # from now on a C-level callable returning the status, shadowing this method
            self.runtime_status = itertools.repeat(self._status).__next__  # type: ignore[method-assign]
        return self._status

    def detach(self, keep: bool = True) -> None:
        """End of run: drop the links that make a pipeline and its operators a cycle (each
        operator's ``pipeline``, ``parents`` and ``children``, the status's ``pipeline``).
        ``keep``: the pipeline is kept for reading, so operators never read are built first;
        otherwise a deferred pipeline's operators are never built.

        What a finished run is read for stays: the id, the priority, the status with its ticks,
        operator states and counts, the DAG's operators in order. Without the cycles, reference
        counting frees a run as soon as its result is dropped; left to the cyclic collector, a
        paper trace's 100,000 objects cost a quarter of a run in a process that runs many.
        """
        status = self._status
        if keep and status is not None:
            status.operator_states  # noqa: B018 - built now: nothing can build it once detached
        dag = self.__dict__.get("values") if not keep else self.values
        for op in dag._nodes if dag is not None else ():
            op.pipeline = None
            op.parents = []
            op.children = []
        if status is not None:
            status.pipeline = None  # type: ignore[assignment]
            status._on_complete = None

    def to_dict(self) -> dict[str, Any]:
        """REST form."""
        status = self.runtime_status()
        return {
            "pipeline_id": self.pipeline_id,
            "priority": self.priority.name,
            "arrival_tick": status.arrival_tick,
            "is_complete": status.is_pipeline_successful(),
            "has_failures": status.state_counts[OperatorState.FAILED] > 0,
            "timed_out": status.has_timed_out(),
            "operators": [op.to_dict() for op in self.values],
        }

    def __repr__(self) -> str:
        return f"<Pipeline {self.pipeline_id} {self.priority.name}>"


_STATES = tuple(OperatorState)
# get_ops arguments that are hashable by value and cannot change afterwards
_CACHEABLE = (frozenset, OperatorState, tuple)
# Operator transitions so far, in this process: the engine compares it around a quiet call, so a
# call that moved an operator (an Assignment built and dropped moves its ops to ASSIGNED) is
# never taken for one that changed nothing.
TRANSITIONS = [0]


class _OperatorTables:
    """``operator_states`` and ``_blocked`` of a status whose pipeline's operators were not built
    (`Pipeline.deferred`): both made on the first read of either, every operator PENDING, as
    they would have been at arrival (no operator can change state before it exists)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        obj._tables(obj.pipeline.values.ordered())
        return obj.__dict__[self.name]


class PipelineRuntimeStatus:
    """Per-operator states and counts of one pipeline, plus its arrival and finish ticks."""

    _snap = OnFirstRead("_snap", token)
    operator_states: dict[Operator, OperatorState] = _OperatorTables(  # type: ignore[assignment]
        "operator_states"
    )
    _blocked: dict[Operator, int] = _OperatorTables("_blocked")  # type: ignore[assignment]

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        if "_build" in pipeline.__dict__:  # operators not built yet: see `_OperatorTables`
            n = pipeline._num_ops
        else:
            n = self._tables(pipeline.values.ordered())
        self.state_counts: dict[OperatorState, int] = dict.fromkeys(_STATES, 0)
        self.state_counts[OperatorState.PENDING] = n
        self._num_ops = n
        # get_ops answers by (states, require_parents_complete), until the next transition
        self._ops_cache: dict[Any, list[Operator]] = {}
        # a set this status adds itself to on every transition (the run profiler's), or None
        self._watch: set[PipelineRuntimeStatus] | None = None
        self.arrival_tick: int | None = None
        self.finish_tick: int | None = None
        self.max_job_ticks = 0
        self.clock: SimClock | None = None
        self._on_complete: Callable[[Pipeline], object] | None = None


    def _tables(self, ops: list[Operator]) -> int:
        """Every operator PENDING, and its parents not yet COMPLETED; the operator count."""
        self.operator_states = dict.fromkeys(ops, OperatorState.PENDING)
        # parents not yet COMPLETED, per operator (COMPLETED is final, so this only goes down)
        self._blocked = {op: len(op.parents) for op in ops}
        return len(ops)

    def observed_operators(self) -> int:
        """How many operators the pipeline has, built or not (for the engine's observers)."""
        return self._num_ops

    def watch(self, changed: set[PipelineRuntimeStatus]) -> None:
        """Add this status to ``changed`` now and whenever an operator changes state (for the
        engine's observers: the profiler follows ready work without scanning every pipeline)."""
        self._watch = changed
        changed.add(self)

    def record_arrival(self, clock: SimClock, max_job_ticks: int = 0) -> None:
        """Remember the arrival tick (once)."""
        assert self.arrival_tick is None, "pipeline arrival recorded twice"
        self.clock = clock
        self.arrival_tick = clock._ticks
        self.max_job_ticks = max_job_ticks

    def record_finish(self) -> None:
        """Remember the finish tick."""
        assert self.clock is not None
        self.finish_tick = self.clock._ticks

    def get_latency_ticks(self) -> int:
        """Finish minus arrival, in ticks."""
        assert self.finish_tick is not None and self.arrival_tick is not None
        return self.finish_tick - self.arrival_tick

    def has_timed_out(self) -> bool:
        """Past its ``max_job_seconds`` deadline and not complete."""
        if self.max_job_ticks <= 0 or self.clock is None or self.arrival_tick is None:
            return False
        return (
            self.clock._ticks - self.arrival_tick >= self.max_job_ticks
            and self.state_counts[OperatorState.COMPLETED] != self._num_ops
        )

    def is_pipeline_successful(self) -> bool:
        """Every operator COMPLETED."""
        return self.state_counts[OperatorState.COMPLETED] == self._num_ops

    def check_transition(self, op: Operator, new_state: OperatorState) -> tuple[bool, str]:
        """Whether ``op`` may move to ``new_state``, with the reason if not."""
        old = self.operator_states[op]
        if new_state not in VALID_TRANSITIONS[old]:
            return False, (
                f"Cannot transition operator {op.id} in pipeline {self.pipeline.pipeline_id} "
                f"from {old} to {new_state}"
            )
        if new_state is OperatorState.RUNNING:
            states = self.operator_states
            for parent in op.parents:
                if states[parent] is not OperatorState.COMPLETED:
                    return False, "Dependencies not satisfied"
        return True, ""

    def transition(self, op: Operator, new_state: OperatorState) -> None:
        """Move ``op`` to ``new_state``; AssertionError with Eudoxia's message if invalid."""
        ok, reason = self.check_transition(op, new_state)
        assert ok, reason
        counts = self.state_counts
        counts[self.operator_states[op]] -= 1
        counts[new_state] += 1
        self.operator_states[op] = new_state
        TRANSITIONS[0] += 1
        if self._ops_cache:
            self._ops_cache.clear()
        if self._watch is not None:
            self._watch.add(self)
        if new_state is OperatorState.COMPLETED:
            blocked = self._blocked
            for child in op.children:
                if child in blocked:
                    blocked[child] -= 1
            if counts[new_state] == self._num_ops and self._on_complete is not None:
                self._on_complete(self.pipeline)

    def get_ops(
        self,
        states: OperatorState | Iterable[OperatorState],
        require_parents_complete: bool = False,
    ) -> list[Operator]:
        """Operators in DAG order whose state is one of ``states``."""
        key = None
        if type(states) in _CACHEABLE:
            key = (states, bool(require_parents_complete))
            try:
                hit = self._ops_cache.get(key)
            except TypeError:  # a tuple holding something unhashable
                hit = key = None
            if hit is not None:
                return hit.copy()
        wanted = {states} if isinstance(states, OperatorState) else set(states)
        if require_parents_complete:
            blocked = self._blocked
            items = self.operator_states.items()
            out = [op for op, st in items if st in wanted and not blocked[op]]
        else:
            out = [op for op, st in self.operator_states.items() if st in wanted]
        if key is not None:
            self._ops_cache[key] = out.copy()
        return out
