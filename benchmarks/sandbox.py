"""What the Docker sandbox costs; prints the figures the README quotes.

    .venv/bin/python benchmarks/sandbox.py [--repeat N] [--suites small,paper]

For the built-in `priority` policy on the search part of each suite: the plain in-process run
(`run_simulation` of the same cases one after another, traces parsed from the same text, no
sandbox, no decision log), against `evaluate_policy` through the Docker backend, with the
report's timings split out: container create + start, request in + result out (which includes
the interpreter starting inside the container), the run inside (the runner's own figure: one
worker process per case on up to 2 CPUs, plus the determinism repeat of the first case), the
container's removal, and the host's replay of every decision log (which overlaps the run: the
runner streams each case and the host replays it while the next runs). The overhead per batch is
the evaluation's end-to-end time without the host's work after the runner exited (the replay's
tail), minus the in-process time.

Needs a Docker engine and an up-to-date image (`policyforge sandbox up`). Every figure is the
median of ``--repeat`` runs after one warm-up; compare the ratios, which are measured in the same
run: absolute times on shared machines are noisy, so each suite's line shows the machine's load
average before it (anything else running makes the Docker figures, which use two CPUs, worse).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.backend import default_limits  # noqa: E402
from sandbox.docker_backend import DockerBackend  # noqa: E402
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy, suite_inputs  # noqa: E402
from simulator.engine import run_simulation  # noqa: E402
from simulator.trace_io import read_trace  # noqa: E402

POLICY = "priority"
# Report timing keys, in the order a batch goes through them.
PHASES = (("create", "create"), ("start", "start"), ("in + out", None),
          ("run inside", "run_inside"), ("remove", "remove"),
          ("host replay (overlapping the run)", "host_replay"),
          ("host work after the runner exited", "after_exit"))


def in_process(cases: list[CaseInput]) -> float:
    """Seconds to run every case here, one after another, with no sandbox."""
    t0 = time.perf_counter()
    for case in cases:
        trace = read_trace(io.StringIO(case.trace_csv_text), name=f"{case.name}.csv")
        run_simulation(case.params, trace, POLICY)
    return time.perf_counter() - t0


def in_docker(cases: list[CaseInput], backend: DockerBackend) -> dict[str, float]:
    """One evaluation through Docker: its phase timings and its end-to-end time."""
    t0 = time.perf_counter()
    report = evaluate_policy(PolicyInput(POLICY, builtin=POLICY), cases, backend,
                             default_limits(600))
    end_to_end = time.perf_counter() - t0
    if report.status != "ok" or report.sandbox is None:
        raise SystemExit(f"the Docker evaluation did not pass: {report.status}: {report.reason}")
    timings = dict(report.sandbox.timings)
    timings["in + out"] = timings["transfer_and_run"] - timings["run_inside"]
    timings["end_to_end"] = end_to_end
    timings["output_mb"] = report.sandbox.output_bytes / 1e6
    return timings


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--suites", default="small,paper")
    args = parser.parse_args()
    backend = DockerBackend()
    print(f"`{POLICY}` on each suite's search part: in-process vs the Docker sandbox; "
          f"median of {args.repeat} runs after a warm-up\n")
    for suite in args.suites.split(","):
        cases = suite_inputs(suite, "search")
        load = os.getloadavg()[0]
        in_docker(cases, backend)  # warm-up: page cache, image layers, imports
        local = statistics.median(in_process(cases) for _ in range(args.repeat))
        runs = [in_docker(cases, backend) for _ in range(args.repeat)]
        total = median_of(runs, "end_to_end")
        without_replay = statistics.median(r["end_to_end"] - r.get("after_exit", 0.0)
                                           for r in runs)
        print(f"{suite}: {len(cases)} cases, {median_of(runs, 'output_mb'):.1f} MB of result "
              f"(load average before: {load:.2f})")
        print(f"  in-process run_simulation          {local:7.3f} s")
        print(f"  Docker, end to end                 {total:7.3f} s  (x{total / local:.2f})")
        for label, key in PHASES:
            print(f"    {label:<32} {median_of(runs, key or label):7.3f} s")
        print(f"  Docker without the replay's tail   {without_replay:7.3f} s  "
              f"(x{without_replay / local:.2f})")
        print(f"  overhead per batch, replay excluded {without_replay - local:6.3f} s\n")


if __name__ == "__main__":
    main()
