"""Writes complete run directories (docs/run-directory.md) for the review tests.

The candidates are real: heuristic policies rendered by `agents.heuristic.render`, run in-process
on the ``small`` suite's search cases, with the host's run profile of the first case. The
transcript is what a run of planner, coder, critic and reviewer would write, with realistic token
counts and costs. Numbers are cached per config, so many tests can build runs cheaply.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.heuristic.config import HeuristicConfig
from agents.heuristic.render import render_policy

SUITE = "small"

CONFIGS = (
    HeuristicConfig(),
    HeuristicConfig(ram_headroom=1.05),  # each scores more than the one before on small
    HeuristicConfig(ram_headroom=1.05, queue_order="priority_shortest", aging_weight=1.0),
)


@dataclass
class Evaluated:
    """One policy's numbers on the search cases."""

    score: float
    per_trace: dict[str, float]
    traces: list[dict[str, Any]]
    profile: dict[str, Any]
    case: str


@dataclass
class RunSpec:
    """What to put in a run directory; defaults make a finished, accepted three-candidate run."""

    run_id: str = "20261124-153012-ab12cd"
    goal: str = "maximise completed pipelines; never starve batch"
    configs: tuple[HeuristicConfig, ...] = CONFIGS
    status: str = "accepted"
    stop_reason: str = "accepted"
    accept_last: bool = True
    planted_message: str | None = None
    truncate_last_line: bool = False
    with_baselines_json: bool = False
    extra_events: list[dict[str, Any]] = field(default_factory=list)
    truncate_results: tuple[int, ...] = ()  # candidates whose result.json is cut in half
    drop_policies: tuple[int, ...] = ()  # candidates whose policy.py is deleted
    nan_scores: tuple[int, ...] = ()  # candidates whose score is NaN (as json.dumps writes it)


@functools.lru_cache(maxsize=32)
def evaluate(policy: str | HeuristicConfig) -> Evaluated:
    """Run a built-in policy or a rendered config on every search case of the small suite."""
    import tempfile

    from simulator.engine import run_simulation
    from traces.suites import get_suite

    cases = get_suite(SUITE).search_cases()
    traces: list[dict[str, Any]] = []
    profile: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        target: str | Path = policy if isinstance(policy, str) else Path(tmp) / "policy.py"
        if isinstance(policy, HeuristicConfig):
            Path(target).write_text(render_policy(policy, "candidate"), encoding="utf-8")
        for i, case in enumerate(cases):
            result = run_simulation(case.params, case.trace_path, target, profile=i == 0)
            traces.append({"name": case.name, "status": "ok", "verified": True,
                           "stats": result.stats_json(), "seconds": 0.2})
            if i == 0:
                profile = result.profile or {}
    per_trace = {t["name"]: float(t["stats"]["pipelines_all"]["completion_count"])
                 for t in traces}
    return Evaluated(statistics.median(per_trace.values()), per_trace, traces, profile,
                     cases[0].name)


@functools.lru_cache(maxsize=1)
def bound() -> dict[str, Any]:
    """Median of the per-case upper bounds on completed pipelines."""
    from simulator.trace_io import read_trace
    from traces.bounds import compute_bounds
    from traces.suites import get_suite

    per_trace = {}
    for case in get_suite(SUITE).search_cases():
        b = compute_bounds(read_trace(case.trace_path), case.params)
        per_trace[case.name] = float(b.max_completed_pipelines)
    return {"score": statistics.median(per_trace.values()), "per_trace": per_trace}


def write_run(runs_dir: Path, spec: RunSpec | None = None) -> Path:
    """Write a complete run directory under ``runs_dir``; returns its folder."""
    spec = spec or RunSpec()
    root = runs_dir / spec.run_id
    (root / "candidates").mkdir(parents=True)
    base = evaluate("priority")
    baseline = {"policy": "priority", "score": base.score, "per_trace": base.per_trace}
    writer = _Transcript()
    objective = {"metric": "completed_pipelines", "direction": "maximize",
                 "constraints": [{"metric": "starved_classes", "op": "<=", "value": 0.0,
                                  "over": "every"}],
                 "suite": SUITE, "margin": 0.05, "allow_true_sizes": False,
                 "summary": "maximize the median completed_pipelines on small"}
    models = {role: {"model": "gpt-4.1-mini", "base_url": None, "api_key_env": "OPENAI_API_KEY",
                     "temperature": 0.2} for role in ("planner", "coder", "critic", "reviewer")}
    budget = {"max_iterations": 10, "max_tokens": None, "max_usd": 2.0, "max_minutes": 30}
    writer.add("run_started", run_id=spec.run_id, goal=spec.goal, objective=objective,
               budget=budget, models=models, seed=0, suite=SUITE, resumed=False)
    best_n, best_score, accepted = None, None, None
    for n, config in enumerate(spec.configs, start=1):
        writer.iteration = n
        ev = evaluate(config)
        last = n == len(spec.configs)
        accept = spec.accept_last and last and ev.score > base.score
        _iteration_events(writer, n, config, ev, base.score, accept, spec)
        source = render_policy(config, "candidate")
        folder = root / "candidates" / str(n)
        folder.mkdir()
        (folder / "policy.py").write_text(source, encoding="utf-8")
        reasons = _reasons(ev.score, base.score, accept)
        result = {"candidate": n, "status": "ok", "reason": None, "score": ev.score,
                  "per_trace": ev.per_trace, "evaluation": _report(ev, n),
                  "profile": ev.profile, "baseline": {"policy": "priority", "score": base.score},
                  "verdict": {"accept": accept, "reasons": reasons,
                              "hint": "size RAM closer to the OOM-learned peak"}}
        if n in spec.nan_scores:
            result["score"] = math.nan
        text = json.dumps(result, indent=1)
        if n in spec.truncate_results:
            text = text[: len(text) // 2]
        (folder / "result.json").write_text(text, encoding="utf-8")
        if n in spec.drop_policies:
            (folder / "policy.py").unlink()
        if best_score is None or ev.score > best_score:
            best_n, best_score = n, ev.score
        accepted = n if accept else accepted
    spent = writer.spent(len(spec.configs))
    for extra in spec.extra_events:
        writer.add(**extra)
    writer.add("run_finished", status=spec.status, stop_reason=spec.stop_reason,
               best_candidate=best_n, accepted_candidate=accepted, spent=spent)
    run = {"run_id": spec.run_id, "created": "2026-11-24T15:30:12Z", "goal": spec.goal,
           "objective": objective, "suite": SUITE, "seed": 0, "sandbox": "local",
           "models": models, "heuristic": False, "budget": budget, "spent": spent,
           "status": spec.status, "stop_reason": spec.stop_reason, "best_candidate": best_n,
           "accepted_candidate": accepted, "baseline": baseline, "bound": bound(),
           "provenance": {"simulator_hash": "0" * 16, "python": "3.11.7", "numpy": "2.4.6",
                          "sandbox_image": None, "suites": {SUITE: "v1"},
                          "policyforge": "0.1.0"}}
    (root / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
    if spec.with_baselines_json:
        from agents.baselines import builtin_baselines

        (root / "baselines.json").write_text(
            json.dumps({"search": builtin_baselines(SUITE, "search")}, indent=1),
            encoding="utf-8")
    writer.write(root / "transcript.jsonl", truncate=spec.truncate_last_line)
    return root


FAILED_OBJECTIVE_RUN = "20261126-090000-0b1ec7"
AUTH_ERROR = ("planner model 'gpt-4.1-mini' failed after 1 attempt: OpenAIAuthenticationError: "
              "Error code: 401 - invalid api key")


def write_failed_objective_run(runs_dir: Path, run_id: str = FAILED_OBJECTIVE_RUN) -> Path:
    """A run that failed at its objective step (a bad key), as `agents.lifecycle` writes it:
    ``"objective": null``, status ``failed``, no candidates, no baseline or bound."""
    root = runs_dir / run_id
    (root / "candidates").mkdir(parents=True)
    models = {role: {"model": "gpt-4.1-mini", "base_url": None, "api_key_env": "OPENAI_API_KEY",
                     "temperature": None} for role in ("planner", "coder", "critic", "reviewer")}
    budget = {"max_iterations": 10, "max_tokens": None, "max_usd": None, "max_minutes": None}
    stop_reason = f"error: objective {AUTH_ERROR}"
    spent = {"iterations": 0, "input_tokens": 636, "output_tokens": 0, "usd": 0.0,
             "seconds": 0.7, "model_calls": 1, "failed_calls": 1}
    writer = _Transcript()
    writer.add("run_started", run_id=run_id, goal="most completed pipelines", objective=None,
               budget=budget, models=models, seed=0, suite=SUITE, resumed=False)
    writer.add("model_call", role="planner", model="gpt-4.1-mini", input_tokens=636,
               output_tokens=0, cost_usd=0.0, latency_s=0.6, ok=False, attempt=1,
               error="OpenAIAuthenticationError: Error code: 401 - invalid api key",
               messages_in=[{"role": "user", "content": "Goal: most completed pipelines"}],
               message_out=None)
    writer.add("error", role="objective", message=AUTH_ERROR)
    writer.add("budget", role="objective", spent=spent, limits=budget)
    writer.add("run_finished", status="failed", stop_reason=stop_reason, best_candidate=None,
               accepted_candidate=None, spent=spent)
    run = {"run_id": run_id, "created": "2026-11-26T09:00:00.000Z",
           "goal": "most completed pipelines", "objective": None, "suite": SUITE, "seed": 0,
           "sandbox": "local", "heuristic": False, "models": models, "budget": budget,
           "spent": spent, "status": "failed", "stop_reason": stop_reason,
           "best_candidate": None, "accepted_candidate": None, "config": {"run_id": run_id},
           "provenance": {"simulator_hash": "0" * 16, "python": "3.11.7", "numpy": "2.4.6",
                          "sandbox_image": None, "suites": {SUITE: "v1"},
                          "policyforge": "0.1.0"}}
    (root / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    writer.write(root / "transcript.jsonl", truncate=False)
    return root


def _iteration_events(w: _Transcript, n: int, config: HeuristicConfig, ev: Evaluated,
                      baseline: float, accept: bool, spec: RunSpec) -> None:
    direction = ("start from priority FIFO with OOM-learned RAM sizing" if n == 1 else
                 f"candidate {n - 1} wastes work on OOM retries: start RAM higher "
                 f"(headroom {config.ram_headroom}, initial {config.initial_ram_frac})")
    w.add("model_call", role="planner", **w.usage(1800, 220, "planner"),
          messages_in=[{"role": "system", "content": "You plan scheduling policy research."},
                       {"role": "user", "content": f"Goal: {spec.goal}"}],
          message_out={"content": direction, "tool_calls": []})
    w.add("plan", role="planner", direction=direction,
          objective={"metric": "completed_pipelines"} if n == 1 else None)
    planted = spec.planted_message if n == 1 and spec.planted_message else ""
    w.add("model_call", role="coder", **w.usage(5200, 1400, "coder"),
          messages_in=[{"role": "system", "content": "Write one Eudoxia policy file."},
                       {"role": "user", "content": direction + planted}],
          message_out={"content": "Validating the policy first.",
                       "tool_calls": [{"id": f"call_{n}", "name": "validate_policy",
                                       "args": {"path": "policy.py"}}]})
    w.add("tool_call", role="coder", tool="validate_policy", args={"path": "policy.py"},
          result="ok: registers 'candidate'; static checks clean", ok=True, latency_s=0.05)
    w.add("tool_call", role="coder", tool="quick_simulate", args={"case": "seed1"},
          result=f"completed {ev.per_trace.get('seed1')} pipelines on seed1", ok=True,
          latency_s=0.3)
    w.add("candidate", role="coder", candidate=n, author="coder",
          summary=f"heuristic: {config.queue_order}, headroom {config.ram_headroom}",
          path=f"candidates/{n}/policy.py", parent=n - 1 if n > 1 else None)
    w.add("evaluation", candidate=n, status="ok", reason=None, score=ev.score,
          aggregate={"completed_pipelines": ev.score}, bound_fractions={}, verified=True,
          seconds=1.2)
    w.add("model_call", role="critic", **w.usage(2600, 300, "critic"),
          messages_in=[{"role": "user", "content": f"Judge candidate {n}: score {ev.score}"}],
          message_out={"content": "<b>verdict</b> follows", "tool_calls": []})
    w.add("verdict", role="critic", candidate=n, accept=accept,
          reasons=_reasons(ev.score, baseline, accept), hint="grow RAM less aggressively",
          score=ev.score, baseline_score=baseline,
          held_out={"passed": True, "gap": 0.5} if accept else None)
    if accept:
        w.add("model_call", role="reviewer", **w.usage(4000, 500, "reviewer"),
              messages_in=[{"role": "user", "content": "Review the accepted policy."}],
              message_out={"content": "Readable and robust.", "tool_calls": []})
        w.add("review", role="reviewer", candidate=n, approve=True,
              comments=["readable; knobs documented", "no clock or trace reads"])
    w.add("budget", spent=w.spent(n), limits={"max_iterations": 10, "max_usd": 2.0})


def _reasons(score: float, baseline: float, accept: bool) -> list[str]:
    verb = "beats" if score > baseline else "does not beat"
    out = [f"median completed_pipelines {score:g} {verb} the baseline's {baseline:g}"]
    out.append("held-out suite agrees" if accept else "starved_classes <= 0 (every): holds")
    return out


def _report(ev: Evaluated, n: int) -> dict[str, Any]:
    return {"status": "ok", "reason": None, "policy": f"candidates/{n}/policy.py",
            "suite": SUITE, "part": "search", "findings": [], "traces": ev.traces,
            "aggregate": {"completed_pipelines": ev.score},
            "bound_fractions": {}, "verification": {"verified": len(ev.traces),
                                                    "compared": len(ev.traces),
                                                    "determinism": "same decisions"},
            "sandbox": {"backend": "local", "isolation": "weaker", "image": None,
                        "timings": {}, "output_bytes": 0, "notes": []}}


PRICES = {"input": 0.4 / 1e6, "output": 1.6 / 1e6}


class _Transcript:
    """Accumulates events with seq, time, elapsed and iteration, and the spend so far."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.iteration = 0
        self.elapsed = 0.0
        self.tokens_in = self.tokens_out = self.calls = 0
        self.usd = 0.0

    def usage(self, tokens_in: int, tokens_out: int, role: str) -> dict[str, Any]:
        """A model call's usage fields; advances the clock by its latency."""
        cost = tokens_in * PRICES["input"] + tokens_out * PRICES["output"]
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.usd += cost
        self.calls += 1
        latency = 0.8 + tokens_out / 400
        self.elapsed += latency
        return {"model": "gpt-4.1-mini", "input_tokens": tokens_in, "output_tokens": tokens_out,
                "cost_usd": round(cost, 8), "latency_s": latency, "ok": True, "attempt": 1}

    def spent(self, iterations: int) -> dict[str, Any]:
        """The spend so far, as run.json's ``spent``."""
        return {"iterations": iterations, "input_tokens": self.tokens_in,
                "output_tokens": self.tokens_out, "usd": round(self.usd, 6),
                "seconds": round(self.elapsed, 3), "model_calls": self.calls, "failed_calls": 0}

    def add(self, type: str, role: str | None = None, **fields: Any) -> None:  # noqa: A002
        """Append one event."""
        self.elapsed += 0.1
        seconds = 12 + self.elapsed
        stamp = f"2026-11-24T15:30:{int(seconds) % 60:02d}.{int(seconds * 1000) % 1000:03d}Z"
        self.events.append({"seq": len(self.events) + 1, "time": stamp,
                            "elapsed_s": round(self.elapsed, 3), "type": type,
                            "iteration": self.iteration, "role": role, **fields})

    def write(self, path: Path, truncate: bool) -> None:
        """Write the JSON lines; ``truncate`` cuts the last one in half (a killed run)."""
        lines = [json.dumps(e) for e in self.events]
        text = "\n".join(lines) + "\n"
        if truncate:
            text = "\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2]
        path.write_text(text, encoding="utf-8")
