"""The coder: writes or edits one policy per candidate, calling tools along the way; with
``--model heuristic``, the heuristic proposer instead."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agents import prompts
from agents.nodes.common import (
    MAX_CODER_TURNS,
    candidate_records,
    log_malformed,
    objective_of,
    what_it_learns,
)
from agents.state import RunContext, RunState

FORMAT_RULES = {"syntax", "registration", "too-complex", "source-too-large"}
EVALUATING_TOOLS = {"run_probe"}  # tool calls counted as evaluations in the run's spend
TOOL_SUMMARY_CHARS = 700  # an older tool result longer than this is shown by its first lines


def coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Heuristic: the proposer's next configuration. LLM: one model turn of the tool loop."""
    if ctx.heuristic:
        return _heuristic_coder(state, ctx)
    if ctx.tool_context is not None:  # the tools score as the run does (a resumed run too)
        ctx.tool_context.objective = objective_of(state)
    messages = list(state.get("messages") or [])
    fresh: list[Any] = []
    if not messages:
        task = _coder_task(what_it_learns(state, ctx), ctx)
        fresh = [SystemMessage(prompts.coder_system()), HumanMessage(task)]
        messages = fresh
    turns = state.get("coder_turns", 0)
    tools = ctx.tools if turns < MAX_CODER_TURNS - 1 else None
    if tools is None and not fresh:
        nudge = HumanMessage("No more tool calls: submit the whole policy file now.")
        fresh, messages = [nudge], [*messages, nudge]
    answer = ctx.caller.invoke("coder", lean_messages(messages), tools=tools)
    update: dict[str, Any] = {"messages": [*fresh, answer], "coder_turns": turns + 1}
    if isinstance(answer, AIMessage) and answer.tool_calls and tools:
        return update
    code = prompts.extract_code(str(answer.content))
    problem = _format_problem(code)
    if problem is None:
        update["pending"] = {"source": code, "summary": prompts.summary_line(str(answer.content)),
                             "author": "coder", "parent": what_it_learns(state, ctx).get("best")}
        return update
    log_malformed(ctx, state, "coder", problem)
    if state.get("reasks", 0) == 0:
        update["messages"].append(HumanMessage(
            f"Your answer could not be used: {problem}. Reply with the whole policy file in one "
            "```python code block."))
        update["reasks"] = 1
        return update
    ctx.count_iteration()
    update["verdict"] = {"accept": False, "reasons": [f"malformed coder output: {problem}"],
                         "hint": "submit one complete policy file in a ```python block"}
    update["reasks"] = 2
    return update


def lean_messages(messages: list[Any]) -> list[Any]:
    """The coder's conversation as sent: the system prompt and the task first, unchanged from
    turn to turn (a server may cache that prefix); a policy's full text at most once, in the
    latest message that carries it (older copies, in tool-call arguments or fenced in an answer,
    become their draft id); tool results before the latest turn cut to their first lines (the
    full text is in the transcript)."""
    from tools.drafts import draft_id

    code_at = [i for i, m in enumerate(messages) if i >= 2 and _carries_code(m)]
    keep = code_at[-1] if code_at else None
    last_ai = max((i for i, m in enumerate(messages) if isinstance(m, AIMessage)), default=-1)
    out = []
    for i, m in enumerate(messages):
        if i < 2:
            out.append(m)
        elif isinstance(m, AIMessage) and i in code_at and i != keep:
            calls = [{**c, "args": {k: (f"<draft {draft_id(v)}: sent earlier>"
                                         if k == "code" and isinstance(v, str) else v)
                                    for k, v in c["args"].items()}} for c in m.tool_calls]
            content = prompts.BLOCK.sub(lambda b: f"<draft {draft_id(b.group(1))}: sent earlier>",
                                        str(m.content))
            out.append(m.model_copy(update={"content": content, "tool_calls": calls}))
        elif isinstance(m, ToolMessage) and i < last_ai:
            out.append(m.model_copy(update={"content": _summarised(str(m.content))}))
        else:
            out.append(m)
    return out


def _carries_code(message: Any) -> bool:
    if not isinstance(message, AIMessage):
        return False
    if any(isinstance(c["args"].get("code"), str) for c in message.tool_calls):
        return True
    return prompts.BLOCK.search(str(message.content)) is not None


def _summarised(text: str) -> str:
    if len(text) <= TOOL_SUMMARY_CHARS:
        return text
    cut = text.rfind("\n", 0, TOOL_SUMMARY_CHARS)
    cut = cut if cut > TOOL_SUMMARY_CHARS // 3 else TOOL_SUMMARY_CHARS
    return (text[:cut] + f"\n… (summarised: {len(text) - cut} more characters; the full result "
            "is in the run's transcript, call the tool again to see it)")


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
        parts.append(f"Candidate #{best}'s code (edit it or start over; tools take it as "
                     f"draft='candidate {best}'):\n"
                     + prompts.fence(ctx.store.read_policy(best)))
    from tools import TOOL_NAMES

    parts.append(f"Tools: {', '.join(TOOL_NAMES)}.")
    return "\n\n".join(parts)


def _heuristic_coder(state: RunState, ctx: RunContext) -> dict[str, Any]:
    from agents.heuristic.config import HeuristicConfig
    from agents.heuristic.feedback import HeuristicFeedback
    from agents.nodes.evaluate import next_number

    n = next_number(state)
    if ctx.config.strategy == "best-of-n":
        tried = [HeuristicConfig.model_validate(r["config"]) for r in candidate_records(state)
                 if r.get("config")]
        return {"pending": heuristic_pending(ctx.proposer.sample(n, tried), n, None)}
    history = [(HeuristicConfig.model_validate(r["config"]),
                HeuristicFeedback.model_validate(r["feedback"]))
               for r in candidate_records(state) if r.get("config") and r.get("feedback")]
    config = ctx.proposer.propose(history)
    return {"pending": heuristic_pending(config, n, state.get("best"))}


def heuristic_pending(config: Any, n: int, parent: int | None) -> dict[str, Any]:
    """The proposer's configuration ``config`` as candidate ``n``'s submitted policy."""
    from agents.heuristic.config import HeuristicConfig
    from agents.heuristic.render import render_policy

    base = HeuristicConfig()
    changed = {k: v for k, v in config.model_dump().items() if base.model_dump()[k] != v}
    summary = ("heuristic composition: " + ", ".join(f"{k}={v}" for k, v in changed.items())
               if changed else "heuristic composition: the defaults")
    return {"source": render_policy(config, f"candidate_{n}"), "summary": summary,
            "author": "heuristic", "parent": parent, "config": config.model_dump()}


def tool_logger(ctx: RunContext) -> Any:
    """ToolNode's wrapper: every tool call goes to the transcript with its result and time."""

    def wrap(request: Any, execute: Any) -> Any:
        t0 = time.monotonic()
        result = execute(request)
        text = str(getattr(result, "content", result))
        ok = getattr(result, "status", "success") != "error" and not text.startswith("error:")
        if request.tool_call["name"] in EVALUATING_TOOLS:
            ctx.add_pending_evaluation()
        ctx.event("tool_call", role="coder", tool=request.tool_call["name"],
                  args=request.tool_call.get("args", {}), result=text, ok=ok,
                  latency_s=round(time.monotonic() - t0, 3))
        return result

    return wrap
