"""What the method is worth, per scenario; prints the README's table.

    .venv/bin/python benchmarks/suites.py [--suite NAME ...] [--sandbox local|docker]
                                          [--iterations N] [--seed S]

For every built-in suite, on its held-out part and scored by the suite's own objective
(`agents.objective.suite_objective`: the most completed pipelines, median over the cases; on
`latency` the penalised adjusted latency; on `scales` its geometric mean over the five sizes):

* every built-in policy the objective scores (`agents.baselines.scored_baselines`: in this
  process, as a run's baselines are; those that finish every case and, where the objective
  counts failed runs (`scales`), those whose runs fail, each failed case counted; one that fails
  is listed with its reason);
* the offline heuristic's policy: `policyforge run --model heuristic --suite NAME` through the
  library (`agents.lifecycle.start_run`, the sandbox chosen by ``--sandbox``, ``--iterations``
  candidates at most), its accepted candidate (else its best, marked "not accepted"), then
  evaluated on the held-out part in the same sandbox, as `policyforge evaluate --part held-out`;
* the oracle (`benchmarks/policies/oracle.py`: reads true sizes; in this process, never a
  user's baseline), which shows how loose the bound is;
* the bound: the objective's aggregate of the per-case bounds (`agents.baselines.bound_score`).

A heuristic that does not beat the best baseline by the objective's margin is marked so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.baselines import builtin_baselines, scored_baselines  # noqa: E402
from agents.budget import BudgetLimits  # noqa: E402
from agents.judge import strongest_baseline  # noqa: E402
from agents.lifecycle import start_run  # noqa: E402
from agents.objective import Objective, ScoredCase, report_cases, suite_objective  # noqa: E402
from agents.run_config import RunConfig  # noqa: E402
from agents.run_store import RunStore  # noqa: E402
from sandbox.backend import default_limits  # noqa: E402
from sandbox.evaluation import PolicyInput, evaluate_policy, suite_inputs  # noqa: E402
from sandbox.registry import choose_backend  # noqa: E402
from simulator.engine import run_simulation  # noqa: E402
from simulator.trace_io import read_trace  # noqa: E402
from tools.metrics import bound_score, bound_share  # noqa: E402
from traces.suites import SUITES, get_suite  # noqa: E402

ORACLE = ROOT / "benchmarks" / "policies" / "oracle.py"
HELD_OUT = "held-out"


def heuristic_policy(suite: str, objective: Objective, args: argparse.Namespace,
                     runs_dir: Path) -> tuple[str, str]:
    """The heuristic run's accepted policy source (else its best), and how it ended."""
    config = RunConfig(goal=f"benchmark: {objective.summary}", objective=objective.model_dump(),
                       suite=suite, seed=args.seed, sandbox=args.sandbox, heuristic=True,
                       budget=BudgetLimits(max_iterations=args.iterations))
    outcome = start_run(config, runs_dir)
    store = RunStore(Path(outcome.run_dir))
    chosen = outcome.accepted_candidate or outcome.best_candidate
    if chosen is None:
        raise SystemExit(f"{suite}: the heuristic run verified no candidate "
                         f"({outcome.stop_reason})")
    how = (f"candidate {chosen} accepted" if outcome.accepted_candidate
           else f"candidate {chosen}, not accepted ({outcome.stop_reason})")
    return store.read_policy(chosen), how


def sandboxed_scores(source: str, suite: str, backend: Any,
                     objective: Objective) -> list[ScoredCase]:
    """The policy's verified statistics on every held-out case, through the sandbox (and its
    failed runs, where the objective counts them)."""
    policy = PolicyInput("heuristic.py", source=source, filename="heuristic.py")
    report = objective.count_failed_runs(evaluate_policy(
        policy, suite_inputs(suite, HELD_OUT), backend, default_limits(600.0), suite=suite,
        part=HELD_OUT))
    if report.status != "ok":
        raise SystemExit(f"{suite}: the heuristic's policy failed on held-out: {report.reason}")
    return list(report_cases(report).values())


def oracle_stats(suite: str) -> list[dict[str, Any]]:
    """The oracle's statistics on every held-out case (in this process: trusted, ours)."""
    return [run_simulation(dict(c.params), read_trace(c.trace_path), str(ORACLE)).stats_json()
            for c in get_suite(suite).held_out_cases()]


def suite_row(suite: str, args: argparse.Namespace, backend: Any, runs_dir: Path) -> dict[str, Any]:
    """Every figure of one suite's row, and the seconds each part took."""
    objective = suite_objective(suite)
    t0 = time.monotonic()
    base = builtin_baselines(suite, HELD_OUT)
    scored = scored_baselines(objective, base)
    scores = {name: objective.score(list(per.values())) for name, per in scored.items()}
    best_name, best = strongest_baseline(objective, scored)
    t1 = time.monotonic()
    source, how = heuristic_policy(suite, objective, args, runs_dir)
    heuristic = objective.score(sandboxed_scores(source, suite, backend, objective))
    t2 = time.monotonic()
    oracle = objective.score(oracle_stats(suite))
    # beats: at least the score the critic asks for (the best baseline's, by the margin)
    beats = (heuristic is not None and best is not None
             and not objective.better(objective.needed(best), heuristic))
    return {"suite": suite, "objective": objective, "baselines": scores, "failed": base["failed"],
            "failed_runs": base["failed_runs"],
            "best": (best_name, best), "heuristic": heuristic, "how": how, "beats": beats,
            "oracle": oracle, "bound": bound_score(objective, base["bounds"])["score"],
            "seconds": {"baselines": t1 - t0, "heuristic": t2 - t1,
                        "oracle": time.monotonic() - t2}}


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _share(value: float | None, bound: float | None, objective: Objective) -> str:
    """The score as a fraction of the bound (1 = as good as possible)."""
    frac = bound_share(objective, value, bound)
    return "" if frac is None else f" ({frac:.0%})"


def table(rows: list[dict[str, Any]]) -> str:
    """The README's markdown table."""
    names = list(dict.fromkeys(n for r in rows for n in r["baselines"]))
    head = ["suite", "objective (held-out)", *(f"`{n}`" for n in names),
            "heuristic", "oracle (true sizes)", "bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        o = r["objective"]
        what = f"{o.aggregate} {o.metric} ({'max' if o.direction == 'maximize' else 'min'})"
        cells = [f"`{r['suite']}`", what]
        for n in names:
            if n in r["baselines"]:
                mark = "**" if n == r["best"][0] else ""
                cells.append(f"{mark}{_num(r['baselines'][n])}{mark}")
            else:
                cells.append("fails" if n in r["failed"] else "–")
        verdict = "" if r["beats"] else ", **does not beat the best baseline**"
        cells.append(f"{_num(r['heuristic'])}{_share(r['heuristic'], r['bound'], o)} "
                     f"({r['how']}{verdict})")
        cells.append(f"{_num(r['oracle'])}{_share(r['oracle'], r['bound'], o)}")
        cells.append(_num(r["bound"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--suite", action="append", choices=list(SUITES),
                        help="a suite (repeatable; default: every built-in suite)")
    parser.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    parser.add_argument("--iterations", type=int, default=8,
                        help="the heuristic run's candidates at most (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = choose_backend(args.sandbox)
    rows = []
    with tempfile.TemporaryDirectory(prefix="policyforge-bench-suites-") as tmp:
        for suite in args.suite or list(SUITES):
            row = suite_row(suite, args, backend, Path(tmp))
            rows.append(row)
            took = ", ".join(f"{k} {v:.0f} s" for k, v in row["seconds"].items())
            print(f"{suite}: {took}", file=sys.stderr)
    print(table(rows))
    print()
    for r in rows:
        for name, why in r["failed"].items():
            counted = r["failed_runs"].get(name) if name in r["baselines"] else None
            how = (f" {len(counted)} case(s), each counted at "
                   f"{r['objective'].failed_case_value:g}" if counted else "")
            print(f"- `{r['suite']}`: `{name}` fails{how}: {why.splitlines()[0][:110]}")
    print(f"\nsandbox: {args.sandbox}; heuristic: at most {args.iterations} candidates, seed "
          f"{args.seed}; bold: the best built-in")


if __name__ == "__main__":
    main()
