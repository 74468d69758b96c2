"""What ``policyforge run`` shows while it works: one line per step (iteration, role, best score
against the baseline and the bound, spend against each budget), then a summary table. Rich
styling when stdout is a terminal, plain lines otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from agents.prompts import shorten

STREAM_LINE_S = 30.0  # without a terminal, a long answer says how far it got this often
TICK_S = 0.5  # on a terminal, the evaluations in flight are redrawn this often

class Progress:
    """Receives ``(node, update)`` after every graph step."""

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.best: float | None = None
        self.records: dict[str, dict[str, Any]] = {}
        self.config: Any = None
        self._console: Any = None
        self.run_dir: Any = None
        self.limits: dict[str, Any] = {}
        self.best_n: int | None = None
        self.iteration = 0  # the last iteration count seen (a tools step carries none)
        self.board: Any = None  # agents.evaluation_board.EvaluationBoard: what runs, since when
        self._ticker: threading.Thread | None = None

    def attach(self, run_dir: Any, budget: Any) -> None:
        """The run folder (for baseline and bound) and the budget to show spend against."""
        self.run_dir = run_dir
        self.limits = budget.model_dump()

    def _print(self, text: str, style: str = "") -> None:
        if self.tty:
            if self._console is None:
                from rich.console import Console

                self._console = Console(file=self.stream, highlight=False)
            self._console.print(text, style=style or None, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def header(self, config: Any) -> None:
        self.config = config
        if self.quiet:
            return
        who = "heuristic proposer (no LLM)" if config.heuristic else ", ".join(
            sorted({m.model for m in config.models.values()}))
        search = [f"population {config.population}" if config.population > 1 else "",
                  f"{config.workers} workers" if (config.workers or 1) > 1 else "",
                  "best-of-n" if config.strategy == "best-of-n" else "",
                  "until the budget is spent" if config.until == "budget" else ""]
        how = "".join(f", {s}" for s in search if s)
        self._print(f"run {config.run_id}: suite {config.suite}, {who}{how}, budget "
                    f"{_budget(config.budget.model_dump())}", "bold")

    def started(self, node: str) -> None:
        """A step begins: on a terminal, a spinner says which role works (and since when)."""
        if self.quiet or not self.tty:
            return
        what = self._what = {"prepare": "running the built-in baselines and bounds",
                "objective": "setting the objective", "planner": "planner thinking",
                "coder": "coder writing a policy",
                "tools": "coder's tool calls", "evaluate": "evaluating in the sandbox",
                "critic": "critic judging (held-out suite if it passes)",
                "branch": "the round's candidates working", "join": "closing the round",
                "reviewer": "reviewer reading (and probing robustness)",
                "finish": "finishing"}.get(node, node)
        self._stop_status()
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        self._status = self._console.status(what)
        self._status.start()

    # --- what the model caller reports (agents.calls.ModelCaller.observer) -------------------

    def model_retry(self, role: str, reason: str, attempt: int, of: int, wait_s: float) -> None:
        """A model call is tried again: say why, even with --quiet (it explains a slow run)."""
        self._print(f"  retry {role}: {reason}; attempt {attempt} of {of} in {wait_s:.3g} s",
                    "yellow")

    def model_streaming(self, role: str, chars: int, seconds: float) -> None:
        """An answer is arriving: the spinner counts it; a log gets a line every 30 s."""
        if self.quiet:
            return
        if self.tty:
            if getattr(self, "_status", None) is not None:
                what = getattr(self, "_what", role)
                self._status.update(f"{what}: {chars:,} characters in {seconds:.0f} s")
            return
        last = getattr(self, "_streamed_at", 0.0)
        if seconds - last >= STREAM_LINE_S or seconds < last:
            self._streamed_at = seconds
            if seconds >= STREAM_LINE_S:
                self._print(f"  {role} answering: {chars:,} characters in {seconds:.0f} s")

    # --- what the evaluation board reports (agents.evaluation_board.EvaluationBoard) ---------

    def evaluation_started(self, candidate: int, part: str, lane: int) -> None:
        """An evaluation begins on a worker lane (several at once with ``--workers``)."""
        if self.quiet:
            return
        if self.tty and getattr(self, "_status", None) is not None:
            self._show_running()
            if self.board is not None and (self._ticker is None or not self._ticker.is_alive()):
                self._ticker = threading.Thread(target=self._tick, name="progress-evaluations",
                                                daemon=True)
                self._ticker.start()
        self._print(f"[iter {self.iteration}]   worker {lane}: candidate {candidate} "
                    f"evaluating on {part}")

    def _show_running(self) -> None:
        """The spinner's text: every evaluation in flight, its worker and its time so far."""
        status = getattr(self, "_status", None)
        running = self.board.running() if self.board is not None else []
        if status is None or not running:
            return
        what = getattr(self, "_what", "evaluating in the sandbox")
        status.update(f"{what}: " + ", ".join(
            f"candidate {c} ({p}) on worker {lane}, {s:.0f} s" for c, p, lane, s in running))

    def _tick(self) -> None:
        """Redraw the evaluations in flight until none is left (a terminal only)."""
        import time

        while self.board is not None and self.board.running():
            self._show_running()
            time.sleep(TICK_S)

    def evaluation_finished(self, candidate: int, part: str, lane: int, seconds: float) -> None:
        if self.quiet:
            return
        self._print(f"[iter {self.iteration}]   worker {lane}: candidate {candidate} {part} "
                    f"done in {seconds:.1f} s")

    def step(self, text: str) -> None:
        """A long part of a step begins (the held-out evaluation, the robustness probe)."""
        if self.quiet:
            return
        if self.tty and getattr(self, "_status", None) is not None:
            self._status.update(text)
        self._print(f"[iter {self.iteration}]   {text}")

    def notice(self, text: str) -> None:
        """Anything else worth a line (a preflight warning)."""
        self._print(f"  {text}", "yellow")

    def close(self) -> None:
        """Stop any spinner (the run ended early, e.g. interrupted)."""
        self._stop_status()

    def _stop_status(self) -> None:
        if getattr(self, "_status", None) is not None:
            self._status.stop()
            self._status = None

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        self._stop_status()
        for key, rec in (update.get("candidates") or {}).items():
            self.records[key] = {**self.records.get(key, {}), **rec}
        if self.quiet:
            return
        spent = update.get("spend") or {}
        if "iterations" in spent:
            self.iteration = spent["iterations"]
        line = f"[iter {self.iteration}] {node:<9}"
        if node == "evaluate" and update.get("last"):
            rec = self.records.get(str(update["last"]), {})
            line += (f" candidate {rec.get('n')}: {rec.get('status')} score "
                     f"{_num(rec.get('score'))}  {shorten(rec.get('summary', ''), 60)}")
        elif node == "critic" and update.get("verdict"):
            v = update["verdict"]
            line += f" candidate {v['candidate']}: {'ACCEPT' if v['accept'] else 'reject'}"
            line += f"  {shorten((v.get('reasons') or [''])[0], 90)}"
        elif node == "planner" and update.get("round_members"):
            members = update["round_members"]
            line += (f" round {update.get('round')}: {len(members)} candidates "
                     f"(#{members[0]}-#{members[-1]})")
        elif node == "planner":
            line += f" {shorten(str(update.get('direction', '')), 100)}"
        elif node == "branch":
            text = self._branch(update)
            if text is None:
                return  # a coder turn or a tool round: the evaluation lines tell the story
            line += text
        elif node == "join":
            if set(update) <= {"spend"}:
                return  # the round goes on
            line += self._round(update)
        elif node == "reviewer" and update.get("review"):
            line += " approved" if update["review"]["approve"] else " changes requested"
        elif node == "finish":
            line += f" stop: {update.get('stop_reason')}"
        if update.get("best") is not None:
            self.best_n = update["best"]
        if node in ("evaluate", "critic", "finish", "join"):
            line += self._standing()
        if spent:
            line += "  | " + self._spend(spent)
        self._print(line)

    def _branch(self, update: dict[str, Any]) -> str | None:
        """A round's candidate got its evaluation's result, or finished."""
        evaluated = just_evaluated(update)
        for key, b in (update.get("branches") or {}).items():
            rec = self.records.get(str(key), {})
            if key in evaluated:
                return (f" candidate {key}: {rec.get('status')} score {_num(rec.get('score'))}"
                        f"  {shorten(rec.get('summary', ''), 60)}")
            if b.get("done"):
                return f" candidate {key}: {shorten(str(b.get('outcome') or ''), 90)}"
        return None

    def _round(self, update: dict[str, Any]) -> str:
        """The round closed: its held-out gate's verdict, or why nothing passed."""
        v = update.get("verdict") or {}
        if v.get("held_out") is not None:
            return (f" round closed: candidate {v.get('candidate')} on the held-out suite: "
                    f"{'ACCEPT' if v.get('accept') else 'reject'}")
        return " round closed: no candidate passed on the search suite"

    def _standing(self) -> str:
        """`` best 32 (#1) vs priority 14, bound 63``."""
        import json
        from pathlib import Path

        best = self.records.get(str(self.best_n), {}) if self.best_n else {}
        if best.get("score") is None or self.run_dir is None:
            return ""
        run = json.loads((Path(self.run_dir) / "run.json").read_text())
        base, bound = run.get("baseline") or {}, run.get("bound") or {}
        tied = sorted(int(k) for k, r in self.records.items()
                      if r.get("score") == best["score"] and int(k) != self.best_n)
        who = f"#{self.best_n}" + (f", tied with #{', #'.join(map(str, tied))}" if tied else "")
        return (f"  [best {_num(best['score'])} ({who}) vs {base.get('policy')} "
                f"{_num(base.get('score'))}, bound {_num(bound.get('score'))}]")

    def _spend(self, spent: dict[str, Any]) -> str:
        """Spend against each budget: ``iter 2/20, 1520 tok, $0.0031/1, 12 s``."""
        def of(value: str, limit: Any, fmt: str = "{:g}") -> str:
            return value + ("" if limit is None else "/" + fmt.format(limit))

        tokens = spent.get("input_tokens", 0) + spent.get("output_tokens", 0)
        minutes = self.limits.get("max_minutes")
        return ", ".join([
            of(f"iter {spent.get('iterations', 0)}", self.limits.get("max_iterations")),
            of(f"{tokens} tok", self.limits.get("max_tokens")),
            of(f"${spent.get('usd', 0):.4f}", self.limits.get("max_usd")),
            of(f"{spent.get('seconds', 0):.0f} s", None if minutes is None else minutes * 60)])

    def summary(self, outcome: Any, exit_code: int) -> None:
        import json

        self._stop_status()
        from pathlib import Path

        run = json.loads((Path(outcome.run_dir) / "run.json").read_text())
        base, bound = run.get("baseline") or {}, run.get("bound") or {}
        best = self.records.get(str(outcome.best_candidate), {}) if outcome.best_candidate else {}
        best_score = best.get("score")
        if best_score is None and outcome.best_candidate:
            result = Path(outcome.run_dir) / "candidates" / str(outcome.best_candidate)
            if (result / "result.json").is_file():
                best_score = json.loads((result / "result.json").read_text()).get("score")
        rows = [("run", f"{outcome.run_id} ({outcome.run_dir})"),
                ("status", f"{outcome.status} (stop reason: {outcome.stop_reason})"),
                ("best candidate", f"{outcome.best_candidate or '-'}"
                 + (" (accepted)" if outcome.accepted_candidate else "")),
                ("objective", (run.get("objective") or {}).get("summary", "-")),
                ("best score", _num(best_score)),
                ("best built-in", f"{base.get('policy', '-')} {_num(base.get('score'))}"),
                ("bound", _num(bound.get("score"))),
                ("spent", _budget_spent(outcome.spent.model_dump())),
                ("exit code", str(exit_code))]
        if self.tty:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="policyforge run", show_header=False)
            for k, v in rows:
                table.add_row(k, v)
            Console(file=self.stream).print(table)
        else:
            for k, v in rows:
                print(f"{k:<15} {v}", file=self.stream)
        if outcome.status == "failed" and outcome.stop_reason:
            reason = outcome.stop_reason.removeprefix("error: ")
            print(f"error: {reason}", file=sys.stderr, flush=True)


def just_evaluated(update: dict[str, Any]) -> list[str]:
    """The candidates whose evaluation's result a population's ``branch`` step brought."""
    records = update.get("candidates") or {}
    return [key for key, b in (update.get("branches") or {}).items()
            if records.get(str(key), {}).get("status") and b.get("phase") == "critic"
            and not b.get("done")]


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) else "-"


def _budget(b: dict[str, Any]) -> str:
    parts = [f"{k.removeprefix('max_')} {v:g}" for k, v in b.items() if v is not None]
    return ", ".join(parts) or "unlimited"


def _budget_spent(s: dict[str, Any]) -> str:
    return (f"{s['iterations']} iterations, {s['input_tokens'] + s['output_tokens']} tokens, "
            f"${s['usd']:.4f}, {s['seconds']:.0f} s, {s['model_calls']} model calls "
            f"({s['failed_calls']} failed)")
