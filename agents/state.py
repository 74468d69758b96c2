"""A run's state and its context: what the graph carries between steps, and what it does not.

`RunState` is plain data, checkpointed in SQLite after every step (its keys are the checkpoint
format: runs made by earlier versions resume, so keys are added, never renamed). `RunContext`
holds everything that is not data (configuration, the model caller, the sandbox backend, the run
folder, the tools); the nodes (`agents.nodes`) take both, and `agents.graph` wires them together.
Nothing here imports the graph or the nodes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from agents.budget import BudgetLimits, Spend, merge_spend
from agents.calls import ModelCaller
from agents.evaluation_board import EvaluationBoard
from agents.run_config import RunConfig
from agents.run_store import RunStore
from sandbox.backend import Backend, Limits

if TYPE_CHECKING:  # the proposer's module loads the policy renderer; only its type is needed
    from langchain_core.tools import BaseTool

    from agents.heuristic.proposer import HeuristicProposer
    from tools.context import ToolContext


def merge_records(old: dict[str, dict[str, Any]] | None,
                  new: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Candidate records by number; an update merges into the record it names."""
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = {**out.get(key, {}), **value}
    return out


class RunState(TypedDict, total=False):
    """What the graph carries between steps (and what a checkpoint holds)."""

    goal: str
    objective: dict[str, Any] | None
    direction: str
    directions: list[str]  # every direction the planner gave, in order
    messages: Annotated[list[AnyMessage], add_messages]  # the coder's current conversation
    coder_turns: int
    reasks: int
    pending: dict[str, Any] | None  # the coder's submitted policy, before evaluation
    candidates: Annotated[dict[str, dict[str, Any]], merge_records]
    last: int | None
    verdict: dict[str, Any] | None
    review: dict[str, Any] | None
    review_rounds: int
    spend: Annotated[dict[str, Any], merge_spend]  # steps write deltas (see merge_spend)
    stop_reason: str | None
    accepted: int | None
    best: int | None
    error: str | None
    # A population per round (--population K > 1): the round's number and its candidates' own
    # progress (coder conversation, phase), by candidate number; see agents.nodes.population.
    round: int
    round_members: list[int]
    branches: Annotated[dict[str, dict[str, Any]], merge_records]


@dataclass
class RunContext:
    """The non-data side of a run: configuration, caller, sandbox, run folder, tools."""

    config: RunConfig
    store: RunStore
    caller: ModelCaller
    backend: Backend
    limits: Limits
    proposer: HeuristicProposer | None = None  # with --model heuristic
    cancel: threading.Event | None = None  # set: the run stops at the next edge (chat's /stop)
    tools: list[BaseTool] = field(default_factory=list)
    tool_context: ToolContext | None = None  # what the coder's tools serve (not with heuristic)
    baselines: dict[str, Any] = field(default_factory=dict)
    workload_text: str | None = None  # the search suite's workload profile, for the planner
    pending_evaluations: int = 0  # run by tools since the last step (added to the spend next)
    _pending_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _carried: Spend | None = None
    executor: Any = None  # sandbox.executor.Executor (Ray) with --workers N > 1, else None
    evaluations: EvaluationBoard = field(default_factory=EvaluationBoard)  # in flight, per worker

    def say(self, text: str) -> None:
        """A progress line (e.g. a long evaluation begins), for whoever watches the run."""
        show = getattr(self.caller.observer, "step", None)
        if show is not None:
            show(text)

    def add_pending_evaluation(self) -> None:
        """A tool ran an evaluation (tools run on ToolNode's threads, outside any step)."""
        with self._pending_lock:
            self.pending_evaluations += 1

    def take_pending_evaluations(self) -> int:
        """The evaluations tools ran since the last call (they go into the next step's spend)."""
        with self._pending_lock:
            n, self.pending_evaluations = self.pending_evaluations, 0
        return n

    def carry_spend(self, spent: Spend) -> None:
        """Spend already in the caller's total but in no step's (charged on resume): the next
        step to finish writes it into the state."""
        with self._pending_lock:
            self._carried = spent if self._carried is None else self._carried.add(spent)

    def take_carried_spend(self) -> Spend | None:
        with self._pending_lock:
            spent, self._carried = self._carried, None
        return spent

    def count_evaluation(self, n: int = 1) -> None:
        """One more sandbox evaluation in the run's spend."""
        self.caller.charge(Spend(evaluations=n))

    def count_iteration(self) -> None:
        """One more iteration (a candidate, or a population's round) in the run's spend."""
        self.caller.charge(Spend(iterations=1))

    @property
    def heuristic(self) -> bool:
        return self.proposer is not None

    @property
    def budget(self) -> BudgetLimits:
        return self.config.budget

    def event(self, event_type: str, state: RunState | None = None, **fields: Any) -> None:
        """Append a transcript event stamped with the current iteration."""
        iteration = Spend(**(state or {}).get("spend", {})).iterations if state else None
        if iteration is None:
            iteration = self.caller.spend.iterations
        self.store.transcript.write(event_type, iteration=iteration, **fields)

