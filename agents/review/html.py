"""The self-contained HTML report of a run: one file, no network, charts as inline SVG.

Every piece of text from the run directory (goal, transcript, policy code) is model output or
user input and is escaped with `html.escape`; the CSS and the small script (expand/collapse and
a role filter) are inline, from ``report.css`` / ``report.js`` beside this module.
"""

from __future__ import annotations

import json
import math
from html import escape
from importlib import resources
from typing import Any

from agents.review import charts
from agents.review.charts import Panel, Series
from agents.review.rundir import PRIORITY_KEYS, Candidate, Event, RunView, baseline_first_case
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
    progress,
    rounds,
    totals,
    verdict_word,
    vs_baseline,
)


def render_html(view: RunView) -> str:
    """The whole report as one HTML document (the caller scrubs secrets from the result)."""
    run = view.run
    body = [
        _header(view),
        _charts(view),
        _candidates(view),
        _rounds(view),
        _policy(view),
        _costs(view),
        _transcript(view),
    ]
    css = resources.files("agents.review").joinpath("report.css").read_text(encoding="utf-8")
    js = resources.files("agents.review").joinpath("report.js").read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>policyforge run {escape(run.run_id)}</title><style>{css}</style></head>"
        f"<body>{''.join(body)}<script>{js}</script></body></html>\n"
    )


# --- sections ----------------------------------------------------------------------------------


def _header(view: RunView) -> str:
    run, spent = view.run, totals(view.run, view)
    budget = run.budget or {}
    rows = [
        ("Goal", escape(run.goal) or "<em>none</em>"),
        ("Objective", escape(run.objective_text)),
        ("Status", (f'<span class="status {escape(run.status)}">{escape(run.status)}</span> '
                   f"({escape(run.stop_reason or '-')})")),
        ("Suite", escape(f"{run.suite or '-'} (seed {run.seed}, sandbox {run.sandbox or '-'})")),
        ("Baseline", escape(f"{(run.baseline or {}).get('policy', '-')}: "
                            f"{fmt_num(run.baseline_score)}; bound {fmt_num(run.bound_score)}")),
        ("Search", escape(run.search_text)),
        ("Best", escape(_best_text(view))),
        ("Budget", escape(budget_text(budget, spent))),
        ("Models", escape("; ".join(f"{role}: {model_text(m)}"
                                    for role, m in (run.models or {}).items()) or "-")),
        ("Created", escape(run.created or "-")),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    warnings = "".join(f'<p class="warning">{escape(w)}</p>' for w in view.warnings)
    return (f"<header><h1>Run {escape(run.run_id)}</h1>{warnings}"
            f'<table class="facts">{table}</table></header>')


def _charts(view: RunView) -> str:
    sections = [
        ("Best score by iteration", _score_chart(view)),
        ("Latency by priority (first search case)", _latency_chart(view)),
        ("Cost against improvement", _cost_chart(view)),
        ("Utilisation over time (first search case)", _utilisation_chart(view)),
    ]
    figures = "".join(
        f'<figure class="{"wide" if svg.count("<g transform") > 1 else ""}">'
        f"<figcaption>{escape(title)}</figcaption>{svg}</figure>" for title, svg in sections)
    return f'<section id="charts"><h2>Charts</h2><div class="charts">{figures}</div></section>'


def _score_chart(view: RunView) -> str:
    run, points = view.run, progress(view)
    scored = [(float(p.iteration), p.score) for p in points
              if p.score is not None and math.isfinite(p.score)]
    best = [(float(p.iteration), p.best) for p in points if p.best is not None]
    xs = [x for x, _ in scored] or [0.0, 1.0]
    span = (min(xs), max(max(xs), min(xs) + 1))
    series = [Series("best so far", best, charts.PALETTE[0], step=True),
              Series("candidate", scored, charts.PALETTE[3], dots=True, line=False)]
    if run.baseline_score is not None:
        series.append(Series(f"baseline ({(run.baseline or {}).get('policy', '?')})",
                             [(span[0], run.baseline_score), (span[1], run.baseline_score)],
                             charts.PALETTE[1], dashed=True))
    if run.bound_score is not None:
        series.append(Series("bound", [(span[0], run.bound_score), (span[1], run.bound_score)],
                             charts.PALETTE[2], dashed=True))
    note = "" if scored else "no evaluated candidate yet"
    return charts.line_chart("score", [Panel("Score", "iteration", run.metric, series,
                                             integer_x=True)], note)


def _cost_chart(view: RunView) -> str:
    run, points = view.run, progress(view)
    base = run.baseline_score
    sign = -1.0 if run.lower_is_better else 1.0

    def gain(p: Any) -> float:
        return sign * (p.best - base) if base is not None else p.best

    have = [p for p in points if p.best is not None]
    y_label = f"{run.metric} gain over baseline" if base is not None else run.metric
    by_usd = [Series("best so far", [(p.usd, gain(p)) for p in have],
                     charts.PALETTE[0], step=True, dots=True)]
    by_tokens = [Series("best so far", [(float(p.tokens), gain(p)) for p in have],
                        charts.PALETTE[0], step=True, dots=True)]
    note = "no model spend recorded (offline or heuristic run)" if have and not any(
        p.tokens for p in have) else ""
    return charts.line_chart("cost", [Panel("Against dollars", "cumulative $", y_label, by_usd,
                                            x_min=0.0),
                                      Panel("Against tokens", "cumulative tokens", y_label,
                                            by_tokens, x_min=0.0)], note)


def _latency_chart(view: RunView) -> str:
    best = view.best()
    best_stats = best.first_case()[1] if best else None
    base_stats, _, where = baseline_first_case(view)
    groups = list(PRIORITY_KEYS)
    bars: list[tuple[str, list[float | None]]] = []
    label = f"candidate {best.n}" if best else "best"
    for field, short in (("mean_latency_seconds", "mean"), ("p99_latency_seconds", "p99")):
        bars.append((f"{label} {short}", _by_priority(best_stats, field)))
        bars.append((f"baseline {short}", _by_priority(base_stats, field)))
    return charts.bar_chart("latency", "Mean and p99 pipeline latency", groups, bars,
                            "seconds", note=f"baseline: {where}")


def _utilisation_chart(view: RunView) -> str:
    best = view.best()
    best_profile = best.first_case()[2] if best else None
    _, base_profile, where = baseline_first_case(view)
    panels = []
    for key, total_key, title, unit in (("cpu_allocated", "cpu_total", "CPU allocated", "CPUs"),
                                        ("ram_allocated_gb", "ram_total_gb", "RAM allocated",
                                         "GB")):
        series, top = [], None
        for i, (label, profile) in enumerate(((f"candidate {best.n}" if best else "best",
                                               best_profile), ("baseline", base_profile))):
            util = _mapping((profile or {}).get("utilisation"))
            seconds, values = _sequence(util.get("seconds")), _sequence(util.get(key))
            points = [(x, y) for x, y in ((_finite(s), _finite(v)) for s, v in zip(
                seconds, values, strict=False)) if x is not None and y is not None]
            series.append(Series(label, points, charts.PALETTE[i], dashed=i == 1))
            top = top or _finite(util.get(total_key))
        panels.append(Panel(title, "simulated seconds", unit, series, y_min=0.0, y_max=top))
    return charts.line_chart("utilisation", panels, f"baseline: {where}")


def _candidates(view: RunView) -> str:
    rows = []
    for c in view.candidates:
        accepted, reasons = critic_reasons(view, c)
        verdict = verdict_word(view, c)
        mark = " ★" if view.run.accepted_candidate == c.n else ""
        summary = (c.event.field("summary") if c.event else "") or ""
        reason_items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
        why = c.reason
        row_class = ' class="damaged"' if c.damage else ""
        rows.append(
            f"<tr{row_class}><td>{c.n}{mark}</td><td>{escape(str(c.iteration or '-'))}</td>"
            f"<td>{escape(c.status)}{' — ' + escape(str(why)) if why else ''}</td>"
            f"<td>{escape(vs_baseline(c.score, view.run))}</td><td>{escape(verdict)}</td>"
            f"<td>{escape(str(summary))}<ul>{reason_items}</ul></td></tr>")
    head = ("<tr><th>#</th><th>iteration</th><th>status</th><th>score vs baseline</th>"
            "<th>critic</th><th>summary and reasons</th></tr>")
    body = "".join(rows) or '<tr><td colspan="6">no candidates yet</td></tr>'
    return (f'<section id="candidates"><h2>Candidates</h2><table class="grid">{head}{body}'
            "</table></section>")


def _rounds(view: RunView) -> str:
    """A population's rounds with their K candidates, and the evaluations per worker."""
    rows = []
    for r in rounds(view):
        cells = "".join(
            f"<li>#{n}: {escape(fmt_num(r.scores.get(str(n))))} — "
            f"{escape(str(r.outcomes.get(str(n)) or '-'))}</li>" for n in r.candidates)
        gate = "-" if r.held_out_gate is None else (
            f"#{r.held_out_gate} {'accepted' if r.accepted else 'rejected'}")
        rows.append(f"<tr><td>{r.round}</td><td><ul>{cells}</ul></td><td>{escape(gate)}</td>"
                    f"<td>{'-' if r.best is None else '#' + str(r.best)}</td></tr>")
    spans = evaluation_timeline(view)
    if not rows and len({s.worker for s in spans}) <= 1:
        return ""  # one candidate per round on one worker: the candidates table says it all
    head = ("<tr><th>round</th><th>candidates: score — outcome</th><th>held-out gate</th>"
            "<th>best so far</th></tr>")
    table = f'<table class="grid">{head}{"".join(rows)}</table>' if rows else ""
    lanes: dict[int, list[tuple[float, float, str, int]]] = {}
    for s in spans:
        label = (f"candidate {s.candidate} ({s.part}): {s.status}, {s.started_s:.1f}–"
                 f"{s.started_s + s.seconds:.1f} s")
        lanes.setdefault(s.worker, []).append((s.started_s, s.started_s + s.seconds, label,
                                               s.candidate))
    chart = charts.lanes_chart("workers", "Evaluations per worker",
                               [(f"worker {w}", lanes[w]) for w in sorted(lanes)]) if lanes else ""
    return f'<section id="rounds"><h2>Rounds</h2>{table}{chart}</section>'


def _policy(view: RunView) -> str:
    best = view.best()
    if best is None or best.source is None:
        why = f"Candidate {best.n} is damaged: {best.reason}." if best and best.damage else \
            "No candidate policy."
        return f'<section id="policy"><h2>Policy</h2><p>{escape(why)}</p></section>'
    which = "Accepted" if view.run.accepted_candidate == best.n else "Best"
    first = next((c for c in view.candidates if c.source is not None), best)
    diff = policy_diff(first, best) if first.n != best.n else ""
    if diff:
        diff_html = (f"<details open><summary>Diff from candidate {first.n}</summary>"
                     f'<pre class="diff">{_diff_lines(diff)}</pre></details>')
    elif first.n != best.n:
        diff_html = f"<p>The same code as candidate {first.n}.</p>"
    else:
        diff_html = "<p>This is the first candidate with a policy; no diff.</p>"
    return (f'<section id="policy"><h2>{which} policy: candidate {best.n}</h2>'
            f"<details open><summary>candidates/{best.n}/policy.py</summary>"
            f'<pre class="code">{escape(best.source)}</pre></details>{diff_html}</section>')


def _costs(view: RunView) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.role)}</td><td>{r.calls}</td><td>{r.failed}</td>"
        f"<td>{r.tool_calls}</td><td>{r.input_tokens:,}</td><td>{r.output_tokens:,}</td>"
        f"<td>${r.usd:.4f}</td><td>{fmt_seconds(r.seconds)}</td></tr>"
        for r in costs_by_role(view))
    head = ("<tr><th>role</th><th>model calls</th><th>failed</th><th>tool calls</th>"
            "<th>input tokens</th><th>output tokens</th><th>cost</th><th>model time</th></tr>")
    return (f'<section id="costs"><h2>Costs by role</h2><table class="grid">{head}'
            f"{rows or '<tr><td colspan=8>no model calls</td></tr>'}</table></section>")


def _transcript(view: RunView) -> str:
    roles = sorted({e.role for e in view.events if e.role})
    options = "".join(f'<option value="{escape(r)}">{escape(r)}</option>' for r in roles)
    controls = ('<div class="controls"><button type="button" data-action="expand">Expand all'
                '</button><button type="button" data-action="collapse">Collapse all</button>'
                f'<label>Role <select id="role-filter"><option value="">all</option>{options}'
                "</select></label></div>")
    items = "".join(_event(e) for e in view.events)
    return (f'<section id="transcript"><h2>Transcript ({len(view.events)} events)</h2>'
            f'{controls}<div class="events">{items}</div></section>')


def _event(e: Event) -> str:
    usage = event_usage(e)
    summary = (f'<span class="t">{e.elapsed_s:8.1f}s</span> '
               f'<span class="role">{escape(e.role or "-")}</span> '
               f'<span class="type">{escape(e.type)}</span> {escape(describe(e, 140))}'
               + (f' <span class="usage">{escape(usage)}</span>' if usage else ""))
    failed = e.field("ok", True) is False or e.type == "error"
    cls = "event failed" if failed else "event"
    return (f'<details class="{cls}" data-role="{escape(e.role or "")}" '
            f'data-type="{escape(e.type)}"><summary>{summary}</summary>{_event_body(e)}'
            "</details>")


def _event_body(e: Event) -> str:
    fields = dict(e.model_extra or {})
    parts = []
    if e.type == "model_call":
        messages = fields.pop("messages_in", None)
        if not isinstance(messages, list):  # another version's shape: shown as one message
            messages = [] if messages is None else [messages]
        for i, message in enumerate(messages):
            m = message if isinstance(message, dict) else {"content": message}
            parts.append(f'<details class="message"><summary>in #{i + 1}: '
                         f'{escape(str(m.get("role", "?")))}</summary>'
                         f"<pre>{escape(_text(m.get('content')))}</pre>"
                         f"{_tool_calls(m.get('tool_calls'))}</details>")
        out = fields.pop("message_out", None)
        if isinstance(out, dict):
            parts.append(f'<details class="message" open><summary>out</summary>'
                         f"<pre>{escape(_text(out.get('content')))}</pre>"
                         f"{_tool_calls(out.get('tool_calls'))}</details>")
    if e.type == "tool_call":
        parts.append(f"<pre>{escape(_text(fields.pop('result', '')))}</pre>")
    meta = {"seq": e.seq, "time": e.time, "iteration": e.iteration, **fields}
    parts.append(f'<pre class="meta">{escape(json.dumps(meta, indent=1, default=str))}</pre>')
    return "".join(parts)


# --- helpers -----------------------------------------------------------------------------------


def _tool_calls(calls: Any) -> str:
    if not calls:
        return ""
    return f'<pre class="tools">{escape(json.dumps(calls, indent=1, default=str))}</pre>'


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, default=str)


def _diff_lines(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = ("add" if line.startswith("+") and not line.startswith("+++") else
               "del" if line.startswith("-") and not line.startswith("---") else
               "hunk" if line.startswith("@@") else "")
        out.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line))
    return "\n".join(out)


def _by_priority(stats: dict[str, Any] | None, field: str) -> list[float | None]:
    if not stats:
        return [None] * len(PRIORITY_KEYS)
    return [_finite(_mapping(stats.get(key)).get(field)) for key in PRIORITY_KEYS.values()]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _best_text(view: RunView) -> str:
    best: Candidate | None = view.best()
    if best is None:
        return "no candidate yet"
    return f"candidate {best.n}: {vs_baseline(best.score, view.run)}"
