"""``policyforge simulate``, ``params init`` and ``policies list``: the simulator's own commands.

Start-up stays lean: numpy and the engine load only when ``simulate`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from policyforge.console import print_error, print_json
from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK


def add_parsers(sub: Any) -> None:
    """The ``simulate``, ``params`` and ``policies`` subcommands of the top-level parser."""
    sim = sub.add_parser("simulate", help="run a policy on a trace (or the generator) and report")
    sim.add_argument("params", metavar="PARAMS.toml", help="Eudoxia params file")
    sim.add_argument("-w", "--workload", metavar="TRACE.csv", help="trace to replay")
    sim.add_argument(
        "--policy",
        metavar="NAME|FILE.py",
        help="built-in key or policy file (default: the params' scheduler_algo)",
    )
    sim.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (strict JSON: a figure that is not a "
                          "number, such as a latency with no completions, is null with a _note)")
    sim.add_argument("--eudoxia-json", action="store_true",
                     help="with --json: NaN and Infinity as bare words, exactly as Eudoxia's own "
                          "JSON (not valid strict JSON)")
    sim.add_argument("--strict", action="store_true",
                     help="refuse a params key Eudoxia does not know (default: warn and ignore)")
    sim.add_argument("--decisions", metavar="OUT.jsonl", help="record every decision here")
    sim.add_argument(
        "--replay",
        metavar="DECISIONS.jsonl",
        help="replay a decision log instead of running a policy",
    )
    sim.add_argument(
        "--profile",
        metavar="OUT.json",
        help="write the run profile (utilisation, queueing, OOM waste, timelines)",
    )
    sim.add_argument(
        "--plot", metavar="OUT.png", help="with --profile: plot utilisation and queueing over time"
    )
    sim.set_defaults(handler=simulate)

    params = sub.add_parser("params", help="params files")
    psub = params.add_subparsers(title="params commands", metavar="COMMAND")
    init = psub.add_parser("init", help="write Eudoxia's default params (like `eudoxia init`)")
    init.add_argument("output", metavar="OUT.toml")
    init.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=params_init)

    pol = sub.add_parser("policies", help="scheduling policies")
    polsub = pol.add_subparsers(title="policies commands", metavar="COMMAND")
    lst = polsub.add_parser("list", help="built-in policies, or the key a policy file registers")
    lst.add_argument("file", nargs="?", metavar="FILE.py")
    lst.set_defaults(handler=policies_list)


def simulate(args: argparse.Namespace) -> int:
    from simulator.decision_log import read_decision_log, write_decision_log
    from simulator.engine import run_simulation
    from simulator.errors import InputFileError, RunError, SimulatorError

    try:
        if args.replay and args.policy:
            raise InputFileError("--replay and --policy exclude each other", field="--policy")
        if args.eudoxia_json and not args.json:
            raise InputFileError("--eudoxia-json goes with --json", field="--eudoxia-json")
        if args.plot and not args.profile:
            raise InputFileError("--plot needs --profile OUT.json", field="--plot")
        _check_keys(args.params, strict=args.strict)
        replay = read_decision_log(args.replay) if args.replay else None
        result = run_simulation(
            args.params,
            args.workload,
            args.policy,
            record_decisions=bool(args.decisions),
            replay=replay,
            profile=bool(args.profile),
        )
    except InputFileError as exc:
        return print_error(exc, EXIT_BAD_INPUT, as_json=args.json)
    except RunError as exc:
        return print_error(exc, EXIT_FAILED, as_json=args.json)
    except SimulatorError as exc:
        return print_error(exc, EXIT_BAD_INPUT, as_json=args.json)
    if args.decisions:
        try:
            write_decision_log(args.decisions, result.decisions or [], result.policy_key)
        except OSError as exc:
            print(f"error: cannot write decisions to {args.decisions}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.profile:
        try:
            Path(args.profile).write_text(json.dumps(result.profile, indent=1), encoding="utf-8")
            if args.plot:
                from traces.plots import plot_run_profile

                plot_run_profile(
                    result.profile or {}, args.plot, title=f"policy {result.policy_key}"
                )
        except OSError as exc:
            print(f"error: cannot write the profile: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.json:
        from simulator.stats import NOT_FINITE_NOTES

        print_json(result.stats_json(), notes=NOT_FINITE_NOTES, allow_nan=args.eudoxia_json)
    else:
        print(format_report(result.stats, result.params))
    return EXIT_OK



def _check_keys(params_file: str, *, strict: bool) -> None:
    """Warn about (or with ``strict``, refuse) params keys Eudoxia does not know."""
    from simulator.params import unknown_keys

    if not Path(params_file).is_file():
        return  # load_params says what is wrong with the path
    problems = unknown_keys(params_file)
    if problems and strict:
        raise problems[0]
    for problem in problems:
        print(f"warning: {problem}; ignored, as Eudoxia does (--strict refuses it)",
              file=sys.stderr)


def format_report(stats: Any, params: dict[str, Any]) -> str:
    """The report `eudoxia run` prints (spec §3.1)."""
    lines = [
        "Simulation completed:",
        f"  Pipelines created: {stats.pipelines_created}",
        f"  Containers completed: {stats.containers_completed}",
        f"  Container throughput: {stats.throughput:.2f} containers/sec",
        f"  Container P99 latency: {stats.p99_latency:.2f}s",
        f"  Assignments: {stats.assignments}",
        f"  Suspensions: {stats.suspensions}",
        f"  Failures: {stats.failures}",
        f"  Container failure counts: {stats.failure_error_counts}",
        f"  Mean memory allocated: {stats.mean_memory_allocated_percent:.1f}%",
        f"  Mean memory consumed: {stats.mean_memory_consumed_percent:.1f}%",
        "",
        "Pipeline Stats",
        (
            f"  {'Priority':<12} {'Arrived':>8} {'Completed':>10} {'Timed Out':>10} "
            f"{'Mean (s)':>10} {'P99 (s)':>10}"
        ),
    ]
    rows = (
        ("All", stats.pipelines_all),
        ("Query", stats.pipelines_query),
        ("Interactive", stats.pipelines_interactive),
        ("Batch", stats.pipelines_batch),
    )
    for name, st in rows:
        lines.append(
            f"  {name:<12} {st.arrival_count:>8} {st.completion_count:>10} "
            f"{st.timeout_count:>10} {st.mean_latency_seconds:>10.2f} "
            f"{st.p99_latency_seconds:>10.2f}"
        )
    lines.append("")
    mjs = params["max_job_seconds"]
    adjusted = stats.cli_adjusted_latency(mjs)
    lines.append(f"Adjusted latency: {adjusted:.2f}s")
    if mjs > 0:
        lines.append(
            "  (weights Query 10, Interactive 5, Batch 1; unfinished pipelines count "
            f"{2 * mjs}s each)"
        )
    else:
        lines.append("  (weights Query 10, Interactive 5, Batch 1; divided by the completion rate)")
    return "\n".join(lines)



def params_init(args: argparse.Namespace) -> int:
    from simulator.params import default_params, params_to_toml

    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"error: {out} already exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_FAILED
    try:
        out.write_text(params_to_toml(default_params()), encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Default parameters written to {out}")
    return EXIT_OK



def policies_list(args: argparse.Namespace) -> int:
    from simulator.errors import SimulatorError
    from simulator.policy_loader import builtin_keys, load_policy_file

    if args.file:
        try:
            loaded = load_policy_file(args.file)
        except SimulatorError as exc:
            return print_error(exc, EXIT_BAD_INPUT)
        print(f"Registered schedulers in {args.file}:")
        print(f"  {loaded.key}")
        return EXIT_OK
    print("Registered schedulers:")
    for key in builtin_keys():
        print(f"  {key}")
    return EXIT_OK

