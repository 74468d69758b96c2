"""Starting and resuming a run: configuration, provenance, the graph with its SQLite checkpoints.

`start_run` writes the run folder and runs the graph to its end; `resume_run` continues a run
from its last checkpoint (budget, archive and transcript carried over). Both return a
`RunOutcome`. ``chat_models`` lets tests (and chat) hand in chat models instead of building
`ChatOpenAI` from the configuration.
"""

from __future__ import annotations

import platform
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.budget import BudgetLimits, Spend
from agents.run_config import RunConfig
from agents.run_lock import RunLock
from agents.run_store import BadRunFolder, RunStore, now_iso


class RunOutcome(BaseModel):
    """How a run ended."""

    run_id: str
    run_dir: str
    status: str
    stop_reason: str
    best_candidate: int | None
    accepted_candidate: int | None
    spent: Spend


# Called with (node, update) after every step; an object may also have ``started(node)``
# (a step begins) and ``attach(run_dir, budget)``.
Progress = Callable[[str, dict[str, Any]], None]


def provenance(backend: Any, suite: str) -> dict[str, Any]:
    """What the numbers depend on: simulator code, numpy, Python, sandbox image, suite version."""
    import numpy

    from sandbox.image import content_hash
    from traces.suites import get_suite

    s = get_suite(suite)
    image = None
    if getattr(backend, "name", "") == "docker":
        image = getattr(backend, "image_id", None)
    return {"simulator_hash": content_hash(), "python": platform.python_version(),
            "numpy": numpy.__version__, "sandbox_backend": getattr(backend, "name", None),
            "sandbox_image": image, "suites": {suite: f"v{s.version}"},
            "suite_hashes": {suite: s.hashes()},
            "policyforge": _version()}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("policyforge")
    except PackageNotFoundError:
        return "unknown"


def start_run(config: RunConfig, runs_dir: str | Path = "runs", *,
              chat_models: dict[str, Any] | None = None, progress: Progress | None = None,
              backend: Any = None, cancel: Any = None) -> RunOutcome:
    """Create the run folder and run the graph until it finishes."""
    from sandbox.registry import choose_backend

    path = Path(runs_dir) / config.run_id
    if path.exists():
        raise FileExistsError(f"run folder {path} already exists")
    store = RunStore(path)
    with RunLock(path):
        backend = backend or choose_backend(config.sandbox)
        _write_new_run(config, store, backend)
        return _drive(config, store, backend, _initial_state(config), chat_models, progress,
                      cancel)


def _initial_state(config: RunConfig) -> dict[str, Any]:
    """The graph's state before its first step."""
    return {"goal": config.goal, "objective": None, "candidates": {}, "spend":
            Spend().model_dump(), "review_rounds": 0, "coder_turns": 0, "reasks": 0}


def _write_new_run(config: RunConfig, store: RunStore, backend: Any) -> None:
    """run.json and the first transcript event of a run that starts from nothing."""
    store.write_run({
        "run_id": config.run_id, "created": now_iso(), "goal": config.goal,
        "objective": config.objective, "suite": config.suite, "seed": config.seed,
        "sandbox": getattr(backend, "name", config.sandbox), "heuristic": config.heuristic,
        "models": ({r: m.model_dump() for r, m in config.models.items()}
                   if not config.heuristic else {"all": "heuristic (non-LLM proposer)"}),
        "budget": config.budget.model_dump(), "spent": Spend().model_dump(),
        "status": "running", "stop_reason": None, "best_candidate": None,
        "accepted_candidate": None, "config": config.model_dump(),
        "provenance": provenance(backend, config.suite)})
    store.transcript.write("run_started", iteration=0, run_id=config.run_id, goal=config.goal,
                           objective=config.objective, budget=config.budget.model_dump(),
                           models=store.read_run()["models"], seed=config.seed,
                           suite=config.suite, resumed=False)


def resume_run(run_dir: Path, *, budget: BudgetLimits | None = None,
               chat_models: dict[str, Any] | None = None, progress: Progress | None = None,
               backend: Any = None, cancel: Any = None,
               engine: dict[str, Any] | None = None,
               request_timeout_s: float | None = None) -> RunOutcome:
    """Continue a run from its last checkpoint; ``budget`` replaces its limits if given,
    ``engine`` (``workers``, ``ray_address``) where its evaluations run, and
    ``request_timeout_s`` every role's time limit per model call attempt (the models stay).

    Only one process works on a run: a second one is refused (`RunLocked`) while the first lives.
    A run killed before its first checkpoint starts again from the beginning.
    """
    RunStore.read_run_json(run_dir)  # a clear error for a folder that is no run
    with RunLock(run_dir):
        return _resume_locked(Path(run_dir), budget, chat_models, progress, backend, cancel,
                              engine or {}, request_timeout_s)


def _resume_locked(run_dir: Path, budget: BudgetLimits | None,
                   chat_models: dict[str, Any] | None, progress: Progress | None,
                   backend: Any, cancel: Any, engine: dict[str, Any],
                   request_timeout_s: float | None = None) -> RunOutcome:
    from sandbox.registry import choose_backend

    data = RunStore.read_run_json(run_dir)
    try:
        config = RunConfig.model_validate(data["config"])
    except (KeyError, ValueError) as exc:
        raise BadRunFolder(f"{Path(run_dir) / 'run.json'}: field config: cannot resume from it "
                           f"({str(exc).splitlines()[0]})") from None
    # A stopped run, or one that ran out of budget and is given a larger one, starts again.
    extend = data.get("status") == "stopped" or (
        budget is not None and data.get("status") == "budget_exhausted")
    if data.get("status") in ("accepted", "budget_exhausted", "failed") and not extend:
        return _outcome(RunStore(run_dir))  # finished: nothing to continue
    _same_suite(config.suite, data)
    fresh = not load_state(run_dir)  # killed before its first checkpoint
    if budget is not None:
        config = config.model_copy(update={"budget": budget})
    if engine:  # another machine or cluster may continue it: where evaluations run is free
        config = config.model_copy(update={"workers": None, "ray_address": None, **engine})
    if request_timeout_s is not None:  # a slow endpoint's run continues with more patience
        config = config.model_copy(update={"models": {
            role: m.model_copy(update={"request_timeout_s": request_timeout_s})
            for role, m in config.models.items()}})
    spent = Spend(**data.get("spent") or {})
    store = RunStore(run_dir, elapsed_base=spent.seconds)
    backend = backend or choose_backend(config.sandbox)
    store.update_run(status="running", stop_reason=None, config=config.model_dump(),
                     budget=config.budget.model_dump())
    store.transcript.write("run_started", iteration=spent.iterations, run_id=config.run_id,
                           goal=config.goal, objective=data.get("objective"),
                           budget=config.budget.model_dump(), models=data.get("models"),
                           seed=config.seed, suite=config.suite, resumed=True)
    # A run stopped by its budget starts again from the top with its state (archive, spend)
    # and a larger budget; any other run continues from its last checkpoint.
    initial = _initial_state(config) if fresh else {"stop_reason": None} if extend else None
    return _drive(config, store, backend, initial, chat_models, progress, cancel)


def _same_suite(suite: str, data: dict[str, Any]) -> None:
    """`SuiteError` if the suite's traces are not those the run recorded (a user suite added
    again or removed): a run is never continued, nor re-scored, on other traces."""
    recorded = ((data.get("provenance") or {}).get("suite_hashes") or {}).get(suite)
    if recorded is None:  # a run made before suite hashes were recorded
        return
    from traces.errors import SuiteError
    from traces.suites import get_suite

    s = get_suite(suite)
    if s.hashes() != recorded:
        made_on = ((data.get("provenance") or {}).get("suites") or {}).get(suite, "?")
        raise SuiteError(f"suite {suite!r} now has other traces (v{s.version}; this run was "
                         f"made on {made_on}): the run stays reviewable but cannot be resumed "
                         "on other traces", suite=suite)


def _drive(config: RunConfig, store: RunStore, backend: Any, initial: dict[str, Any] | None,
           chat_models: dict[str, Any] | None, progress: Progress | None,
           cancel: Any = None) -> RunOutcome:
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agents.graph import RECURSION_LIMIT, build_graph
    from agents.state import RunContext

    ctx = _context(config, store, backend, chat_models)
    # A Docker backend starts each next evaluation's container while the agents work (see
    # sandbox.docker_backend), for this run only: it removes the last one when the run ends.
    spare_before = getattr(backend, "keep_spare", None)
    if spare_before is not None:
        backend.keep_spare = True
    ctx.cancel = cancel
    ctx.caller.observer = progress  # retries and streaming answers shown as they happen
    ctx.evaluations.observer = progress  # evaluations in flight, per worker
    if hasattr(progress, "board"):
        progress.board = ctx.evaluations  # agents.progress.Progress shows each one's time so far
    if progress is not None and hasattr(progress, "attach"):
        progress.attach(store.path, config.budget)
    conn = sqlite3.connect(store.checkpoint_path, check_same_thread=False)
    try:
        graph = build_graph(ctx, SqliteSaver(conn))
        run_config = {"configurable": {"thread_id": config.run_id},
                      "recursion_limit": RECURSION_LIMIT}
        if initial is None or "goal" not in initial:
            snapshot = graph.get_state(run_config)
            if initial is None and not snapshot.next:  # nothing was left to do
                return _outcome(store)
            ctx.caller.spend = Spend(**snapshot.values.get("spend", {}))
            store.transcript.carry_over(ctx.caller.spend.seconds)
            _charge_lost_calls(ctx, store, progress)
        try:
            for mode, chunk in graph.stream(initial, run_config, durability="sync",
                                            stream_mode=["updates", "tasks"]):
                if progress is None:
                    continue
                if mode == "tasks":
                    if "input" in chunk and hasattr(progress, "started"):
                        progress.started(chunk["name"])  # a step begins: show who works
                    continue
                for node, update in chunk.items():
                    # steps write their spend as deltas; progress shows the run's total
                    progress(node, {**(update or {}), "spend": ctx.caller.spend.model_dump()})
        except KeyboardInterrupt:
            store.update_run(status="interrupted", stop_reason="interrupted",
                             spent=ctx.caller.spend.model_dump())
            store.transcript.write("run_finished", iteration=ctx.caller.spend.iterations,
                                   status="interrupted", stop_reason="interrupted",
                                   best_candidate=store.read_run().get("best_candidate"),
                                   accepted_candidate=None,
                                   spent=ctx.caller.spend.model_dump())
            raise
    finally:
        conn.close()
        if ctx.executor is not None:
            ctx.executor.close()
        if spare_before is not None:  # the container started for an evaluation that won't come
            backend.keep_spare = spare_before
            backend.close()
    assert isinstance(ctx, RunContext)
    return _outcome(store)


MODEL_FIELDS = ("input_tokens", "output_tokens", "usd", "model_calls", "failed_calls")


def transcript_model_spend(events: list[dict[str, Any]]) -> tuple[Spend, list[dict[str, Any]]]:
    """What the transcript's model calls cost, and the calls sent but never answered (a run
    killed while they were in flight), each charged at its estimate."""
    answered = {e.get("call_id") for e in events if e.get("type") == "model_call"}
    total = Spend()
    for e in events:
        if e.get("type") == "model_call":
            total = total.add(Spend(input_tokens=int(e.get("input_tokens") or 0),
                                    output_tokens=int(e.get("output_tokens") or 0),
                                    usd=float(e.get("cost_usd") or 0.0), model_calls=1,
                                    failed_calls=int(not e.get("ok", True))))
    lost = [e for e in events if e.get("type") == "model_call_sent"
            and e.get("call_id") not in answered]
    for e in lost:
        prompt = int(e.get("estimate_input_tokens") or 0)
        total = total.add(Spend(input_tokens=prompt,
                                output_tokens=max(0, int(e.get("estimate_tokens") or 0) - prompt),
                                usd=float(e.get("estimate_usd") or 0.0), model_calls=1,
                                failed_calls=1))
    return total, lost


def _charge_lost_calls(ctx: Any, store: RunStore, progress: Any) -> None:
    """On resume: charge what model calls cost after the last checkpoint (answered in a step
    that never finished, or sent and never answered), so nothing is lost and, since the
    checkpoint's spend is subtracted, nothing is charged twice."""
    events = store.transcript.events()
    on_transcript, unanswered = transcript_model_spend(events)
    held = ctx.caller.spend
    lost = Spend(**{f: max(0, getattr(on_transcript, f) - getattr(held, f))
                    for f in MODEL_FIELDS})
    if lost.model_dump(exclude={"seconds"}) == Spend().model_dump(exclude={"seconds"}):
        return
    ctx.caller.charge(lost)
    ctx.carry_spend(lost)
    ids = [e.get("call_id") for e in unanswered]
    store.transcript.write("resume_charge", iteration=held.iterations, charged=lost.model_dump(),
                           unanswered_calls=ids)
    text = (f"resumed: charged {lost.tokens} tokens, ${lost.usd:.4f} for {lost.model_calls} "
            f"model call(s) made after the last checkpoint ({len(ids)} sent and never answered, "
            "at their estimate)")
    notice = getattr(progress, "notice", None)
    if notice is not None:
        notice(text)


def load_state(run_dir: Path) -> dict[str, Any]:
    """The graph state of a run's latest checkpoint (empty if it has none)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    run_id = RunStore.read_run_json(run_dir)["run_id"]
    path = Path(run_dir) / "checkpoints.sqlite"
    if not path.is_file():
        return {}
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saved = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": run_id}})
    except sqlite3.DatabaseError as exc:
        raise BadRunFolder(f"{path}: not a readable checkpoint database ({exc})") from None
    finally:
        conn.close()
    return dict(saved.checkpoint["channel_values"]) if saved else {}


def _outcome(store: RunStore) -> RunOutcome:
    run = store.read_run()
    return RunOutcome(run_id=run["run_id"], run_dir=str(store.path), status=run["status"],
                      stop_reason=run.get("stop_reason") or "", spent=Spend(**run["spent"]),
                      best_candidate=run.get("best_candidate"),
                      accepted_candidate=run.get("accepted_candidate"))


def _executor(config: RunConfig, backend: Any) -> Any:
    """None (evaluations in this process, on ``backend``) unless the run evaluates on Ray:
    ``--workers N > 1``, ``--ray-address`` or ``RAY_ADDRESS``. ``--workers 1`` never imports
    Ray."""
    import os

    if config.workers == 1 or (config.workers is None and config.ray_address is None
                               and not os.environ.get("RAY_ADDRESS")):
        return None
    from sandbox.executor import make_executor

    return make_executor(config.sandbox, workers=config.workers,
                         ray_address=config.ray_address, run_id=config.run_id)


def evaluation_limits(config: RunConfig) -> Any:
    """The sandbox limits of the run's evaluations: this machine's share for each of the
    evaluations that run at once here (``--workers N`` on an embedded Ray, at most a round's
    population; a cluster's nodes each run one per CPU Ray gives them)."""
    from sandbox.backend import default_limits

    at_once = min(config.workers or 1, config.population) if config.ray_address is None else 1
    return default_limits(config.timeout_s, at_once=at_once)


def _context(config: RunConfig, store: RunStore, backend: Any,
             chat_models: dict[str, Any] | None) -> Any:
    from agents.calls import ModelCaller
    from agents.evaluation_board import EvaluationBoard
    from agents.models import make_chat_model
    from agents.pricing import PriceTable
    from agents.state import RunContext

    def on_event(event: dict[str, Any]) -> None:
        event = dict(event)
        kind = event.pop("type", "model_call")
        store.transcript.write(kind, iteration=caller.spend.iterations, **event)

    models: dict[str, Any] = {}
    if not config.heuristic:
        models = dict(chat_models) if chat_models else {
            role: make_chat_model(cfg) for role, cfg in config.models.items()}
    caller = ModelCaller(models, config.models, PriceTable.load(config.prices_file),
                         config.budget, Spend(), on_event)
    limits = evaluation_limits(config)
    ctx = RunContext(config=config, store=store, caller=caller, backend=backend, limits=limits)
    ctx.executor = _executor(config, backend)
    # as many evaluations at once as workers; on a cluster joined without --workers, the round's
    # whole population (Ray places them on its nodes)
    ctx.evaluations = EvaluationBoard(
        config.workers or (config.population if ctx.executor is not None else 1))
    if config.heuristic:
        from agents.heuristic.proposer import HeuristicProposer

        ctx.proposer = HeuristicProposer(seed=config.seed)
    else:
        from agents.objective import suite_objective
        from tools import build_tools
        from tools.context import ToolContext

        # the suite's objective until the run's is chosen: the coder sets it before each turn
        ctx.tool_context = ToolContext(suite=config.suite, backend=backend, limits=limits,
                                       objective=suite_objective(config.suite),
                                       run_dir=store.path)
        ctx.tools = build_tools(ctx.tool_context)
    return ctx
