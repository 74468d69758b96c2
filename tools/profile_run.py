"""``profile_run``: where a run's time and capacity went, from the host's trusted replay profile.

For policy code the sandbox runs it on one search trace with ``profile=True`` and the profile is
the host's own replay of the decisions (`sandbox.evaluation.evaluate_policy`). For an archived
candidate the profile stored in its ``result.json`` is read (the first search trace).
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.archive import load_candidate
from tools.context import ToolContext
from tools.drafts import CODE_HELP, DRAFT_HELP, draft_note
from tools.errors import ToolError, tool_function
from tools.search_suite import search_case, search_names
from tools.text import num, pct, table

NAME = "profile_run"
DESCRIPTION = (
    "Where the time and capacity go in a run: the biggest problems first (starved priority "
    "classes, CPU idle while work was ready, OOM kills and the work they wasted, RAM allocated "
    "but unused, timeouts, preemption waste), then queueing by priority (mean/p95 wait, never "
    "started). Give your policy as `code` or `draft` (default: the current draft; runs it in the "
    "sandbox on `trace`, default the first search trace) or `candidate` (an archived "
    "candidate's stored profile), not both. Use it to decide what to change next."
)
PRIORITIES = ("QUERY", "INTERACTIVE", "BATCH_PIPELINE")


class ProfileRunArgs(BaseModel):
    """Arguments of ``profile_run``: exactly one of ``code`` and ``candidate``."""

    code: str | None = Field(default=None, description=CODE_HELP)
    draft: str | None = Field(default=None, description=DRAFT_HELP)
    candidate: int | None = Field(default=None, description="An archived candidate's number.")
    trace: str | None = Field(
        default=None,
        description="With `code` only: the search trace to profile on (default: the first).",
    )


def profile_code(ctx: ToolContext, code: str, trace: str | None) -> str:
    """Run ``code`` on one search trace in the sandbox and describe the host's profile."""
    from sandbox.evaluation import PolicyInput, evaluate_policy

    name = trace.strip() if trace else search_names(ctx.suite)[0]
    case = search_case(ctx.suite, name)
    report = evaluate_policy(PolicyInput("draft", source=code), [case], ctx.backend, ctx.limits,
                             suite=ctx.suite, part="search", profile=True)
    if report.profile is None:
        raise ToolError(f"{report.status}: {report.reason or 'no verified run to profile'}")
    return describe_profile(report.profile["profile"], f"your code on {name}")


def profile_candidate(ctx: ToolContext, n: int) -> str:
    """Describe the profile stored with archived candidate ``n``."""
    candidate = load_candidate(ctx.run_dir, n)
    profile = (candidate.result or {}).get("profile")
    if not isinstance(profile, dict) or not profile:
        raise ToolError(f"candidate {n} has no stored profile (status {candidate.status}); "
                        "profile its code instead")
    case = search_names(ctx.suite)[0]
    if isinstance(profile.get("profile"), dict):  # stored as the report's {"case", "profile"}
        stored = str(profile.get("case"))
        case = stored if stored in search_names(ctx.suite) else case
        profile = profile["profile"]
    return describe_profile(profile, f"candidate {n} on {case}")


def describe_profile(profile: dict[str, Any], subject: str) -> str:
    """The profile as short text, the most telling facts first."""
    util = profile.get("utilisation") or {}
    queue = profile.get("queueing") or {}
    statuses = [p.get("status") for p in profile.get("pipelines") or []]
    seconds = int((profile.get("idle_capacity") or {}).get("seconds_sampled") or 0)
    lines = [
        (f"profile of {subject}: {seconds} s, {num(util.get('cpu_total'))} CPUs / "
        f"{num(util.get('ram_total_gb'))} GB"),
        (f"pipelines: {statuses.count('completed')} completed, {statuses.count('unfinished')} "
        f"unfinished, {statuses.count('timed_out')} timed out, of {len(statuses)} arrived"),
    ]
    findings = sorted(_findings(profile), key=lambda f: -f[0])
    if findings:
        lines.append("stands out (worst first):")
        lines += [f"- {text}" for _, text in findings]
    else:
        lines.append("nothing stands out: no starvation, OOM, idle or wasted capacity to speak of")
    lines.append("queueing by priority (wait before first start, s):")
    rows = [["priority", "pipelines", "never started", "mean wait", "p95 wait", "longest"]]
    for name in PRIORITIES:
        q = queue.get(name) or {}
        rows.append([name, num(q.get("pipelines")), num(q.get("never_started")),
                     num(q.get("mean_wait_s")), num(q.get("p95_wait_s")),
                     num(q.get("longest_wait_s"))])
    lines += table(rows, "  ")
    lines.append(_capacity_line(profile))
    return "\n".join(lines)


def _capacity_line(profile: dict[str, Any]) -> str:
    util = profile.get("utilisation") or {}
    oom, sus = profile.get("oom") or {}, profile.get("suspensions") or {}
    timeouts = profile.get("timeouts") or {}
    return (
        f"capacity: CPU allocated {pct(util.get('mean_cpu_allocated_fraction'))}, RAM allocated "
        f"{pct(util.get('mean_ram_allocated_fraction'))}, RAM used "
        f"{pct(util.get('mean_ram_used_fraction'))} (means over the run); OOM kills "
        f"{num(oom.get('kills'))}; timeouts {num(timeouts.get('kills'))}; suspensions "
        f"{num(sus.get('count'))}"
    )


def _findings(profile: dict[str, Any]) -> list[tuple[float, str]]:
    """(severity, text) for each problem worth a line; severity is roughly a lost fraction."""
    util = profile.get("utilisation") or {}
    idle = profile.get("idle_capacity") or {}
    oom, sus = profile.get("oom") or {}, profile.get("suspensions") or {}
    timeouts = profile.get("timeouts") or {}
    seconds = float(idle.get("seconds_sampled") or 0)
    cpu_total = float(util.get("cpu_total") or 0)
    capacity = cpu_total * seconds
    out: list[tuple[float, str]] = []
    for name in PRIORITIES:
        q = (profile.get("queueing") or {}).get(name) or {}
        total, never = int(q.get("pipelines") or 0), int(q.get("never_started") or 0)
        if total and never:
            out.append((never / total, (f"{name}: {never} of {total} pipelines never started "
                                       f"(mean wait {num(q.get('mean_wait_s'))} s)")))
    idle_cpu = float(idle.get("cpu_seconds_idle_while_work_ready") or 0)
    if capacity and idle_cpu / capacity >= 0.05:
        out.append((idle_cpu / capacity,
                    (f"CPU idle while work was ready: {pct(idle_cpu / capacity)} of CPU capacity "
                    f"({num(idle.get('seconds_with_ready_work'))} of {num(seconds)} s had ready "
                    f"work){_blocker(util)}")))
    kills = int(oom.get("kills") or 0)
    if kills:
        wasted = float(oom.get("wasted_cpu_seconds") or 0)
        out.append((max(0.05, wasted / capacity if capacity else 0.0),
                    (f"OOM kills: {kills}, wasting {num(wasted)} CPU-s and "
                    f"{num(oom.get('wasted_gb_seconds'))} GB-s (containers given less RAM than "
                    "their operators' peak)")))
    allocated = float(util.get("mean_ram_allocated_fraction") or 0)
    used = float(util.get("mean_ram_used_fraction") or 0)
    if allocated >= 0.5 and used < 0.6 * allocated:
        out.append(((allocated - used) / 2,
                    (f"RAM allocated {pct(allocated)} but used {pct(used)}: containers hold "
                    f"{num(allocated / used if used else None)}x the memory they use")))
    tkills = int(timeouts.get("kills") or 0)
    if tkills:
        wasted = float(timeouts.get("wasted_cpu_seconds") or 0)
        out.append((max(0.05, wasted / capacity if capacity else 0.0),
                    (f"timeouts: {tkills} containers killed at the deadline, wasting "
                    f"{num(wasted)} CPU-s")))
    count = int(sus.get("count") or 0)
    if count:
        held = float(sus.get("held_cpu_seconds") or 0)
        out.append((held / capacity if capacity else 0.0,
                    (f"preemption: {count} suspensions holding {num(held)} CPU-s and "
                    f"{num(sus.get('held_gb_seconds'))} GB-s while suspending")))
    return out


def _blocker(util: dict[str, Any]) -> str:
    """Why ready work did not start, when the RAM ledger says so."""
    ram = float(util.get("mean_ram_allocated_fraction") or 0)
    if ram >= 0.8:
        return f"; RAM allocation ({pct(ram)} on average) is likely what kept it waiting"
    return "; CPU and RAM were both left partly unallocated"


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``profile_run`` tool bound to ``ctx``'s suite, sandbox and archive."""

    @tool_function()
    def profile_run(code: str | None = None, candidate: int | None = None,
                    trace: str | None = None, draft: str | None = None) -> str:
        if trace is not None:
            search_case(ctx.suite, trace.strip())  # any other name: not in the search suite
        if candidate is not None and (code is not None or draft is not None):
            raise ToolError("give one of `code`/`draft` (your policy) and `candidate` (number)")
        if candidate is not None:
            if trace is not None:
                raise ToolError("a candidate's stored profile is of the first search trace; "
                                "to profile another trace pass the candidate's code instead")
            return profile_candidate(ctx, candidate)
        key, source, new = ctx.drafts.resolve(code, draft)
        return profile_code(ctx, source, trace) + "\n" + draft_note(key, new)

    return StructuredTool.from_function(func=profile_run, name=NAME, description=DESCRIPTION,
                                        args_schema=ProfileRunArgs)
