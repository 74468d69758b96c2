"""The ``policyforge`` command line: the dispatcher and the simulator's own subcommands.

Start-up stays lean: only argparse loads here. numpy and the engine load when ``simulate`` runs,
and each other family (``traces``, and later ``sandbox``, ``run``…) is imported by name only when
it is the one called, so ``policyforge simulate`` never loads agent, sandbox or UI packages.

Exit codes: 0 success; 1 the run failed (a policy mistake, an exception in the policy, or a run
Eudoxia cannot finish); 2 bad input (params, trace, policy file, decision log) or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2

# Subcommand families that live in other packages: "module:function" taking argv.
_FAMILIES = {
    "traces": "traces.cli:main",
    "sandbox": "sandbox.cli:main",
    "evaluate": "sandbox.cli:evaluate_main",
    "run": "agents.cli:run_main",
    "export": "agents.cli:export_main",
    "runs": "agents.review.cli:runs_main",
    "review": "agents.review.cli:review_main",
    "chat": "agents.chat.cli:chat_main",
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``policyforge`` console script."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _FAMILIES:
        module_name, func_name = _FAMILIES[argv[0]].split(":")
        import importlib

        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(argv[1:]))
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    return int(args.handler(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policyforge",
        description="Design FaaS scheduling policies and prove them in an Eudoxia-exact simulator.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    sim = sub.add_parser("simulate", help="run a policy on a trace (or the generator) and report")
    sim.add_argument("params", metavar="PARAMS.toml", help="Eudoxia params file")
    sim.add_argument("-w", "--workload", metavar="TRACE.csv", help="trace to replay")
    sim.add_argument(
        "--policy",
        metavar="NAME|FILE.py",
        help="built-in key or policy file (default: the params' scheduler_algo)",
    )
    sim.add_argument("--json", action="store_true", help="print one JSON object on stdout")
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
    sim.set_defaults(handler=_simulate)

    params = sub.add_parser("params", help="params files")
    psub = params.add_subparsers(title="params commands", metavar="COMMAND")
    init = psub.add_parser("init", help="write Eudoxia's default params (like `eudoxia init`)")
    init.add_argument("output", metavar="OUT.toml")
    init.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_params_init)

    pol = sub.add_parser("policies", help="scheduling policies")
    polsub = pol.add_subparsers(title="policies commands", metavar="COMMAND")
    lst = polsub.add_parser("list", help="built-in policies, or the key a policy file registers")
    lst.add_argument("file", nargs="?", metavar="FILE.py")
    lst.set_defaults(handler=_policies_list)

    sub.add_parser("traces", help="trace tools: generate, suites, profile, bounds")
    sub.add_parser("sandbox", help="sandbox engine and image: up, build")
    sub.add_parser("evaluate", help="evaluate a policy on a suite inside the sandbox")
    sub.add_parser("run", help="let the agents design a policy for a goal, within a budget")
    sub.add_parser("chat", help="talk with the planner, approve runs, ask about results")
    sub.add_parser("runs", help="list the runs in a runs folder")
    sub.add_parser("review", help="review a run: terminal view, or --html report")
    sub.add_parser("export", help="write a run's accepted (or best) policy as a file")
    return parser


def _error(exc: Any, as_json: bool, code: int) -> int:
    if as_json:
        payload = exc.to_dict() if hasattr(exc, "to_dict") else {"message": str(exc)}
        print(json.dumps({"error": payload}))
    else:
        print(f"error: {exc}", file=sys.stderr)
        detail = getattr(exc, "context", {}) or {}
        if detail.get("decision"):
            print(f"  decision: {detail['decision']}", file=sys.stderr)
        if detail.get("traceback"):
            print("  policy traceback (most recent call last):", file=sys.stderr)
            print("  " + detail["traceback"].rstrip().replace("\n", "\n  "), file=sys.stderr)
    return code


def _simulate(args: argparse.Namespace) -> int:
    from simulator.engine import run_simulation
    from simulator.errors import InputFileError, RunError, SimulatorError

    try:
        if args.replay and args.policy:
            raise InputFileError("--replay and --policy exclude each other", field="--policy")
        if args.plot and not args.profile:
            raise InputFileError("--plot needs --profile OUT.json", field="--plot")
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
        return _error(exc, args.json, EXIT_BAD_INPUT)
    except RunError as exc:
        return _error(exc, args.json, EXIT_RUN_FAILED)
    except SimulatorError as exc:
        return _error(exc, args.json, EXIT_BAD_INPUT)
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
        print(json.dumps(stats_json(result.stats, result.params)))
    else:
        print(format_report(result.stats, result.params))
    return EXIT_OK


def stats_json(stats: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Eudoxia's ``to_dict()`` plus ``adjusted_latency`` and a few extra figures."""
    out = stats.to_dict()
    out["adjusted_latency"] = stats.adjusted_latency()
    out["mean_memory_allocated_percent"] = stats.mean_memory_allocated_percent
    out["mean_memory_consumed_percent"] = stats.mean_memory_consumed_percent
    out["completed_pipelines_per_second"] = (
        stats.pipelines_all.completion_count / params["duration"]
    )
    return out


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


DECISION_LOG_FORMAT = "policyforge-decisions/1"


def write_decision_log(path: str | Path, decisions: list[dict[str, Any]], policy: str) -> None:
    """A header line then one JSON line per policy call that decided something."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": DECISION_LOG_FORMAT, "policy": policy}) + "\n")
        fh.writelines(json.dumps(entry) + "\n" for entry in decisions)


def read_decision_log(path: str | Path) -> list[dict[str, Any]]:
    """Decisions from a log written by `write_decision_log`; errors name file and line."""
    from simulator.errors import InputFileError

    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read decision log: {exc}", file=name) from None
    entries: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"not JSON: {exc.msg}", file=name, line=lineno, column=exc.colno
            ) from None
        if not isinstance(obj, dict):
            raise InputFileError("each line must be a JSON object", file=name, line=lineno)
        if "format" in obj:
            if obj["format"] != DECISION_LOG_FORMAT:
                raise InputFileError(
                    f"unknown decision log format {obj['format']!r}", file=name, line=lineno
                )
            continue
        for key, kind in (("tick", int), ("suspensions", list), ("assignments", list)):
            if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
                raise InputFileError(
                    f"field {key!r} must be {kind.__name__}", file=name, line=lineno, field=key
                )
        _check_decisions(obj, name, lineno)
        entries.append(obj)
    return entries


_ASSIGNMENT_FIELDS = {
    "ops": list,
    "cpu": (int, float),
    "ram": (int, float),
    "priority": str,
    "pool_id": int,
    "pipeline_id": str,
}
_SUSPEND_FIELDS = {"container_id": str, "pool_id": int}


def _check_decisions(obj: dict[str, Any], name: str, lineno: int) -> None:
    from simulator.errors import InputFileError

    for kind, fields in (("assignments", _ASSIGNMENT_FIELDS), ("suspensions", _SUSPEND_FIELDS)):
        for i, item in enumerate(obj[kind]):
            for key, types in fields.items():
                value = item.get(key) if isinstance(item, dict) else None
                if not isinstance(value, types) or isinstance(value, bool):  # type: ignore[arg-type]
                    raise InputFileError(
                        f"{kind}[{i}].{key} is missing or of the wrong type",
                        file=name,
                        line=lineno,
                        field=key,
                    )
            if kind == "assignments":
                if item["priority"] not in ("QUERY", "INTERACTIVE", "BATCH_PIPELINE"):
                    raise InputFileError(
                        f"assignments[{i}].priority {item['priority']!r} is not a priority",
                        file=name,
                        line=lineno,
                        field="priority",
                    )
                refs = item["ops"]
                if not refs or not all(
                    isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r)
                    for r in refs
                ):
                    raise InputFileError(
                        f"assignments[{i}].ops must be a non-empty list of [pipeline, row] pairs",
                        file=name,
                        line=lineno,
                        field="ops",
                    )


def _params_init(args: argparse.Namespace) -> int:
    from simulator.params import default_params, params_to_toml

    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"error: {out} already exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_RUN_FAILED
    try:
        out.write_text(params_to_toml(default_params()), encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Default parameters written to {out}")
    return EXIT_OK


def _policies_list(args: argparse.Namespace) -> int:
    from simulator.errors import SimulatorError
    from simulator.policy_loader import builtin_keys, load_policy_file

    if args.file:
        try:
            loaded = load_policy_file(args.file)
        except SimulatorError as exc:
            return _error(exc, False, EXIT_BAD_INPUT)
        print(f"Registered schedulers in {args.file}:")
        print(f"  {loaded.key}")
        return EXIT_OK
    print("Registered schedulers:")
    for key in builtin_keys():
        print(f"  {key}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
