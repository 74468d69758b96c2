"""The small interface through which an observer (the run profiler) follows a run.

The engine calls a `RunObserver`'s hooks at the moments it defines (a pipeline arrives or leaves,
a policy call's decisions and results, Eudoxia's once-a-second sample, the end) and hands it the
run as an `ObservedRun`: the params, the pipelines and the executor's pools, nothing of the event
loop. Figures an observer reads from containers, pools and pipelines go through their
``observed*`` accessors and `watch`, which never count as a policy's read of time-varying state,
so observing a run cannot change how often the engine calls the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from simulator.executor import Assignment, ExecutionResult, Executor, Suspend
from simulator.workload import Pipeline


class ObservedRun(Protocol):
    """What an observer may read of a run."""

    # read-only: an observer reads them, and the engine's own (a dict, a list) fit
    @property
    def params(self) -> Mapping[str, Any]: ...

    @property
    def max_ticks(self) -> int: ...

    @property
    def pipelines(self) -> Sequence[Pipeline]: ...

    @property
    def executor(self) -> Executor: ...


class RunObserver(Protocol):
    """The hooks the engine calls, in simulated time order."""

    def on_arrival(self, p: Pipeline, tick: int) -> None:
        """A pipeline was delivered to the policy."""

    def on_leave(self, p: Pipeline) -> None:
        """A pipeline completed or timed out."""

    def on_tick(self, run: ObservedRun, tick: int, sus: list[Suspend], asg: list[Assignment],
                results: list[ExecutionResult]) -> None:
        """A policy call: the results it was given and the decisions it made."""

    def on_sample(self, run: ObservedRun, tick: int, consumed: Sequence[float]) -> None:
        """Once per simulated second, the ticks Eudoxia samples memory at; ``consumed`` is each
        pool's RAM in use then (the engine may sample a tick it skips: nothing else moved)."""

    def finish(self, run: ObservedRun) -> None:
        """The run is over."""

    def to_dict(self, run: ObservedRun) -> dict[str, Any]:
        """What the observer found, as JSON-ready data."""
