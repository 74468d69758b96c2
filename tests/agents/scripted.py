"""Scripted runs for the graph tests: policies a coder might write and a run starter.

Responders answer from what they are asked (not from a position in a script), so a run that is
killed and resumed in another process gets the same answers as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from agents.budget import BudgetLimits
from agents.heuristic.config import HeuristicConfig
from agents.heuristic.render import render_policy
from agents.lifecycle import RunOutcome, start_run
from agents.nodes import CriticVerdict, ReviewVerdict
from agents.objective import Objective
from agents.run_config import RunConfig
from agents.scripted import scripted_configs, scripted_models, structured_response
from tests.sandbox.candidate_policies import FIFO

GOOD = render_policy(HeuristicConfig(), "good")  # far above every built-in on `small`
WEAK = FIFO  # below the best built-in
LOOP = '''\
from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init


@register_scheduler_init(key="spin")
def init(s):
    s.n = 0


@register_scheduler(key="spin")
def schedule(s, results, pipelines):
    while True:
        s.n += 1
'''
# FIFO that burns CPU in every call (about 5 ms): an evaluation that takes a second or two, to
# be killed in (at 1 ms a call the whole evaluation could end before the kill).
SLOW_WEAK = WEAK.replace("    s.queue.extend(pipelines)\n",
                         "    s.queue.extend(pipelines)\n    sum(i * i for i in range(80000))\n")


def answer(code: str, summary: str = "A policy.") -> str:
    return f"{summary}\n\n```python\n{code.rstrip()}\n```\n"


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {"content": "", "tool_calls": [{"name": name, "args": args, "id": call_id}]}


OBJECTIVE = Objective(suite="small", margin=0.05)
PLAN = structured_response(OBJECTIVE)
ACCEPT = structured_response(CriticVerdict(accept=True, reasons=["beats the baseline"], hint=""))
REJECT = structured_response(CriticVerdict(accept=False, reasons=["not enough"], hint="more"))
APPROVE = structured_response(ReviewVerdict(approve=True, comments=["clear and commented"]))


def direction(n: int) -> str:
    return f"Direction {n}: protect queries, size RAM from OOM history."


def run(tmp_path: Path, scripts: dict[str, list[Any]], *, budget: BudgetLimits | None = None,
        objective: dict[str, Any] | None = None, timeout_s: float = 60.0,
        prices_file: str | None = None, backend: Any = None,
        progress: Any = None) -> tuple[RunOutcome, list[dict], Any]:
    """Start a scripted run on `small` with the local sandbox; outcome, events, models."""
    from sandbox.local_backend import LocalBackend

    models = scripted_models(scripts)
    config = RunConfig(goal="most completed pipelines", suite="small", objective=objective,
                       models=scripted_configs(), budget=budget or BudgetLimits(max_iterations=6),
                       timeout_s=timeout_s, prices_file=prices_file)
    outcome = start_run(config, tmp_path / "runs", chat_models=models,
                        backend=backend or LocalBackend(warn=False), progress=progress)
    return outcome, events(Path(outcome.run_dir)), models


def events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def candidate_results(run_dir: Path) -> dict[str, tuple[str, Any]]:
    """Each candidate's (source sha256, score), by number: what two runs must agree on."""
    out = {}
    for folder in sorted((run_dir / "candidates").iterdir()):
        result = json.loads((folder / "result.json").read_text())
        out[folder.name] = (result["source_sha256"], result["score"])
    return out


def route(evs: list[dict[str, Any]]) -> list[str]:
    """The transcript as a compact route: event types (with the role of model calls).

    A call's `model_call_sent` (logged before it is sent) is left out: the answered call stands
    for it.
    """
    out = []
    for e in evs:
        if e["type"] == "model_call_sent":
            continue
        if e["type"] == "model_call":
            out.append(f"call:{e['role']}")
        elif e["type"] == "tool_call":
            out.append(f"tool:{e['tool']}")
        elif e["type"] != "budget":
            out.append(e["type"])
    return out


# --- responders: answers chosen from the question ------------------------------------------


def planner_responder(messages: list[BaseMessage]) -> Any:
    from agents.nodes.population import Direction, RoundPlan

    last = str(messages[-1].content)
    if "Give the Objective" in last or "could not be used" in last:
        return PLAN
    if "distinct directions for" in last:  # a population's round
        k = int(last.split("Give ", 1)[1].split()[0])
        round_no = last.count("#")
        return structured_response(RoundPlan(directions=[
            Direction(change=f"round {round_no}, direction {i}: protect queries by {i}",
                      differs=f"variant {i} of {k}") for i in range(k)]))
    return direction(last.count("#"))


def coder_responder(messages: list[BaseMessage]) -> Any:
    task = str(messages[1].content)
    if "No candidates yet" in task:
        return answer(SLOW_WEAK, "FIFO first.")
    return answer(GOOD, "Priority classes with OOM-aware sizing.")


def responders(n: int = 40) -> dict[str, list[Any]]:
    def fixed(entry: Any) -> Any:
        return lambda _messages: entry

    return {"planner": [planner_responder] * n, "coder": [coder_responder] * n,
            "critic": [fixed(ACCEPT)] * n, "reviewer": [fixed(APPROVE)] * n}


def as_ai(entry: Any) -> AIMessage:  # pragma: no cover - debugging aid
    return entry if isinstance(entry, AIMessage) else AIMessage(content=str(entry))
