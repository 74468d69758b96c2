"""What each role is told. Short, concrete, numbers first; the policy API comes from a tool."""

from __future__ import annotations

import re
from typing import Any

PLANNER_SYSTEM = """\
You are the planner of policyforge, a team that writes scheduling policies for a \
Function-as-a-Service runtime (pipelines of operators on pools of CPU and RAM; priorities \
QUERY > INTERACTIVE > BATCH_PIPELINE) and proves them in a deterministic simulator.
Turn the person's goal into an objective: the metric to improve (completed_pipelines, \
throughput or adjusted_latency), constraints on other metrics, and the margin over the best \
built-in policy. Each later round, read the archive of candidates and their profiles and give \
the coder ONE concrete next direction in a few sentences (what to change and why, with the \
numbers that motivate it). Keep the best candidates in mind, not only the last one."""

CODER_SYSTEM = """\
You are the coder of policyforge. You write one scheduling policy per round as a complete \
Python file in Eudoxia's policy API: `@register_scheduler_init(key=K)` and \
`@register_scheduler(key=K)` on two functions with the same key; the scheduler gets \
(s, results, pipelines) and returns (suspensions, assignments). Never allocate more than a \
pool has free; be deterministic. A real scheduler does not know an operator's true resource \
profile, so do not read its segments unless the objective allows it.
{facts}
{probe}
Use the tools to read the API, validate your code, run a quick simulation and the robustness \
probe before you submit. Send the code once: the tools keep it as the current draft, so pass \
draft='current' afterwards instead of the whole file. When done, reply with the whole file in \
ONE ```python code block and a one-line summary of what changed."""




def coder_system() -> str:
    """The coder's system prompt: the rules, the facts a policy needs, the probe's cases."""
    from tools.policy_facts import facts_text
    from tools.run_probe import probe_text

    return CODER_SYSTEM.format(facts=facts_text(), probe=probe_text())


CRITIC_SYSTEM = """\
You are the critic of policyforge. You get a candidate's verified numbers against the best \
built-in policy and the objective's constraints, and where its time went. The rules' verdict \
is binding when it rejects; you may reject a candidate the rules pass only for a concrete \
reason (e.g. it games a metric). Give reasons with numbers and one hint for the next attempt."""

REVIEWER_SYSTEM = """\
You are the reviewer of policyforge: a maintainer reading an accepted policy before it ships. \
Check it is readable and commented, robust (empty pools, zero free CPUs, OOM storms, empty \
queues), does not game the simulator (no tampering with pools or statistics, no reading what a \
real scheduler cannot know such as true operator sizes unless allowed). Approve, or request \
specific changes."""


def fence(code: str) -> str:
    """``code`` in a python code block."""
    return f"```python\n{code.rstrip()}\n```"


BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str | None:
    """The longest fenced code block of a model's answer that looks like a policy, or None."""
    blocks = [b for b in BLOCK.findall(text or "") if "register_scheduler" in b]
    if not blocks:
        return None
    return max(blocks, key=len).strip() + "\n"


def num(value: Any) -> str:
    """A figure for a prompt or a reason: ``-`` for none, 3 significant digits below 100."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(int(value)) if isinstance(value, float) else str(value)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word boundary (never inside
    a word or a number) and marked with an ellipsis when cut."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)  # the space before the word that does not fit
    if cut <= 0:  # one long word: it is all there is
        cut = limit - 1
    return text[:cut].rstrip(" ,;:") + "…"


def summary_line(text: str) -> str:
    """The candidate's summary: the answer's first non-code paragraph (several sentences and
    ';' included), on one line, shortened at a word boundary."""
    outside = BLOCK.sub("", text or "")
    paragraph: list[str] = []
    for line in outside.splitlines():
        line = line.strip(" #*-")
        if line:
            paragraph.append(line)
        elif paragraph:
            break
    return shorten(" ".join(paragraph), 300)


def archive_text(records: list[dict[str, Any]], limit: int = 4) -> str:
    """The best few candidates and the latest, one line each (no held-out numbers)."""
    if not records:
        return "No candidates yet."
    scored = sorted((r for r in records if r.get("score") is not None),
                    key=lambda r: r.get("rank", 0), reverse=True)
    shown = scored[:limit]
    last = records[-1]
    if last not in shown:
        shown.append(last)
    lines = []
    for r in shown:
        score = "-" if r.get("score") is None else f"{r['score']:.4g}"
        verdict = r.get("verdict_line") or r.get("reason") or ""
        lines.append(f"#{r['n']} [{r['status']}] score {score}: "
                     f"{shorten(r.get('summary', ''), 160)} | {shorten(verdict, 240)}")
    return "\n".join(lines)
