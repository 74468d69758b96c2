"""Simulator speed on the paper's setting; prints the figures the README quotes.

    .venv/bin/python benchmarks/simulator.py [--repeat N]

For `naive` and `priority` on the paper setting (600 s, 1000 ticks/s, 1 pool of 64 CPUs /
500 GB, 10 pipelines of ~10 operators every ~10 s, single-operator containers, seed 10):
`simulate()` wall time (imports and trace generation excluded), events per second, and the time
at 10x ``ticks_per_second``. Then a clock-reading and a queue-scanning user policy, against this
engine's own tick-by-tick mode (which calls the policy every tick, as Eudoxia does). Then the
CLI's start-up against ``python -c "import numpy"``. Eudoxia's own times on the same input
(spec §14, measured on a 2-vCPU machine): naive 2.2-3.4 s, priority 8.3-14.0 s.

All comparisons are ratios measured in the same run: absolute times on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.engine import run_simulation  # noqa: E402
from simulator.generator import generate_trace  # noqa: E402
from simulator.params import load_params  # noqa: E402
from traces.suites import paper_params  # noqa: E402

PAPER = paper_params()
EUDOXIA_SECONDS = {"naive": (2.2, 3.4), "priority": (8.3, 14.0)}

CLOCK_POLICY = textwrap.dedent(
    """
    @register_scheduler_init(key="clocked")
    def init(s):
        s.queue = []

    @register_scheduler(key="clocked")
    def clocked(s, results, pipelines):
        # reads the clock on every call: must be called every tick to stay exact
        s.queue.extend(pipelines)
        if s.clock.now_ticks() % 50 != 0:
            return [], []
        out = []
        for pool in s.executor.pools:
            cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
            for p in list(s.queue):
                ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)
                if not ops or cpu < 8 or ram < 64:
                    continue
                out.append(Assignment(ops[:1], 8, 64, p.priority, pool.pool_id, p.pipeline_id))
                cpu, ram = cpu - 8, ram - 64
            s.queue = [p for p in s.queue if not p.runtime_status().is_pipeline_successful()
                       and p.runtime_status().state_counts[OperatorState.FAILED] == 0]
        return [], out
    """
)

SCAN_POLICY = textwrap.dedent(
    """
    @register_scheduler_init(key="scan")
    def init(s):
        s.queue = []

    @register_scheduler(key="scan")
    def scan(s, results, pipelines):
        # rebuilds and scans its whole queue on every call, reads no clock
        s.queue = [p for p in s.queue + list(pipelines)
                   if not p.runtime_status().is_pipeline_successful()
                   and p.runtime_status().state_counts[OperatorState.FAILED] == 0]
        s.queue.sort(key=lambda p: (p.priority.value, p.runtime_status().arrival_tick))
        out = []
        for pool in s.executor.pools:
            cpu, ram = pool.avail_cpu_pool, pool.avail_ram_pool
            for p in s.queue:
                ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)
                if ops and cpu >= 8 and ram >= 64:
                    out.append(Assignment(ops[:1], 8, 64, p.priority, pool.pool_id, p.pipeline_id))
                    cpu, ram = cpu - 8, ram - 64
        return [], out
    """
)


def timed(repeat: int, fn):  # type: ignore[no-untyped-def]
    """Median wall time of ``fn()`` over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = load_params(PAPER)
    trace = generate_trace(base)
    print(
        "Paper setting (600 s, 1000 ticks/s, 1 pool 64 CPU / 500 GB, seed 10), "
        f"{len(trace)} pipelines; median of {args.repeat} runs\n"
    )
    print(
        f"{'policy':<10} {'simulate()':>11} {'events/s':>11} {'full ticks':>11} "
        f"{'10x tps':>9} {'10x/1x':>7} {'vs Eudoxia (spec §14)':>24}"
    )
    for policy in ("naive", "priority"):
        params = dict(base, scheduler_algo=policy)
        t1, r1 = timed(args.repeat, lambda p=params: run_simulation(p))
        t10, _ = timed(
            args.repeat, lambda p=params: run_simulation(dict(p, ticks_per_second=10_000), trace)
        )
        events = r1.counters.full_ticks
        lo, hi = EUDOXIA_SECONDS[policy]
        print(
            f"{policy:<10} {t1:>10.3f}s {events / t1:>11.0f} {events:>11} {t10:>8.3f}s "
            f"{t10 / t1:>7.2f} {lo / t1:>9.0f}x - {hi / t1:.0f}x faster"
        )

    print("\nUser policies on the first 120 s of the same setting: event-driven engine vs")
    print("tick-by-tick (the policy called every tick, as Eudoxia calls it)")
    short = dict(base, duration=120)
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in (("clock-reading", CLOCK_POLICY), ("queue-scanning", SCAN_POLICY)):
            path = Path(tmp) / f"{name}.py"
            path.write_text(source)
            te, re_ = timed(args.repeat, lambda f=path: run_simulation(short, trace, str(f)))
            tt, rt = timed(
                1, lambda f=path: run_simulation(short, trace, str(f), event_driven=False)
            )
            same = re_.stats.to_dict() == rt.stats.to_dict() or str(re_.stats) == str(rt.stats)
            print(
                f"  {name:<15} event-driven {te:6.3f}s ({re_.counters.policy_calls:>6} calls)"
                f"  tick-by-tick {tt:6.3f}s ({rt.counters.policy_calls:>6} calls)"
                f"  ratio {te / tt:4.2f}  identical={same}"
            )

    print("\nCLI start-up")
    py = sys.executable
    params_file = ROOT / "examples" / "paper.toml"
    numpy_t, _ = timed(5, lambda: subprocess.run([py, "-c", "import numpy"], check=True))
    help_t, _ = timed(
        5,
        lambda: subprocess.run(
            [py, "-m", "policyforge", "--help"], check=True, capture_output=True
        ),
    )
    imports_t, _ = timed(
        5,
        lambda: subprocess.run(
            [py, "-c", "import policyforge.main, simulator.engine, simulator.policies"], check=True
        ),
    )
    run_t, _ = timed(
        3,
        lambda: subprocess.run(
            [py, "-m", "policyforge", "simulate", str(params_file)],
            check=True,
            capture_output=True,
        ),
    )
    print(f"  python -c 'import numpy'         {numpy_t:.3f}s")
    print(f"  policyforge --help               {help_t:.3f}s")
    print(
        f"  import the engine (no run)       {imports_t:.3f}s  "
        f"(+{imports_t - numpy_t:.3f}s over numpy)"
    )
    print(f"  policyforge simulate paper.toml  {run_t:.3f}s  (start-up + generation + run)")


if __name__ == "__main__":
    main()
