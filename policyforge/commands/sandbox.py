"""``policyforge sandbox …`` and ``policyforge evaluate …``.

``sandbox up`` makes the Docker sandbox ready (engine, then image) and is idempotent; ``sandbox
build [--force]`` (re)builds the image only; ``sandbox status`` says what is there. ``evaluate``
never builds anything: without an up-to-date image it fails at once and says to run ``sandbox
up``.

``evaluate`` scores each evaluation by its suite's objective: where that counts failed runs
(``scales``: a size whose run fails counts 720 s), a report whose only failures are failed runs is
``ok`` and names each (`agents.objective.Objective.count_failed_runs`).

Exit codes: 0 success (for ``evaluate``: status ``ok``); 1 the evaluation did not pass (rejected,
failed, timeout, unverifiable) or the sandbox could not be made ready; 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
import time

from policyforge.commands.engine import add_engine_arguments, engine_problem
from policyforge.console import parse_args, print_error, print_json
from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from sandbox.registry import KINDS as SANDBOX_KINDS


def main(argv: list[str]) -> int:
    """``policyforge sandbox {up,build,status}``."""
    parser = argparse.ArgumentParser(prog="policyforge sandbox",
                                     description="The Docker sandbox: engine and image.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("up", help="start the engine if needed (root: install and start dockerd), "
                              "then build the image if it is missing or stale")
    build = sub.add_parser("build", help="build the sandbox image if stale")
    build.add_argument("--force", action="store_true", help="rebuild the base and the image")
    sub.add_parser("status", help="engine and image state as JSON")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    from sandbox.errors import SandboxError

    try:
        if args.command == "status":
            from sandbox.image import image_status

            print_json(image_status().to_dict(), indent=1)
            return EXIT_OK
        if args.command == "up":
            _up()
        else:
            _build(force=args.force)
    except SandboxError as exc:
        return print_error(exc, EXIT_FAILED)
    return EXIT_OK


def _up() -> None:
    from sandbox.daemon import ensure_engine

    status = ensure_engine()
    if status.started:
        print(f"started dockerd in {status.seconds:.1f} s (log: {status.log_path})")
    else:
        print("Docker engine answers")
    _build(force=False)


def _build(force: bool) -> None:
    from sandbox.image import build_image

    print("checking the sandbox image (a first build bootstraps Debian: about a minute)",
          file=sys.stderr)
    report = build_image(force=force)
    what = "built" if report.built_image else "up to date"
    base = ", base bootstrapped" if report.built_base else ""
    print(f"{report.image} {what} ({report.content_hash[:12]}{base}) in {report.seconds:.1f} s")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)


def evaluate_main(argv: list[str]) -> int:
    """``policyforge evaluate --policy NAME|FILE.py [--policy ...] --suite NAME [...]``."""
    parser = argparse.ArgumentParser(
        prog="policyforge evaluate",
        description="Run policies on trace suites inside the sandbox and verify the results on "
                    "the host; one evaluation per (policy, suite), run serially or as Ray tasks.")
    parser.add_argument("--policy", required=True, action="append", metavar="NAME|FILE.py",
                        help="built-in policy key or policy file (repeat for several)")
    parser.add_argument("--suite", required=True, action="append", metavar="NAME",
                        help="trace suite name (repeat for several)")
    parser.add_argument("--part", choices=("search", "held-out"), default="search",
                        help="which part of each suite (default: search)")
    parser.add_argument("--sandbox", choices=SANDBOX_KINDS, default="auto",
                        help="auto: Docker when an engine answers, else the local backend")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="wall-clock limit for each evaluation (default 120)")
    add_engine_arguments(parser, population=False)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (a list of them for several evaluations)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.timeout <= 0:
        return print_error("--timeout must be positive", EXIT_BAD_INPUT)
    problem = engine_problem(args)
    if problem:
        return print_error(problem, EXIT_BAD_INPUT)

    from sandbox.backend import default_limits
    from sandbox.errors import ExecutorError, SandboxError
    from sandbox.evaluation import policy_input, suite_inputs
    from sandbox.executor import EvaluationJob, make_executor

    t0 = time.monotonic()
    limits = default_limits(args.timeout,
                            at_once=args.workers or 1 if args.ray_address is None else 1)
    from sandbox.backend import on_lane
    try:
        policies = [policy_input(p) for p in args.policy]
        suites = {s: tuple(suite_inputs(s, args.part)) for s in dict.fromkeys(args.suite)}
    except (SandboxError, _suite_errors()) as exc:
        return print_error(exc, EXIT_BAD_INPUT, as_json=args.json,
                           message=getattr(exc, "message", None) or str(exc))
    at_once = args.workers or 1 if args.ray_address is None else 1
    jobs = [EvaluationJob(key=f"{i}", policy=policy, cases=cases,
                          limits=on_lane(limits, i % at_once + 1, at_once), suite=suite,
                          part=args.part)
            for i, (policy, (suite, cases)) in enumerate(
                (p, sc) for p in policies for sc in suites.items())]
    try:
        executor = make_executor(args.sandbox, workers=args.workers,
                                 ray_address=args.ray_address)
    except ExecutorError as exc:
        return print_error(exc, EXIT_FAILED, as_json=args.json)
    try:
        reports = executor.evaluate(jobs)
    except ExecutorError as exc:
        return print_error(exc, EXIT_FAILED, as_json=args.json)
    finally:
        executor.close()
    from agents.objective import suite_objective

    # each suite scored as its objective says: on `scales` a failed run counts, not fails
    objectives = {suite: suite_objective(suite) for suite in suites}
    reports = [objectives[job.suite or ""].count_failed_runs(report)
               for job, report in zip(jobs, reports, strict=True)]
    for report in reports:
        if report.sandbox is not None:
            report.sandbox.timings["evaluate_total"] = time.monotonic() - t0
    if args.json and len(reports) > 1:
        print("[" + ", ".join(r.to_json() for r in reports) + "]")
    else:
        for report in reports:
            _print(report, args.json, objectives[report.suite or ""])
    return EXIT_OK if all(r.status == "ok" for r in reports) else EXIT_FAILED


def _suite_errors() -> type[Exception]:
    from traces.errors import SuiteError

    return SuiteError


def _print(report, as_json: bool, objective) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        from simulator.stats import NOT_FINITE_NOTES

        print_json(report.model_dump(mode="python"), notes=NOT_FINITE_NOTES)
        return
    print(f"{report.policy} on {report.suite} ({report.part}): {report.status}")
    if report.reason:
        print(f"  reason: {report.reason}")
    for f in report.findings:
        print(f"  {f['severity']} line {f['line']}:{f['column']} [{f['rule']}] {f['message']}")
    for t in report.traces:
        figures = ""
        if t.stats:
            figures = (f"throughput {t.stats['throughput']:.3f}/s, adjusted latency "
                       f"{t.stats['adjusted_latency']:.2f} s, completed "
                       f"{t.stats['pipelines_all']['completion_count']}")
            if t.bounds:
                figures += f" of at most {t.bounds['max_completed_pipelines']}"
        print(f"  {t.name:<28} {t.status:<13} {figures}")
    from agents.objective import report_cases
    from sandbox.evaluation import counted_failed_runs

    for case, why in counted_failed_runs(report).items():
        print(f"  {objective.failed_run_text(case, why)}")
    if report.status == "ok":
        score = objective.score(list(report_cases(report).values()))
        print(f"  score {score:.4g} ({objective.summary})")
    if report.aggregate:
        agg = ", ".join(f"{k} {v:.4g}" for k, v in report.aggregate.items() if v is not None)
        print(f"  median: {agg}")
    if report.bound_fractions:
        frac = ", ".join(f"{k} {v:.3f}" for k, v in report.bound_fractions.items()
                         if v is not None)
        print(f"  median fraction of the bound (1 = no policy can do better): {frac}")
    v = report.verification
    determinism = f"; determinism: {v.determinism}" if v.determinism else ""
    print(f"  verified {v.verified} of {v.compared} on the host{determinism}")
    if report.sandbox:
        print(f"  sandbox: {report.sandbox.backend}, "
              f"{report.sandbox.timings.get('evaluate_total', 0):.2f} s")
