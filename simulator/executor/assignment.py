"""What a policy returns (assignments, suspensions) and what it gets back (execution results)."""

from __future__ import annotations

from typing import Any

from simulator.identity import OnFirstRead, token
from simulator.workload import Operator, OperatorState, Priority


class Assignment:
    """A request to start a container with ``ops`` in ``pool_id``; moves the ops to ASSIGNED."""

    _snap = OnFirstRead("_snap", token)

    def __init__(
        self,
        ops: list[Operator],
        cpu: float,
        ram: float,
        priority: Priority,
        pool_id: int,
        pipeline_id: str,
        container_id: str | None = None,
        is_resume: bool = False,
        force_run: bool = False,
    ) -> None:
        assert len(ops) > 0, "assignments cannot have zero operators"
        assert cpu > 0, f"must assign positive CPU allocation, got {cpu}"
        assert ram > 0, f"must assign positive RAM allocation, got {ram}"
        self.ops = ops
        self.cpu = cpu
        self.ram = ram
        self.priority = priority
        self.pool_id = pool_id
        self.pipeline_id = pipeline_id
        self.container_id = container_id
        self.is_resume = is_resume
        self.force_run = force_run
        for op in ops:
            op.transition(OperatorState.ASSIGNED)

    def __repr__(self) -> str:
        return (
            f"Assignment: allocate container with {self.cpu} CPUs, {self.ram}GB RAM "
            f"for pipeline {self.pipeline_id}"
        )


class Suspend:
    """A request to suspend a container at an operator boundary."""

    _snap = OnFirstRead("_snap", token)

    def __init__(self, container_id: str, pool_id: int) -> None:
        self.container_id = container_id
        self.pool_id = pool_id

    def __repr__(self) -> str:
        return f"Suspend(container_id={self.container_id!r}, pool_id={self.pool_id!r})"


class ExecutionResult:
    """What a finished (or killed) container reports to the policy the next tick."""

    _snap = OnFirstRead("_snap", token)

    def __init__(
        self,
        ops: list[Operator],
        cpu: float,
        ram: float,
        priority: Priority,
        pool_id: int,
        container_id: str | None = None,
        error: str | None = None,
    ) -> None:
        self.ops = ops
        self.cpu = cpu
        self.ram = ram
        self.priority = priority
        self.pool_id = pool_id
        self.container_id = container_id
        self.error = error

    def failed(self) -> bool:
        """True when the container was killed (OOM or timeout)."""
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ops": [str(op.id) for op in self.ops],
            "cpu": self.cpu,
            "ram": self.ram,
            "priority": self.priority.name,
            "pool_id": self.pool_id,
            "container_id": self.container_id,
            "error": self.error,
        }

    def __repr__(self) -> str:
        return (
            f"ExecutionResult(container_id={self.container_id!r}, pool_id={self.pool_id}, "
            f"error={self.error!r})"
        )


def ticks_run(result: ExecutionResult) -> int:
    """Ticks the container ran before it finished or was killed (0 when not recorded), for the
    engine's observers; not part of Eudoxia's API, so policies never see it as an attribute."""
    return int(getattr(result, "_ticks", 0))

