"""The ``policyforge chat`` session: a terminal conversation with the planner.

Commands: ``/help``, ``/status`` (the session and its current run), ``/budget`` (show or set the
budget applied to the next approved run: ``/budget iterations=5 usd=1 minutes=20``), ``/stop``
(stop the running run, or end the session when none runs), ``/quit``. Approved runs work in the
background, so the person can ask about a run while it works; stopping one (``/stop``, or
ending the session) lets its current step finish and leaves it resumable.

Test and demo seam: with ``POLICYFORGE_SCRIPTED_MODELS=FILE.json`` (``{"planner": [answers],
...}``) the chat and its runs use `agents.scripted.ScriptedChatModel` instead of an endpoint.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from agents.errors import AgentError

PROMPT = "[bold cyan]you>[/] "
INTERNAL = "[policyforge]"  # the prefix of messages the session itself sends the planner
QUIT_COMMANDS = ("/stop", "/quit", "/exit")  # at a question about a proposal: end the session


class EndSession(AgentError):  # noqa: N818 - it ends the session; it reports nothing
    """The person ended the session at a prompt other than the main one."""

    kind = "session_ended"


HELP = """\
/help              this text
/status            the session, its current run and the run's best candidate
/budget [k=v ...]  show or set the next run's budget: iterations=N usd=X minutes=M tokens=N
/stop              stop the running run (resumable), or end the session when none runs
/quit              end the session (resume it later with --resume SESSION)
Anything else goes to the planner."""


class ChatSession:
    """One conversation: its graph, checkpoints and the terminal around them."""

    def __init__(self, args: Any, console: Any) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        from agents.budget import BudgetLimits
        from agents.chat.graph import ChatContext, build_chat_graph
        from agents.run_store import new_run_id

        self.args, self.console = args, console
        self.runs_dir = Path(args.runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.session_id = args.resume or "chat-" + new_run_id()
        self.budget = BudgetLimits()
        self.scripted = _scripted_models()
        self.caller = self._caller()
        self._backend: Any = None
        self.run_thread: Any = None
        self.at_prompt = False  # the main thread waits for the person's next line
        self._print_lock = threading.Lock()
        self.cancel: Any = None
        self.tool_ctx = self._tool_context()
        from tools import build_tools

        data_tools = build_tools(self.tool_ctx, ["list_candidates", "get_candidate",
                                                 "compare_policies", "profile_run"])
        self.conn = sqlite3.connect(self.runs_dir / "chat-sessions.sqlite",
                                    check_same_thread=False)
        ctx = ChatContext(caller=self.caller, data_tools=data_tools, start_run=self._start_run,
                          set_run=self._set_run, run_status=self._run_status)
        self.graph = build_chat_graph(ctx, SqliteSaver(self.conn))
        self.config = {"configurable": {"thread_id": self.session_id}, "recursion_limit": 200}
        if args.resume and not self.graph.get_state(self.config).values:
            raise ValueError(f"no chat session {args.resume!r} in "
                             f"{self.runs_dir / 'chat-sessions.sqlite'}")
        self.run_id: str | None = self.graph.get_state(self.config).values.get("run_id")
        self._set_run(self.run_id)

    # --- set-up -------------------------------------------------------------------------------

    def _caller(self) -> Any:
        from agents.budget import BudgetLimits, Spend
        from agents.calls import ModelCaller
        from agents.models import make_chat_model, resolve_role_models
        from agents.pricing import PriceTable

        model = self.args.model or ("scripted" if self.scripted else None)
        if (not model and not self.args.models) or model == "heuristic":
            raise ValueError("no model: chat needs a language model (--model)")
        configs = resolve_role_models(model, self.args.role_model, self.args.base_url,
                                      api_key_env=self.args.api_key_env,
                                      request_timeout_s=self.args.request_timeout,
                                      models_file=self.args.models)
        models = ({r: self.scripted[r] for r in configs if r in self.scripted}
                  if self.scripted else {"planner": make_chat_model(configs["planner"])})
        return ModelCaller(models, configs, PriceTable.load(), BudgetLimits(), Spend(),
                           self._on_event)

    def _tool_context(self) -> Any:
        from agents.objective import suite_objective
        from sandbox.backend import default_limits
        from tools.context import ToolContext

        return ToolContext(suite=self.args.suite, backend=_LazyBackend(self), limits=
                           default_limits(300), objective=suite_objective(self.args.suite),
                           run_dir=None)

    def backend(self) -> Any:
        if self._backend is None:
            from sandbox.registry import choose_backend

            self._backend = choose_backend(self.args.sandbox)
        return self._backend

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "model_retry":
            self.console.print(_retry_line(event), style="yellow", markup=False)
        elif event.get("type") == "model_call" and not event.get("ok", True):
            self.console.print(f"[model call failed: {event.get('error')}]", style="red",
                               markup=False)

    def close(self) -> None:
        self.stop_run()
        self.conn.close()

    # --- the run and its data -----------------------------------------------------------------

    def _set_run(self, run_id: str | None) -> None:
        """Point the tools at run ``run_id`` (None: none): they score by its suite and the
        objective it recorded, else by the session's."""
        from agents.objective import Objective, suite_objective

        self.run_id = run_id
        run_dir = (self.runs_dir / run_id) if run_id else None
        self.tool_ctx.run_dir = run_dir
        self.tool_ctx.suite = self.args.suite
        self.tool_ctx.objective = suite_objective(self.args.suite)
        try:
            run = json.loads((run_dir / "run.json").read_text()) if run_dir else {}
            recorded = run.get("objective")
            if recorded and run.get("suite"):
                self.tool_ctx.objective = Objective.model_validate(recorded)
                self.tool_ctx.suite = run["suite"]
        except (OSError, ValueError):  # not started yet, or damaged: the session's own
            pass

    def _start_run(self, proposal: Any, run_id: str) -> dict[str, Any]:
        """Start (or resume) the approved run in a background thread; return at once."""

        from agents.run_config import RunConfig

        limits = self.budget.model_copy(update={
            k: v for k, v in {"max_iterations": proposal.max_iterations,
                              "max_usd": proposal.max_usd,
                              "max_minutes": proposal.max_minutes}.items()
            if v is not None and getattr(self.budget, k) is None})
        run_model = self.args.run_model or self.args.model or "scripted"
        heuristic = run_model == "heuristic"
        objective = proposal.objective.model_dump()
        objective["suite"] = self.args.suite
        config = RunConfig(run_id=run_id, goal=proposal.goal, objective=objective,
                           suite=self.args.suite, sandbox=self.args.sandbox, heuristic=heuristic,
                           models={} if heuristic else self.caller.configs, budget=limits,
                           until=proposal.until,
                           population=getattr(self.args, "population", 1),
                           workers=getattr(self.args, "workers", None),
                           ray_address=getattr(self.args, "ray_address", None))
        self.backend()  # choose it here, where a failure can be reported
        self.cancel = threading.Event()
        self.run_thread = threading.Thread(target=self._run_worker, args=(config,),
                                           name=f"run-{run_id}", daemon=True)
        self.run_thread.start()
        return {"run_id": run_id, "status": "running", "suite": self.args.suite,
                "budget": {k: v for k, v in limits.model_dump().items() if v is not None}}

    def _run_worker(self, config: Any) -> None:
        from agents.lifecycle import resume_run, start_run

        run_dir = self.runs_dir / config.run_id
        chat_models = None if config.heuristic or not self.scripted else self.scripted
        progress = _ChatProgress(self.background, config.run_id, config.suite)
        try:
            if (run_dir / "run.json").is_file():
                outcome = resume_run(run_dir, chat_models=chat_models, progress=progress,
                                     backend=self.backend(), cancel=self.cancel,
                                     request_timeout_s=self.args.request_timeout)
            else:
                outcome = start_run(config, self.runs_dir, chat_models=chat_models,
                                    progress=progress, backend=self.backend(),
                                    cancel=self.cancel)
        except Exception as exc:  # noqa: BLE001 - reported to the person, the chat goes on
            self.background(f"[run {config.run_id} failed: {exc}]", style="red")
            return
        s = _run_summary(Path(outcome.run_dir))
        self.background(
            f"[run {outcome.run_id} {outcome.status} ({outcome.stop_reason}): best candidate "
            f"{s['best_candidate']} scores {s['best_score']} vs {s['baseline']} "
            f"{s['baseline_score']}, bound {s['bound']}]", style="bold")

    def background(self, text: str, style: str = "dim") -> None:
        """A line from the background run, then the prompt again if the person was at it."""
        with self._print_lock:
            self.console.print(f"\n{text}", style=style, markup=False)
            if self.at_prompt:
                self.console.print(PROMPT, end="")

    def running(self) -> bool:
        return self.run_thread is not None and self.run_thread.is_alive()

    def stop_run(self, wait: bool = True) -> None:
        """Stop the background run at its next step (it stays resumable)."""
        if not self.running():
            return
        self.console.print(f"stopping run {self.run_id} after its current step (resumable with "
                           f"`policyforge run --resume {self.run_id}`)", markup=False)
        self.cancel.set()
        if wait:
            self.run_thread.join()

    def _run_status(self) -> str:
        if not self.run_id:
            return "No run in this session yet."
        return json.dumps(_run_summary(self.runs_dir / self.run_id))

    # --- the conversation ---------------------------------------------------------------------

    def loop(self) -> int:
        c = self.console
        c.print(f"policyforge chat — session {self.session_id} (/help for commands)",
                style="bold", markup=False)
        try:
            return self._converse()
        except EndSession:
            return self._end()

    def _converse(self) -> int:
        c = self.console
        if self.args.resume:
            self._replay_history()
            pending = self._pending()
            if pending is not None:
                self._send(self._decide(pending))
        while True:
            try:
                self.at_prompt = True
                text = c.input(PROMPT).strip()
            except EOFError:
                text = "/stop"
            except KeyboardInterrupt:
                c.print()
                continue
            finally:
                self.at_prompt = False
            if not text:
                continue
            if text.startswith("/"):
                if self._command(text):
                    return 0
                continue
            self._send({"messages": [("user", text)]})

    def _send(self, payload: Any) -> None:
        from agents.budget import BudgetExhausted
        from agents.calls import ModelCallFailed

        seen = len(self.graph.get_state(self.config).values.get("messages", []))
        self._set_run(self.run_id)  # a run may have chosen its objective since
        try:
            self.graph.invoke(payload, self.config)
        except (ModelCallFailed, BudgetExhausted) as exc:
            self.console.print(f"error: {getattr(exc, 'reason', exc)}", style="red",
                               markup=False)
            return
        self._show_new(seen)
        pending = self._pending()
        if pending is not None:
            self._send(self._decide(pending))

    def _pending(self) -> Any:
        snapshot = self.graph.get_state(self.config)
        for task in snapshot.tasks:
            for intr in getattr(task, "interrupts", ()):
                return intr.value
        return None

    def _decide(self, pending: dict[str, Any]) -> Any:
        from langgraph.types import Command
        from rich.table import Table

        proposal = pending["proposal"]
        objective = proposal["objective"]
        table = Table(title="Proposed run", show_header=False)
        table.add_row("goal", proposal["goal"])
        table.add_row("objective", objective.get("summary") or objective["metric"])
        for con in objective.get("constraints", []):
            table.add_row("constraint", f"{con['metric']} {con['op']} {con['value']} "
                                        f"({con.get('over', 'median')})")
        table.add_row("suite", self.args.suite)
        budget = {k: v for k, v in {"iterations": proposal.get("max_iterations"),
                                    "usd": proposal.get("max_usd"),
                                    "minutes": proposal.get("max_minutes")}.items() if v}
        table.add_row("budget", ", ".join(f"{k} {v}" for k, v in budget.items()))
        if proposal.get("until") == "budget":
            table.add_row("until", "the budget is spent (the first accepted policy is the floor)")
        self.console.print(table)
        while True:
            try:
                answer = self.console.input(
                    "Start this run? [bold]yes[/] / no / what to change: ").strip()
            except EOFError:
                answer = "no"
            if not answer.startswith("/"):
                return Command(resume=answer or "no")
            # a slash command means what it means at every prompt; the proposal stays pending
            if answer.split()[0] in QUIT_COMMANDS:
                raise EndSession("the person ended the session at the approval question")
            self._command(answer)


    def _show_new(self, seen: int) -> None:
        """What happened since message ``seen``: tool calls and results, then the answer."""
        messages = self.graph.get_state(self.config).values.get("messages", [])
        for m in messages[seen:]:
            if m.type == "ai":
                for call in getattr(m, "tool_calls", None) or []:
                    if call["name"] != "propose_run":
                        self.console.print(f"  [tool {call['name']} {json.dumps(call['args'])}]",
                                           style="dim", markup=False)
                if m.content and not str(m.content).startswith(INTERNAL):
                    self.console.print(f"planner> {m.content}", markup=False)
            elif m.type == "tool" and m.name != "propose_run":
                text = str(m.content)
                short = text if len(text) <= 600 else text[:600] + " ..."
                self.console.print(f"  {short}", style="dim", markup=False)

    def _replay_history(self) -> None:
        messages = self.graph.get_state(self.config).values.get("messages", [])
        for m in messages[-6:]:
            if m.type == "human" and str(m.content).startswith(INTERNAL):
                continue  # what the session told the planner, never the person's own words
            if m.type == "human":
                self.console.print(f"you> {m.content}", style="dim", markup=False)
            elif m.type == "ai" and m.content:
                self.console.print(f"planner> {m.content}", style="dim", markup=False)

    def _end(self) -> int:
        """Stop a running run (resumable) and say how to come back."""
        self.stop_run()
        self.console.print(f"session saved: resume with `policyforge chat --resume "
                           f"{self.session_id}`", markup=False)
        return 0

    def _command(self, text: str) -> bool:
        """Run a slash command; True when the session should end."""
        name, _, rest = text.partition(" ")
        c = self.console
        if name == "/help":
            c.print(HELP, markup=False)
        elif name == "/status":
            c.print(f"session {self.session_id}; runs dir {self.runs_dir}", markup=False)
            c.print(self._run_status(), markup=False)
            spent = self.caller.spend
            c.print(f"conversation: {spent.model_calls} model calls, {spent.tokens} tokens, "
                    f"${spent.usd:.4f}", markup=False)
        elif name == "/budget":
            if rest.strip():
                try:
                    self.budget = _parse_budget(rest, self.budget)
                except ValueError as exc:
                    c.print(f"error: {exc}", style="red", markup=False)
                    return False
            shown = {k: v for k, v in self.budget.model_dump().items() if v is not None}
            c.print(f"next run's budget: {shown or 'as proposed'}", markup=False)
        elif name == "/stop" and self.running():
            self.stop_run()
        elif name in QUIT_COMMANDS:
            self._end()
            return True
        else:
            c.print(f"unknown command {name}; /help lists them", markup=False)
        return False


class _ChatProgress:
    """A background run's progress in the chat: what it is doing when a slow step starts (the
    baselines, an evaluation) and each candidate's result; quiet otherwise."""

    def __init__(self, say: Any, run_id: str, suite: str) -> None:
        from agents.progress import Progress

        self.inner = Progress(quiet=True)
        self.say, self.run_id, self.suite = say, run_id, suite

    def attach(self, run_dir: Any, budget: Any) -> None:
        self.inner.attach(run_dir, budget)

    def started(self, node: str) -> None:
        if node == "prepare":
            self.say(f"  [run {self.run_id}: running the built-in baselines and bounds on "
                     f"{self.suite} (once per run)]")

    def model_retry(self, role: str, reason: str, attempt: int, of: int, wait_s: float) -> None:
        self.say(f"  [run {self.run_id}: " + _retry_line(
            {"role": role, "reason": reason, "next_attempt": attempt, "max_attempts": of})[1:],
            style="yellow")

    def evaluation_started(self, candidate: int, part: str, lane: int) -> None:
        self.say(f"  [run {self.run_id}: evaluating candidate {candidate} on {part} in the "
                 f"sandbox (worker {lane})]")

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        self.inner(node, update)
        if node == "branch":
            from agents.progress import just_evaluated

            for key in just_evaluated(update):
                rec = self.inner.records.get(str(key), {})
                self.say(f"  [run {self.run_id}: candidate {key} {rec.get('status')}, "
                         f"score {rec.get('score')}]")
        elif node == "join" and update.get("verdict"):
            v = update["verdict"]
            self.say(f"  [run {self.run_id}: round closed; candidate {v.get('candidate')} "
                     + ("accepted]" if v.get("accept") else "not accepted]"))
        elif node == "evaluate" and update.get("last"):
            rec = self.inner.records.get(str(update["last"]), {})
            self.say(f"  [run {self.run_id}: candidate {rec.get('n')} {rec.get('status')}, "
                     f"score {rec.get('score')}]")


class _LazyBackend:
    """The sandbox backend, chosen only when a tool first needs one."""

    def __init__(self, session: ChatSession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session.backend(), name)


def _retry_line(event: dict[str, Any]) -> str:
    """``[retry planner: <reason>; attempt 2 of 3]`` for a ``model_retry`` event."""
    return (f"[retry {event.get('role')}: {event.get('reason')}; attempt "
            f"{event.get('next_attempt')} of {event.get('max_attempts')}]")


def _parse_budget(text: str, current: Any) -> Any:
    keys = {"iterations": "max_iterations", "usd": "max_usd", "minutes": "max_minutes",
            "tokens": "max_tokens"}
    update: dict[str, Any] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or key not in keys:
            raise ValueError(f"{item!r}: use iterations=N usd=X minutes=M tokens=N")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: {value!r} is not a number") from None
        if number <= 0:
            raise ValueError(f"{item!r}: must be positive")
        update[keys[key]] = int(number) if key in ("iterations", "tokens") else number
    return current.model_copy(update=update)


def _run_summary(run_dir: Path) -> dict[str, Any]:
    run = json.loads((run_dir / "run.json").read_text())
    best = run.get("best_candidate")
    score = None
    if best:
        result = run_dir / "candidates" / str(best) / "result.json"
        if result.is_file():
            score = json.loads(result.read_text()).get("score")
    return {"run_id": run["run_id"], "status": run["status"],
            "stop_reason": run.get("stop_reason"), "best_candidate": best,
            "accepted_candidate": run.get("accepted_candidate"), "best_score": score,
            "baseline": run.get("baseline", {}).get("policy"),
            "baseline_score": run.get("baseline", {}).get("score"),
            "bound": (run.get("bound") or {}).get("score"),
            "iterations": run.get("spent", {}).get("iterations")}


def _scripted_models() -> dict[str, Any] | None:
    path = os.environ.get("POLICYFORGE_SCRIPTED_MODELS")
    if not path:
        return None
    from agents.scripted import scripted_models

    return scripted_models(json.loads(Path(path).read_text()))
