"""What a candidate's evaluation costs against the simulation it is made of; prints the figures.

    .venv/bin/python benchmarks/evaluation.py [--repeat N] [--suite paper] [--sandbox docker]
    .venv/bin/python benchmarks/evaluation.py --round [--repeat N] [--suite paper]

Every candidate is a policy *file*, so this takes the built-in ``priority`` policy's own source,
turned into a policy file (its imports replaced by the ``eudoxia.*`` names a policy file may use),
and evaluates it exactly as a candidate is evaluated: static checks, the sandbox on every case of
the suite's search part, every case's decision log replayed on the host, the determinism repeat.
That is set against ``simulator.simulate`` run in this process, one case after another, on the
same traces with the built-in ``priority``. It prints the ratio, the replay's share of the
evaluation, and a split of the overhead (evaluation minus simulation) into a fixed cost per batch
and a cost per case, from a one-case batch (the suite's first case) and the whole batch:
``per case = (overhead(all) - overhead(one)) / (n - 1)``, ``fixed = overhead(one) - per case``.

It also prints the CPU time every process on the machine used during an evaluation
(``/proc/stat``: the sandbox's processes, Docker's daemons and this process, whose own share is
printed too) and what that work alone would take spread perfectly over the machine's CPUs, against
the simulation: the floor of the ratio for that much work (other processes' CPU counts too, so
read it on an idle machine).

Figures are medians of ``--repeat`` runs after one warm-up; the ratios are what to compare (the
machine is shared; the load average before the runs is printed).

Each batch gets a fresh container. Measured twice: *cold*, the batch starting its own (a run's
first evaluation, or ``policyforge evaluate``), and *started ahead*, as a run's backend does for
its later evaluations (``keep_spare``: the next container starts as soon as a batch ends, while
the agents' model works; here a pause of ``--pause`` seconds, not timed, stands for that work).

``--round`` instead times one round of a population of 4 (``run --population 4``): four
candidates (the same file under four keys) evaluated on the suite's search part through the
sandbox's executor, serial (``--workers 1``, no Ray) and on an embedded Ray with 2 workers, the
Ray start-up excluded (a warm-up batch starts its worker processes first). Once with each
evaluation pinned to one CPU (``Limits(cpus=1, cpuset=...)``: the container and the host's
replay of its cases on that CPU; candidate i on CPU i mod workers), where 2 workers should be
close to 2x faster, and once with the default settings (2 CPUs per evaluation on this machine,
not pinned), where they must not be slower.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.backend import default_limits  # noqa: E402
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy, suite_inputs  # noqa: E402
from sandbox.registry import choose_backend  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.trace_io import read_trace  # noqa: E402

BUILTIN = "priority"
EUDOXIA_IMPORTS = (
    "from typing import Any\n"
    "from eudoxia.scheduler.priority import get_pool_with_max_avail_ram\n"
)


def priority_as_policy_file() -> str:
    """The built-in ``priority`` source as a policy file: same code, the provided names."""
    source = (ROOT / "simulator" / "policies" / "priority.py").read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    body = "".join(line for i, line in enumerate(lines) if i not in drop)
    return EUDOXIA_IMPORTS + body.replace('key="priority"', 'key="priority_file"')


def in_process(cases: list[CaseInput]) -> float:
    """Seconds for ``simulate`` of every case here, one after another, with the built-in."""
    traces = [read_trace(io.StringIO(c.trace_csv_text), name=f"{c.name}.csv") for c in cases]
    t0 = time.perf_counter()
    for case, trace in zip(cases, traces, strict=True):
        simulate(case.params, trace, BUILTIN)
    return time.perf_counter() - t0


def evaluation(policy: PolicyInput, cases: list[CaseInput], backend,  # type: ignore[no-untyped-def]
               pause: float = 0.0) -> dict[str, float]:
    """One candidate evaluation end to end, with the report's timings (after ``pause``
    seconds, not timed: the time a run spends elsewhere between two evaluations)."""
    time.sleep(pause)
    busy0, host0 = machine_cpu(), host_cpu()
    t0 = time.perf_counter()
    report = evaluate_policy(policy, cases, backend, default_limits(600), suite="bench",
                             part="search")
    total = time.perf_counter() - t0
    busy1, host1 = machine_cpu(), host_cpu()
    if report.status != "ok" or report.sandbox is None:
        raise SystemExit(f"the evaluation did not pass: {report.status}: {report.reason}")
    timings = dict(report.sandbox.timings)
    timings["total"] = total
    timings["host_cpu"] = host1 - host0
    if busy0 is not None and busy1 is not None:
        timings["machine_cpu"] = busy1 - busy0
    return timings


def machine_cpu() -> float | None:
    """CPU-seconds every process on the machine has used so far (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and waiting for I/O
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def host_cpu() -> float:
    """CPU-seconds of this process (every thread: the replay's, the sandbox stream's)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Unstreamed:
    """The same backend with the replay after the run (how evaluation worked before streaming)."""

    streams = False

    def __init__(self, backend) -> None:  # type: ignore[no-untyped-def]
        self.backend = backend
        self.name, self.isolation, self.image = backend.name, backend.isolation, backend.image

    def run(self, request: bytes, limits):  # type: ignore[no-untyped-def]
        return self.backend.run(request, limits)


def population_round(sandbox: str, cases: list[CaseInput], limits, workers: int,  # type: ignore[no-untyped-def]
                     repeat: int, pin: bool) -> float:
    """Median seconds of one round: four candidates on ``cases`` through the executor; with
    ``pin``, candidate i's sandbox and host replay on CPU i mod ``workers`` (Limits.cpuset)."""
    from sandbox.backend import on_lane
    from sandbox.executor import EvaluationJob, RayExecutor, SerialExecutor

    source = priority_as_policy_file()
    jobs = [EvaluationJob(key=f"c{i}", policy=PolicyInput(
                f"candidate {i}", source=source.replace('key="priority_file"',
                                                        f'key="priority_file_{i}"'),
                filename="policy.py"), cases=tuple(cases),
                limits=on_lane(limits, i % workers + 1, max(2, workers)) if pin else limits,
                suite="bench", part="search") for i in range(4)]
    executor = SerialExecutor(sandbox) if workers == 1 else RayExecutor(sandbox, workers=workers)
    try:
        warm = [EvaluationJob(key=f"w{j.key}", policy=j.policy, cases=tuple(cases[:1]),
                              limits=j.limits, suite="bench", part="search")
                for j in jobs[:workers]]
        executor.evaluate(warm)  # Ray's worker processes started, imports done: not timed
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            reports = executor.evaluate(jobs)
            times.append(time.perf_counter() - t0)
            bad = [r for r in reports if r.status != "ok"]
            if bad:
                raise SystemExit(f"an evaluation did not pass: {bad[0].status}: {bad[0].reason}")
    finally:
        executor.close()
    return statistics.median(times)


def round_main(args: argparse.Namespace) -> None:
    from sandbox.backend import Limits

    cases = suite_inputs(args.suite, "search")
    print(f"load average before: {os.getloadavg()[0]:.2f}; one round of population 4 on the "
          f"{args.suite} search part ({len(cases)} cases each); {args.sandbox} sandbox; median of "
          f"{args.repeat}; Ray start-up excluded")
    pinned = Limits(timeout_seconds=600, cpus=1.0)
    one = population_round(args.sandbox, cases, pinned, 1, args.repeat, True)
    two = population_round(args.sandbox, cases, pinned, 2, args.repeat, True)
    print(f"  each evaluation pinned to 1 CPU: --workers 1 {one:7.2f} s, --workers 2 {two:7.2f} s: "
          f"x{one / two:.2f} faster")
    limits_1, limits_2 = default_limits(600, at_once=1), default_limits(600, at_once=2)
    one = population_round(args.sandbox, cases, limits_1, 1, args.repeat, False)
    two = population_round(args.sandbox, cases, limits_2, 2, args.repeat, True)
    print(f"  default settings (1 worker: {limits_1.cpus:g} CPUs per evaluation; 2 workers: "
          f"{limits_2.cpus:g} each, pinned to its lane): --workers 1 {one:7.2f} s, --workers 2 "
          f"{two:7.2f} s: x{one / two:.2f} faster")


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r.get(key, 0.0) for r in runs)


def report(runs: list[dict[str, float]], runs_one: list[dict[str, float]], sim_all: float,
           sim_one: float, n: int, title: str) -> None:
    """The evaluation's figures against the simulation's, and the split of the overhead."""
    total, total_one = median(runs, "total"), median(runs_one, "total")
    replay = median(runs, "host_replay")
    per_case = ((total - sim_all) - (total_one - sim_one)) / max(1, n - 1)
    fixed = (total_one - sim_one) - per_case
    print(f"  {title}")
    print(f"    evaluate, policy file, end to end  {total:7.3f} s   ratio x{total / sim_all:.2f}")
    print(f"      run inside the sandbox           {median(runs, 'run_inside'):7.3f} s")
    print(f"      host replay (all cases)          {replay:7.3f} s   "
          f"({100 * replay / total:.0f} % of the evaluation)")
    print(f"      host work after the runner ended {median(runs, 'after_exit'):7.3f} s")
    if all("machine_cpu" in r for r in runs):
        cpus = os.cpu_count() or 1
        used = median(runs, "machine_cpu")
        share = 100 * used / (cpus * total)
        print(f"      CPU used on the machine          {used:7.3f} s   ({share:.0f} % of its "
              f"{cpus} CPUs' time; this process {median(runs, 'host_cpu'):.3f} s): "
              f"x{used / cpus / sim_all:.2f} of the simulation if perfectly spread")
    if any("prestart_wait" in r for r in runs):
        print(f"      waiting for its started container{median(runs, 'prestart_wait'):7.3f} s")
    print(f"    one-case batch: evaluate {total_one:.3f} s, simulate {sim_one:.3f} s")
    print(f"    fixed cost per batch               {fixed:7.3f} s")
    print(f"    cost per case beyond its simulation{1000 * per_case:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--suite", default="paper")
    parser.add_argument("--sandbox", default="docker", choices=("docker", "local"))
    parser.add_argument("--compare", action="store_true",
                        help="also time the replay after the run, interleaved with the streamed "
                             "runs (on a loaded machine only same-run ratios compare)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between two evaluations of the started-ahead runs (the "
                             "agents' model time; not timed)")
    parser.add_argument("--round", action="store_true",
                        help="time one round of population 4 on 1 and on 2 workers instead")
    args = parser.parse_args()
    if args.round:
        round_main(args)
        return
    backend = choose_backend(args.sandbox)
    policy = PolicyInput("priority as a file", source=priority_as_policy_file(),
                         filename="priority_file.py")
    cases = suite_inputs(args.suite, "search")
    one = cases[:1]
    from simulator import native

    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.suite} search part, "
          f"{len(cases)} cases; {args.sandbox} sandbox; median of {args.repeat} after a warm-up; "
          f"simulator {native.status()['reason']} (the sandbox image carries the same)")
    evaluation(policy, cases, backend)  # warm-up: page cache, image layers, imports
    sim_all = statistics.median(in_process(cases) for _ in range(args.repeat))
    sim_one = statistics.median(in_process(one) for _ in range(args.repeat))
    runs, unstreamed = [], []
    for _ in range(args.repeat):
        runs.append(evaluation(policy, cases, backend))
        if args.compare:
            unstreamed.append(evaluation(policy, cases, Unstreamed(backend)))
    runs_one = [evaluation(policy, one, backend) for _ in range(args.repeat)]
    print(f"  simulate() in process, built-in      {sim_all:7.3f} s")
    report(runs, runs_one, sim_all, sim_one, len(cases), "cold: each batch starts its container")
    total = median(runs, "total")
    ahead = choose_backend(args.sandbox, keep_spare=True)
    try:
        evaluation(policy, one, ahead)  # its first batch starts the container for the next
        runs = [evaluation(policy, cases, ahead, args.pause) for _ in range(args.repeat)]
        runs_one = [evaluation(policy, one, ahead, args.pause) for _ in range(args.repeat)]
    finally:
        getattr(ahead, "close", lambda: None)()
    if all("prestart_wait" in r for r in runs + runs_one):
        report(runs, runs_one, sim_all, sim_one, len(cases),
               f"container started ahead (a run's later evaluations; {args.pause:g} s between)")
    else:
        print("  (this backend starts no container ahead: the cold figures are its figures)")
    if unstreamed:
        after = median(unstreamed, "total")
        print(f"  same runs, replay after the sandbox  {after:7.3f} s   ratio "
              f"x{after / sim_all:.2f} (streamed/after: {total / after:.2f})")


if __name__ == "__main__":
    main()
