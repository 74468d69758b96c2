"""The coder: writes or edits one policy per candidate, calling tools along the way; with
``--model heuristic``, the heuristic proposer instead."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agents import prompts
from agents.nodes.common import MAX_CODER_TURNS, candidate_records, log_malformed, objective_of
from agents.state import RunContext, RunState

FORMAT_RULES = {"syntax", "registration", "too-complex", "source-too-large"}



def coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Heuristic: the proposer's next configuration. LLM: one model turn of the tool loop."""
    if ctx.heuristic:
        return _heuristic_coder(state, ctx)
    messages = list(state.get("messages") or [])
    fresh: list[Any] = []
    if not messages:
        fresh = [SystemMessage(prompts.CODER_SYSTEM), HumanMessage(_coder_task(state, ctx))]
        messages = fresh
    turns = state.get("coder_turns", 0)
    tools = ctx.tools if turns < MAX_CODER_TURNS - 1 else None
    if tools is None and not fresh:
        nudge = HumanMessage("No more tool calls: submit the whole policy file now.")
        fresh, messages = [nudge], [*messages, nudge]
    answer = ctx.caller.invoke("coder", messages, tools=tools)
    update: dict[str, Any] = {"messages": [*fresh, answer], "coder_turns": turns + 1}
    if isinstance(answer, AIMessage) and answer.tool_calls and tools:
        return update
    code = prompts.extract_code(str(answer.content))
    problem = _format_problem(code)
    if problem is None:
        update["pending"] = {"source": code, "summary": prompts.summary_line(str(answer.content)),
                             "author": "coder", "parent": state.get("best")}
        return update
    log_malformed(ctx, state, "coder", problem)
    if state.get("reasks", 0) == 0:
        update["messages"].append(HumanMessage(
            f"Your answer could not be used: {problem}. Reply with the whole policy file in one "
            "```python code block."))
        update["reasks"] = 1
        return update
    ctx.caller.spend = ctx.caller.spend.model_copy(
        update={"iterations": ctx.caller.spend.iterations + 1})
    update["verdict"] = {"accept": False, "reasons": [f"malformed coder output: {problem}"],
                         "hint": "submit one complete policy file in a ```python block"}
    update["reasks"] = 2
    return update


def after_coder(state: RunState) -> str:
    """Where the coder's turn leads: its tools, a re-ask, evaluation, or a new round."""
    if state.get("pending"):
        return "evaluate"
    messages = state.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    if state.get("reasks", 0) == 1 and isinstance(last, HumanMessage):
        return "coder"
    return "planner"


def _format_problem(code: str | None) -> str | None:
    if code is None:
        return "no ```python code block with a registered policy"
    from sandbox.static_checks import check_policy_source

    report = check_policy_source(code, "policy.py")
    bad = [f for f in report.errors if f.rule in FORMAT_RULES]
    return bad[0].format("policy.py") if bad else None


def _coder_task(state: RunState, ctx: RunContext) -> str:
    objective = objective_of(state)
    parts = [f"Objective: {objective.summary}.",
             f"Direction from the planner: {state.get('direction', '')}",
             f"Archive (best first):\n{prompts.archive_text(candidate_records(state))}"]
    review = state.get("review")
    best = state.get("best")
    if review and not review.get("approve"):
        parts.append("The reviewer asks for changes to the accepted candidate #"
                     f"{review['candidate']}:\n- " + "\n- ".join(
                         review.get("requested_changes") or review.get("comments") or []))
        best = review["candidate"]
    if best:
        parts.append(f"Candidate #{best}'s code (edit it or start over):\n"
                     + prompts.fence(ctx.store.read_policy(best)))
    parts.append("Tools: api_reference, validate_policy, run_simulation, profile_run, "
                 "read_trace, profile_workload, compare_policies, list_candidates, get_candidate.")
    return "\n\n".join(parts)


def _heuristic_coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    from agents.heuristic.config import HeuristicConfig
    from agents.heuristic.feedback import HeuristicFeedback
    from agents.heuristic.render import render_policy

    history = [(HeuristicConfig.model_validate(r["config"]),
                HeuristicFeedback.model_validate(r["feedback"]))
               for r in candidate_records(state) if r.get("config") and r.get("feedback")]
    config = ctx.proposer.propose(history)
    n = len(state.get("candidates") or {}) + 1
    base = HeuristicConfig()
    changed = {k: v for k, v in config.model_dump().items() if base.model_dump()[k] != v}
    summary = ("heuristic composition: " + ", ".join(f"{k}={v}" for k, v in changed.items())
               if changed else "heuristic composition: the defaults")
    return {"pending": {"source": render_policy(config, f"candidate_{n}"), "summary": summary,
                        "author": "heuristic", "parent": state.get("best"),
                        "config": config.model_dump()}}


def tool_logger(ctx: RunContext) -> Any:
    """ToolNode's wrapper: every tool call goes to the transcript with its result and time."""

    def wrap(request: Any, execute: Any) -> Any:
        t0 = time.monotonic()
        result = execute(request)
        text = str(getattr(result, "content", result))
        ok = getattr(result, "status", "success") != "error" and not text.startswith("error:")
        ctx.event("tool_call", role="coder", tool=request.tool_call["name"],
                  args=request.tool_call.get("args", {}), result=text[:4000], ok=ok,
                  latency_s=round(time.monotonic() - t0, 3))
        return result

    return wrap
