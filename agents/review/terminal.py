"""The terminal review of a run (rich; plain text when the output is not a terminal).

`render_terminal` returns the finished text, so the caller can scrub secrets from exactly what
will be printed.
"""

from __future__ import annotations

import io
from typing import Any

from agents.review.rundir import RunRow, RunView
from agents.review.summary import (
    budget_text,
    costs_by_role,
    critic_reasons,
    describe,
    evaluation_timeline,
    event_usage,
    fmt_num,
    fmt_seconds,
    model_text,
    policy_diff,
    rounds,
    shorten,
    totals,
    verdict_word,
    vs_baseline,
)


def render_terminal(view: RunView, *, color: bool, width: int,
                    diff: tuple[int, int] | None = None) -> str:
    """Header, timeline, candidates with the critic's reasons, diffs and costs, as text."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False,
                      soft_wrap=False, emoji=False)
    for part in (_header(view), _timeline(view, width), _candidates(view), _rounds(view)):
        if part is None:
            continue
        console.print(part)
        console.print()
    for title, text in _diffs(view, diff):
        console.rule(title, align="left")
        console.print(_diff_renderable(text, color))
    console.print()
    console.print(_costs(view))
    return _tidy(out.getvalue())


def render_runs_table(runs: list[RunRow], *, color: bool, width: int) -> str:
    """``runs list``: one row per run folder (an unreadable one says why)."""
    from rich.console import Console
    from rich.table import Table

    headers = ("id", "created", "goal", "suite", "status", "stop", "best vs baseline", "iter",
               "tokens", "$", "wall")
    rows = [_run_row(row) for row in runs]
    # Every column keeps its full width except the goal and the stop reason (a failed run's
    # error can be long), which share what is left: the reason up to half of it, at least 24.
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    rest = width - (sum(widths) - widths[2] - widths[5]) - 3 * len(headers) - 1
    stop = min(widths[5], max(24, rest // 2))
    flexible = {2: max(8, rest - stop), 5: stop}
    table = Table(box=_box(color), header_style="bold" if color else "", pad_edge=False)
    for i, name in enumerate(headers):
        table.add_column(name, no_wrap=True, overflow="ellipsis",
                         min_width=None if i in flexible else widths[i],
                         max_width=flexible.get(i), justify="right" if i >= 7 else "left")
    for r in rows:
        table.add_row(*map(_plain, r))
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=color, no_color=not color,
            color_system="standard" if color else None, highlight=False).print(table)
    return _tidy(out.getvalue())


def _run_row(row: RunRow) -> list[str]:
    run = row.run
    if run is None:
        return [row.name, "-", f"unreadable: {row.problem}", *["-"] * 8]
    spent = totals(run)
    created = (run.created or "-").replace("T", " ")[:16]
    return [run.run_id, created, shorten(run.goal, 80), run.suite or "-", run.status,
            shorten(run.stop_reason or "-", 48), vs_baseline(row.best_score, run, digits=0),
            str(spent.iterations), f"{spent.tokens:,}", f"{spent.usd:.4f}",
            fmt_seconds(spent.seconds)]


# --- sections ----------------------------------------------------------------------------------


def _header(view: RunView) -> Any:
    from rich.table import Table

    run = view.run
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    best = view.best()
    rows = [
        ("Run", run.run_id + (f"  ({run.created})" if run.created else "")),
        ("Goal", run.goal or "-"),
        ("Objective", run.objective_text),
        ("Status", f"{run.status} ({run.stop_reason or '-'})"),
        ("Suite", f"{run.suite or '-'}, seed {run.seed}, sandbox {run.sandbox or '-'}"),
        ("Baseline", (f"{(run.baseline or {}).get('policy', '-')} {fmt_num(run.baseline_score)}; "
         f"bound {fmt_num(run.bound_score)}")),
        ("Search", run.search_text),
        ("Best", f"candidate {best.n}: {vs_baseline(best.score, run)}" if best else "none yet"),
        ("Budget", budget_text(run.budget or {}, totals(run, view))),
        ("Models", "; ".join(f"{role}: {model_text(m)}" for role, m in run.models.items())
         or "-"),
    ]
    for key, value in rows:
        facts.add_row(key, _plain(value))
    for warning in view.warnings:
        facts.add_row("Warning", _plain(warning))
    return facts


def _timeline(view: RunView, width: int) -> Any:
    from rich.table import Table

    table = Table(title="Timeline", title_justify="left", box=None, pad_edge=False,
                  show_edge=False, header_style="bold")
    roles = max([4] + [len(e.role or "") for e in view.events])
    usage = max([13] + [len(event_usage(e)) for e in view.events])
    table.add_column("elapsed", justify="right", no_wrap=True, min_width=7)
    table.add_column("it", justify="right", no_wrap=True, min_width=2)
    table.add_column("role", no_wrap=True, min_width=roles)
    what = max(20, width - (7 + 2 + roles + usage) - 2 * 4 - 1)
    table.add_column("what", no_wrap=True, overflow="ellipsis", max_width=what)
    table.add_column("tokens / cost", no_wrap=True, justify="right", min_width=usage)
    for e in view.events:
        style = "red" if e.field("ok", True) is False or e.type == "error" else None
        cells = (fmt_seconds(e.elapsed_s), str(e.iteration if e.iteration is not None else "-"),
                 e.role or "-", describe(e, 200), event_usage(e))
        table.add_row(*map(_plain, cells), style=style)
    if not view.events:
        table.add_row("-", "-", "-", "no transcript events", "")
    return table


def _candidates(view: RunView) -> Any:
    from rich.table import Table

    table = Table(title="Candidates", title_justify="left", box=None, pad_edge=False,
                  header_style="bold", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("it", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("score vs baseline", no_wrap=True)
    table.add_column("critic", no_wrap=True)
    table.add_column("reasons", overflow="fold", ratio=1)
    for c in view.candidates:
        accepted, reasons = critic_reasons(view, c)
        verdict = verdict_word(view, c)
        star = "*" if view.run.accepted_candidate == c.n else ""
        why = c.reason
        # (a counted failed run is the evaluation's note and the critic's reason: shown once)
        lines = ([why] if why else []) + [f"- {r}" for r in reasons if r != why]
        cells = (f"{c.n}{star}", str(c.iteration if c.iteration is not None else "-"),
                 c.status, vs_baseline(c.score, view.run), verdict, "\n".join(lines) or "-")
        table.add_row(*map(_plain, cells))
    if not view.candidates:
        table.add_row("-", "-", "-", "-", "-", "no candidates yet")
    return table


def _rounds(view: RunView) -> Any:
    """A population's rounds (K candidates each) and the evaluations per worker, or nothing."""
    from rich.table import Table

    rows, spans = rounds(view), evaluation_timeline(view)
    if not rows and len({s.worker for s in spans}) <= 1:
        return None
    table = Table(title="Rounds", title_justify="left", box=None, pad_edge=False,
                  header_style="bold", show_lines=False)
    table.add_column("round", justify="right", no_wrap=True)
    table.add_column("candidates: score, outcome", overflow="fold", ratio=1)
    table.add_column("held-out gate", no_wrap=True)
    table.add_column("best", no_wrap=True)
    for r in rows:
        members = "\n".join(f"#{n}: {fmt_num(r.scores.get(str(n)))}, "
                            f"{r.outcomes.get(str(n)) or '-'}" for n in r.candidates)
        gate = "-" if r.held_out_gate is None else (
            f"#{r.held_out_gate} {'accepted' if r.accepted else 'rejected'}")
        table.add_row(*map(_plain, (str(r.round), members, gate,
                                    "-" if r.best is None else f"#{r.best}")))
    workers: dict[int, list[str]] = {}
    for s in spans:
        workers.setdefault(s.worker, []).append(
            f"#{s.candidate} {s.part} {s.started_s:.1f}-{s.started_s + s.seconds:.1f}s")
    lines = [f"worker {w}: " + ", ".join(items) for w, items in sorted(workers.items())]
    from rich.console import Group

    return Group(table, _plain("Evaluations per worker (run time):\n" + "\n".join(lines)))


def _diffs(view: RunView, pick: tuple[int, int] | None) -> list[tuple[str, str]]:
    if pick is not None:
        a, b = view.candidate(pick[0]), view.candidate(pick[1])
        pairs = [(a, b)]
    else:
        pairs = list(zip(view.candidates, view.candidates[1:], strict=False))
    out = []
    for a, b in pairs:
        missing = [c.n for c in (a, b) if c.source is None]
        if missing:  # a diff against nothing would show every line as added
            which = " and ".join(f"candidate {n}" for n in missing)
            text = f"(no diff: the policy of {which} is missing)\n"
        else:
            text = policy_diff(a, b) or "(identical policies)\n"
        out.append((f"diff candidate {a.n} -> {b.n}", text))
    return out


def _diff_renderable(text: str, color: bool) -> Any:
    from rich.text import Text

    if not color:
        return Text(text.rstrip("\n"))
    styled = Text()
    for line in text.rstrip("\n").split("\n"):
        style = ("green" if line.startswith("+") and not line.startswith("+++") else
                 "red" if line.startswith("-") and not line.startswith("---") else
                 "magenta" if line.startswith("@@") else "")
        styled.append(line + "\n", style=style)
    return styled


def _costs(view: RunView) -> Any:
    from rich.table import Table

    table = Table(title="Cost by role", title_justify="left", box=None, pad_edge=False,
                  header_style="bold")
    for name in ("role", "calls", "failed", "tools", "in tok", "out tok", "$", "model time"):
        table.add_column(name, justify="left" if name == "role" else "right", no_wrap=True)
    roles = costs_by_role(view)
    for r in roles:
        table.add_row(_plain(r.role), str(r.calls), str(r.failed), str(r.tool_calls),
                      f"{r.input_tokens:,}", f"{r.output_tokens:,}", f"{r.usd:.4f}",
                      fmt_seconds(r.seconds))
    if roles:
        table.add_row("total", str(sum(r.calls for r in roles)),
                      str(sum(r.failed for r in roles)), str(sum(r.tool_calls for r in roles)),
                      f"{sum(r.input_tokens for r in roles):,}",
                      f"{sum(r.output_tokens for r in roles):,}",
                      f"{sum(r.usd for r in roles):.4f}",
                      fmt_seconds(sum(r.seconds for r in roles)), style="bold")
    return table


def _plain(text: str) -> Any:
    """Cell text shown as is: model output may contain ``[...]``, which rich reads as markup."""
    from rich.text import Text

    return Text(text)


def _tidy(text: str) -> str:
    """Without the trailing blanks rich pads lines with, ending in one newline."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines()) + "\n"


def _box(color: bool) -> Any:
    from rich import box

    return box.SIMPLE_HEAD if color else box.ASCII2
