"""Figures both review front ends show: score progress, cost per role, timeline lines, diffs.

Pure functions of a `RunView`; no output formatting beyond short strings.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from agents.review.rundir import Candidate, Event, RunInfo, RunView


@dataclass
class RoleCost:
    """Model use of one role."""

    role: str
    calls: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    tool_calls: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass
class ProgressPoint:
    """One evaluated candidate and what had been spent when its evaluation was written."""

    candidate: int
    iteration: int
    score: float | None
    best: float | None
    usd: float
    tokens: int
    elapsed_s: float


@dataclass
class RunTotals:
    """The spend a run reports (run.json's ``spent``, else summed from the transcript)."""

    iterations: int = 0
    tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    model_calls: int = 0
    failed_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoundRow:
    """One round of a population (``--population K``): its candidates and how it closed."""

    round: int
    candidates: list[int]
    scores: dict[str, float | None]
    outcomes: dict[str, str | None]
    passed_search: list[int]
    held_out_gate: int | None
    accepted: bool
    best: int | None


@dataclass
class EvaluationSpan:
    """One evaluation on its worker lane: when it started (run time) and how long it took."""

    worker: int
    candidate: int
    part: str
    started_s: float
    seconds: float
    status: str


def rounds(view: RunView) -> list[RoundRow]:
    """The run's closed rounds, from its ``round`` events (none for a population of 1)."""
    out = []
    for e in view.events:
        if e.type != "round" or not isinstance(e.field("round"), int):
            continue
        out.append(RoundRow(
            round=e.field("round"), candidates=[int(n) for n in _items(e.field("candidates"))],
            scores={str(k): _maybe(v) for k, v in _dict(e.field("scores")).items()},
            outcomes={str(k): None if v is None else str(v)
                      for k, v in _dict(e.field("outcomes")).items()},
            passed_search=[int(n) for n in _items(e.field("passed_search"))],
            held_out_gate=e.field("held_out_gate"), accepted=bool(e.field("accepted")),
            best=e.field("best")))
    return out


def evaluation_timeline(view: RunView) -> list[EvaluationSpan]:
    """Every evaluation that names its worker lane, by lane then start."""
    spans = [EvaluationSpan(worker=_int(e.field("worker")), candidate=_int(e.field("candidate")),
                            part=str(e.field("part") or "search"),
                            started_s=_float(e.field("started_s")),
                            seconds=_float(e.field("seconds")),
                            status=str(e.field("status") or "?"))
             for e in view.events if e.type == "evaluation" and e.field("worker") is not None]
    return sorted(spans, key=lambda s: (s.worker, s.started_s))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def costs_by_role(view: RunView) -> list[RoleCost]:
    """Model calls, tokens, dollars and latency per role, in order of first appearance."""
    roles: dict[str, RoleCost] = {}
    for e in view.events:
        if e.type not in ("model_call", "tool_call"):
            continue
        cost = roles.setdefault(e.role or "?", RoleCost(e.role or "?"))
        if e.type == "tool_call":
            cost.tool_calls += 1
            continue
        cost.calls += 1
        cost.failed += 0 if e.field("ok", True) else 1
        cost.input_tokens += _int(e.field("input_tokens"))
        cost.output_tokens += _int(e.field("output_tokens"))
        cost.usd += _float(e.field("cost_usd"))
        cost.seconds += _float(e.field("latency_s"))
    return list(roles.values())


def totals(run: RunInfo, view: RunView | None = None) -> RunTotals:
    """What the run spent: run.json's ``spent`` (a live run rewrites it), transcript otherwise."""
    spent = run.spent or {}
    out = RunTotals(
        iterations=_int(spent.get("iterations")),
        tokens=_int(spent.get("input_tokens")) + _int(spent.get("output_tokens")),
        usd=_float(spent.get("usd")),
        seconds=_float(spent.get("seconds")),
        model_calls=_int(spent.get("model_calls")),
        failed_calls=_int(spent.get("failed_calls")),
    )
    if view is not None and not spent:
        roles = costs_by_role(view)
        out.tokens = sum(r.tokens for r in roles)
        out.usd = sum(r.usd for r in roles)
        out.model_calls = sum(r.calls for r in roles)
        out.failed_calls = sum(r.failed for r in roles)
        out.seconds = max((e.elapsed_s for e in view.events), default=0.0)
        out.iterations = max((e.iteration or 0 for e in view.events), default=0)
    return out


def progress(view: RunView) -> list[ProgressPoint]:
    """Each evaluation in transcript order, with the best score so far and the spend so far.

    A score that is not a finite number (NaN: e.g. a latency when no pipeline completed) is
    shown but never becomes the best so far.
    """
    lower = view.run.lower_is_better
    usd, tokens, best = 0.0, 0, None
    scores = {c.n: c.score for c in view.candidates}

    def better(score: float | None) -> bool:
        if score is None or not math.isfinite(score):
            return False
        return best is None or (score < best if lower else score > best)

    points: list[ProgressPoint] = []
    seen: set[int] = set()
    for e in view.events:
        if e.type == "model_call":
            usd += _float(e.field("cost_usd"))
            tokens += _int(e.field("input_tokens")) + _int(e.field("output_tokens"))
        if e.type != "evaluation" or not isinstance(e.field("candidate"), int):
            continue
        n = e.field("candidate")
        score = scores.get(n) if scores.get(n) is not None else _maybe(e.field("score"))
        if e.field("status", "ok") != "ok":
            score = None
        if better(score):
            best = score
        seen.add(n)
        points.append(ProgressPoint(n, e.iteration if e.iteration is not None else n,
                                    score, best, usd, tokens, e.elapsed_s))
    # Candidates with a result but no evaluation event (a transcript cut short) still count.
    for c in view.candidates:
        if c.n not in seen and c.result is not None:
            score = c.score if c.status == "ok" else None
            if better(score):
                best = score
            points.append(ProgressPoint(c.n, c.iteration if c.iteration is not None else c.n,
                                        score, best, usd, tokens, 0.0))
    return points


def critic_reasons(view: RunView, candidate: Candidate) -> tuple[bool | None, list[str]]:
    """The critic's latest verdict on a candidate: (accepted, reasons); transcript first."""
    verdicts = view.verdicts(candidate.n)
    if verdicts:
        last = verdicts[-1]
        searched = last.field("stage") == "search"  # a population's candidate: not a decision
        return bool(last.field("accept")) and not searched, _texts(last.field("reasons"))
    verdict = candidate.verdict
    if not verdict:
        return None, []
    return bool(verdict.get("accept")), _texts(verdict.get("reasons"))


def verdict_word(view: RunView, candidate: Candidate) -> str:
    """``accepted``, ``rejected``, ``passed search`` (a population's candidate that passed on the
    search suite but was not the one its round took to the held-out gate) or ``-``."""
    verdicts = view.verdicts(candidate.n)
    if verdicts and verdicts[-1].field("stage") == "search" and verdicts[-1].field("accept"):
        return "passed search"
    accepted, _ = critic_reasons(view, candidate)
    return "-" if accepted is None else ("accepted" if accepted else "rejected")


def _items(value: Any) -> list[Any]:
    """``value`` if it is a list, else no items (a field another version wrote differently)."""
    return value if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    """A list of reasons as strings; a lone string is one reason."""
    if isinstance(value, str):
        return [value] if value else []
    return [str(r) for r in value] if isinstance(value, list) else []


def policy_diff(a: Candidate, b: Candidate, context: int = 3) -> str:
    """Unified diff from candidate ``a``'s policy to ``b``'s (empty when identical)."""
    lines = difflib.unified_diff(
        (a.source or "").splitlines(keepends=True),
        (b.source or "").splitlines(keepends=True),
        fromfile=f"candidates/{a.n}/policy.py",
        tofile=f"candidates/{b.n}/policy.py",
        n=context,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def describe(e: Event, width: int = 90) -> str:
    """One line saying what an event was."""
    text = _describe(e)
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(e: Event) -> str:
    f = e.field
    match e.type:
        case "run_started":
            return ("resumed" if f("resumed") else "started") + f" run {f('run_id', '')}".rstrip()
        case "plan":
            return f"plan: {one_line(f('direction', ''))}"
        case "model_call":
            out = f("message_out") or {}
            calls = _items(out.get("tool_calls")) if isinstance(out, dict) else []
            names = ", ".join(str(c.get("name", "?")) for c in calls if isinstance(c, dict))
            what = f"calls {names}" if names else one_line(
                out.get("content", "") if isinstance(out, dict) else str(out))
            status = "" if f("ok", True) else f" FAILED ({one_line(f('error', ''))})"
            return f"{f('model', '?')}: {what}{status}"
        case "tool_call":
            ok = "ok" if f("ok", True) else "FAILED"
            return f"tool {f('tool', '?')} {ok}: {one_line(f('result', ''))}"
        case "candidate":
            return f"candidate {f('candidate')} by {f('author', '?')}: {one_line(f('summary', ''))}"
        case "evaluation":
            reason = f" ({one_line(f('reason'))})" if f("reason") else ""
            return (f"evaluated candidate {f('candidate')}: {f('status', '?')}, "
                    f"score {fmt_num(f('score'))}{reason}")
        case "verdict":
            word = "accepts" if f("accept") else "rejects"
            reasons = "; ".join(_texts(f("reasons")))
            return f"critic {word} candidate {f('candidate')}: {one_line(reasons)}"
        case "review":
            word = "approves" if f("approve") else "requests changes to"
            comments = "; ".join(_texts(f("comments")))
            return f"reviewer {word} candidate {f('candidate')}: {one_line(comments)}"
        case "budget":
            spent = f("spent") if isinstance(f("spent"), dict) else {}
            return (f"budget: {spent.get('iterations', 0)} iterations, "
                    f"${_float(spent.get('usd')):.4f}")
        case "cascade":
            return f"cascade: candidate {f('candidate')}: {one_line(f('reason', ''))}"
        case "round":
            gate = f("held_out_gate")
            closing = (f"candidate {gate} {'accepted' if f('accepted') else 'rejected'} on the "
                       "held-out suite" if gate is not None else "none passed on search")
            members = ", ".join(f"#{n}" for n in _items(f("candidates")))
            return f"round {f('round')} closed ({members}): {closing}"
        case "resume_charge":
            charged = f("charged") if isinstance(f("charged"), dict) else {}
            tokens = _int(charged.get("input_tokens")) + _int(charged.get("output_tokens"))
            return (f"resumed: charged {tokens} tokens, ${_float(charged.get('usd')):.4f} for "
                    "calls after the last checkpoint")
        case "run_finished":
            return f"finished: {f('status', '?')} ({f('stop_reason', '?')})"
        case "error":
            return f"error: {one_line(f('message', ''))}"
        case "model_retry":
            return (f"retry {f('role', '?')} (attempt {f('next_attempt', '?')} of "
                    f"{f('max_attempts', '?')}): {one_line(f('reason', ''))}")
        case "preflight":
            ok = "ok" if f("ok", True) else f"FAILED ({one_line(f('error', ''))})"
            return f"endpoint check {f('url', '?')} {ok}"
    return e.type


def event_usage(e: Event) -> str:
    """``1234+56 tok $0.0012`` for a model call, else empty."""
    if e.type != "model_call":
        return ""
    tokens = f"{_int(e.field('input_tokens'))}+{_int(e.field('output_tokens'))} tok"
    return f"{tokens} ${_float(e.field('cost_usd')):.4f}"


def one_line(value: Any) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(str(value or "").split())


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    text = one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt_num(value: Any) -> str:
    """A score for display: integers without decimals, others to 4 significant digits."""
    v = _maybe(value)
    if v is None:
        return "-"
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.0f}" if v == int(v) and abs(v) < 1e12 else f"{v:.4g}"


def fmt_seconds(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12.5s`` (``-`` for a time that is not a finite number)."""
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def vs_baseline(score: float | None, run: RunInfo, digits: int = 1) -> str:
    """``18 vs 14 (28.6% better)``: better or worse in the objective's direction (a lower
    latency is better), by the critic's gap (`tools.metrics.relative_gap`)."""
    from tools.metrics import relative_gap

    base = run.baseline_score
    if score is None:
        return "-"
    if base is None:
        return fmt_num(score)
    gap = None
    if math.isfinite(score) and math.isfinite(base):
        gap = relative_gap(score, base, higher_is_better=not run.lower_is_better)
    change = "" if gap is None else " (even)" if gap == 0 else \
        f" ({abs(gap) * 100:.{digits}f}% {'better' if gap > 0 else 'worse'})"
    return f"{fmt_num(score)} vs {fmt_num(base)}{change}"


def budget_text(budget: dict[str, Any], spent: RunTotals) -> str:
    """``iterations 3 of 10; tokens 1,234 of no limit; ...``."""
    def limit(key: str, fmt: str = "{}") -> str:
        v = budget.get(key)
        if v is None:
            return "no limit"
        return fmt.format(v) if _maybe(v) is not None else str(v)

    return (f"iterations {spent.iterations} of {limit('max_iterations')}; "
            f"tokens {spent.tokens:,} of {limit('max_tokens', '{:,}')}; "
            f"${spent.usd:.4f} of {limit('max_usd', '${}')}; "
            f"time {fmt_seconds(spent.seconds)} of {limit('max_minutes', '{} min')}")


def model_text(model: Any) -> str:
    """``gpt-4.1-mini`` or ``model @ base_url``."""
    if not isinstance(model, dict):
        return str(model)
    extra = f" @ {model['base_url']}" if model.get("base_url") else ""
    return f"{model.get('model', '?')}{extra}"


def _maybe(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int:
    v = _maybe(value)
    return int(v) if v is not None and math.isfinite(v) else 0


def _float(value: Any) -> float:
    v = _maybe(value)
    return v if v is not None else 0.0
