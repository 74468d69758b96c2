"""``policyforge traces …``: generate, suites, profile, bounds.

Heavy modules (numpy, the generator, matplotlib) load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from policyforge.console import parse_args, print_error, print_json
from policyforge.exit_codes import EXIT_BAD_INPUT


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    return print_error(message, code)


def main(argv: list[str]) -> int:
    """``policyforge traces COMMAND …``: dispatch to the traces subcommands."""
    commands = {
        "generate": (generate_command,
                     "PARAMS.toml OUT.csv [--force] [--no-dag-shape-draw]"),
        "suites": (suites_command,
                   "[NAME] [--generate] [--json] | add NAME ... | remove NAME"),
        "profile": (profile_command,
                    "TRACE.csv [--params P.toml] [--json] [--plot OUT.png]"),
        "bounds": (bounds_command, "TRACE.csv PARAMS.toml [--json]"),
    }
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: policyforge traces COMMAND ...", file=sys.stderr)
        for name, (_, usage) in commands.items():
            print(f"  {name} {usage}", file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown traces command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    command, _ = commands[argv[0]]
    return int(command(argv[1:]))



def generate_command(argv: list[str]) -> int:
    """``policyforge traces generate PARAMS.toml OUT.csv [--force] [--no-dag-shape-draw]``.

    Writes the seeded random workload exactly as ``eudoxia gentrace`` does. Returns the exit
    code: 0 on success, 1 if OUT exists and ``--force`` was not given, 2 for bad params or an
    unwritable OUT (and for usage errors, as argparse does).
    """
    args = parse_args(_generate_parser(), argv)
    if isinstance(args, int):
        return args

    output = Path(args.output_file)
    if output.exists() and not args.force:
        return _fail(f"output file '{output}' already exists; pass --force to overwrite it", 1)

    from simulator.errors import ParamsError, SimulatorError
    from simulator.generator import generate_trace
    from simulator.params import load_params
    from simulator.trace_io import write_trace

    try:
        params = load_params(args.params_file)
        pipelines = generate_trace(params, dag_shape_draw=not args.no_dag_shape_draw)
    except ParamsError as exc:
        if exc.file is None:  # raised by the generator, which never sees the file name
            exc = ParamsError(exc.message, file=args.params_file, field=exc.field)
        return _fail(str(exc))
    except SimulatorError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read params file '{args.params_file}': {exc.strerror or exc}")
    try:
        write_trace(pipelines, output)
    except OSError as exc:
        return _fail(f"cannot write trace to '{output}': {exc.strerror or exc}")
    print(f"Generated workload trace saved to {output}")
    return 0


def _generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policyforge traces generate",
        description="Generate a seeded random workload trace, byte-identical to "
        "`eudoxia gentrace` for the same params.",
    )
    parser.add_argument("params_file", help="Eudoxia params TOML (missing keys take defaults)")
    parser.add_argument("output_file", help="trace CSV to write")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite OUT if it exists")
    parser.add_argument(
        "--no-dag-shape-draw",
        action="store_true",
        help="skip the per-pipeline DAG-shape draw, like the older Eudoxia that produced "
        "the committed regression traces (all DAGs linear)",
    )
    return parser



def suites_command(argv: list[str]) -> int:
    """``policyforge traces suites [NAME] [--generate] [--json]``: list suites or one suite's cases;
    ``traces suites add NAME …`` stores the user's own suite, ``traces suites remove NAME``
    deletes it.

    Returns 0, or 2 for an unknown suite, a bad file, an unwritable cache or bad usage.
    """
    if argv and argv[0] == "add":
        return suites_add_command(argv[1:])
    if argv and argv[0] == "remove":
        return suites_remove_command(argv[1:])
    from traces.errors import SuiteError
    from traces.suites import SUITES, get_suite, suite_names

    args = parse_args(_suites_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        names = [args.name] if args.name else suite_names()
        suites = []
        for n in names:
            try:
                suites.append(get_suite(n, cache_dir=args.cache_dir))
            except SuiteError as exc:
                if args.name or n in SUITES:
                    raise
                print(f"warning: your suite {n!r} cannot be read: {exc}", file=sys.stderr)
        if args.generate:
            for suite in suites:
                suite.search_cases()
                suite.held_out_cases()
        infos = [s.info() for s in suites]
    except SuiteError as exc:
        return print_error(exc, EXIT_BAD_INPUT)
    if args.json:
        print_json([_info_json(i) for i in infos], indent=2)
    elif args.name:
        _print_cases(suites[0], infos[0])
    else:
        _print_table(infos)
    return 0


def _suites_parser() -> argparse.ArgumentParser:
    from traces.suites import CACHE_ENV, SUITES
    from traces.user_suites import DATA_ENV

    parser = argparse.ArgumentParser(
        prog="policyforge traces suites",
        description="List the named trace suites (search and held-out parts) and their cache. "
        "`policyforge traces suites add NAME ...` stores your own suite, `policyforge traces "
        "suites remove NAME` deletes it.",
    )
    parser.add_argument(
        "name", nargs="?", metavar="NAME",
        help=f"show this suite's cases: a built-in ({', '.join(SUITES)}) or your own "
        f"(NAME or NAME@vN, stored under ${DATA_ENV} or ~/.local/share/policyforge)")
    parser.add_argument(
        "--generate", action="store_true", help="generate (or repair) the cached traces first"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"cache folder (default ${CACHE_ENV} or ~/.cache/policyforge)",
    )
    return parser


def suites_add_command(argv: list[str]) -> int:
    """``policyforge traces suites add NAME (--case PART:P.toml:T.csv ... | --generate P.toml
    --search-seeds S --held-out-seeds H) [--description TEXT] [--json]``.

    Returns 0, or 2 for a bad name, a bad file (its error names file, line and field) or bad
    usage; nothing is stored unless every file is good.
    """
    from simulator.errors import SimulatorError
    from traces.errors import SuiteError
    from traces.suites import add_user_suite
    from traces.user_suites import generated_sources, parse_case_spec, parse_seeds

    args = parse_args(_suites_add_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        if args.case and args.generate:
            raise SuiteError("give --case (your traces) or --generate (traces made from one "
                             "params file), not both")
        if args.generate:
            if not args.search_seeds or not args.held_out_seeds:
                raise SuiteError("--generate needs --search-seeds and --held-out-seeds")
            sources = generated_sources(args.generate,
                                        parse_seeds(args.search_seeds, "--search-seeds"),
                                        parse_seeds(args.held_out_seeds, "--held-out-seeds"))
        else:
            if args.search_seeds or args.held_out_seeds:
                raise SuiteError("--search-seeds and --held-out-seeds go with --generate")
            sources = [parse_case_spec(c) for c in args.case]
        suite = add_user_suite(args.name, sources, description=args.description or "")
        info = suite.info()
    except (SuiteError, SimulatorError) as exc:
        return print_error(exc, EXIT_BAD_INPUT)
    if args.json:
        print_json(_info_json(info), indent=2)
    else:
        print(f"added suite {info.name} v{info.version}: {info.search_cases} search and "
              f"{info.held_out_cases} held-out case(s), {_pipelines(info)} pipelines per case")
        print(f"stored in {info.cache_dir}")
        print(f"use it with --suite {info.name} (evaluate, run, chat)")
    return 0


def _suites_add_parser() -> argparse.ArgumentParser:
    from traces.user_suites import DATA_ENV, MAX_CASES, MAX_TRACE_BYTES

    parser = argparse.ArgumentParser(
        prog="policyforge traces suites add",
        description="Store your own suite: your params and traces (or traces generated from "
        "your params), checked, copied with their sha256 and their bounds into "
        f"${DATA_ENV} (default ~/.local/share/policyforge)/suites/NAME/vN. Adding a name again "
        f"makes a new version. At most {MAX_CASES} cases of at most "
        f"{MAX_TRACE_BYTES // 2**20} MiB each; params keys Eudoxia does not know are refused.",
    )
    parser.add_argument("name", metavar="NAME", help="the suite's name (not a built-in's)")
    parser.add_argument(
        "--case", action="append", default=[], metavar="PART:PARAMS.toml:TRACE.csv",
        help="one case; PART is search or held-out; repeat for every case (cluster shapes may "
        "differ); the case is named after the trace file")
    parser.add_argument("--generate", metavar="PARAMS.toml",
                        help="make every case's trace from these params, one per seed")
    parser.add_argument("--search-seeds", metavar="S1,S2,...", help="with --generate")
    parser.add_argument("--held-out-seeds", metavar="S1,S2,...",
                        help="with --generate; disjoint from --search-seeds")
    parser.add_argument("--description", metavar="TEXT", help="what the suite is")
    parser.add_argument("--json", action="store_true", help="print the stored suite as JSON")
    return parser


def suites_remove_command(argv: list[str]) -> int:
    """``policyforge traces suites remove NAME``: delete every stored version of a user suite.

    Returns 0, or 2 for a built-in or unknown name. Runs made on it stay reviewable.
    """
    from traces.errors import SuiteError
    from traces.suites import remove_user_suite

    parser = argparse.ArgumentParser(
        prog="policyforge traces suites remove",
        description="Delete your own suite (every version). Runs made on it keep their records "
        "and stay reviewable; they can no longer be resumed on it.")
    parser.add_argument("name", metavar="NAME", help="one of your suites")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        gone = remove_user_suite(args.name)
    except SuiteError as exc:
        return print_error(exc, EXIT_BAD_INPUT)
    print(f"removed suite {args.name} ({', '.join(f'v{v}' for v in gone)})")
    return 0


def _info_json(info: Any) -> dict[str, Any]:
    data = asdict(info)
    data["cache_dir"] = str(info.cache_dir)
    return data


def _pipelines(info: Any) -> str:
    if info.min_pipelines == info.max_pipelines:
        return str(info.min_pipelines)
    return f"{info.min_pipelines}-{info.max_pipelines}"


def _print_table(infos: list[Any]) -> None:
    from traces.suites import CACHE_ENV

    rows = [("suite", "version", "search", "held-out", "pipelines/case", "cache")]
    rows += [
        (
            i.name + (" (yours)" if i.user else ""),
            str(i.version),
            str(i.search_cases),
            str(i.held_out_cases),
            _pipelines(i),
            i.cache_state,
        )
        for i in infos
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for info in infos:
        print(f"{info.name}: {info.description}")
    builtin = [i for i in infos if not i.user]
    if builtin:
        print(f"cache: {builtin[0].cache_dir.parent} (set {CACHE_ENV} to move it)")
    from traces.user_suites import DATA_ENV, suites_root

    print(f"your suites: {suites_root()} (set {DATA_ENV} to move it; add one with "
          "`policyforge traces suites add`)")


def _print_cases(suite: Any, info: Any) -> None:
    print(f"{info.name} v{info.version}{' (yours)' if info.user else ''}: {info.description}")
    print(f"{'stored' if info.user else 'cache'}: {info.cache_dir} ({info.cache_state})")
    shown = None
    for part, name, seed, pipelines in suite.case_rows():
        if part != shown:
            print(f"{part}:")
            shown = part
        print(f"  {name:<24} seed {seed:<5} {pipelines:>5} pipelines")



def profile_command(argv: list[str]) -> int:
    """``policyforge traces profile TRACE.csv [--params P.toml] [--json] [--plot OUT.png]``.

    Prints a human summary (or JSON with ``--json``) and optionally writes a PNG. Returns 0, or
    2 for a bad trace, params or output path (one ``error: …`` line, never a traceback).
    """
    args = parse_args(_profile_parser(), argv)
    if isinstance(args, int):
        return args
    from simulator.errors import SimulatorError
    from simulator.params import load_params
    from simulator.trace_io import read_trace
    from traces.profile import format_profile, plot_workload_profile, profile_workload

    if not args.interval > 0:
        return _fail(f"--interval must be a positive number of seconds, got {args.interval:g}")
    try:
        pipelines = read_trace(args.trace)
        params = load_params(args.params) if args.params else None
    except SimulatorError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read params file '{args.params}': {exc.strerror or exc}")
    profile = profile_workload(pipelines, params, interval_seconds=args.interval)
    if args.plot:
        try:
            plot_workload_profile(
                profile, args.plot, title=f"workload profile: {Path(args.trace).name}"
            )
        except (OSError, ValueError) as exc:
            return _fail(
                f"cannot write plot '{args.plot}': {getattr(exc, 'strerror', None) or exc}"
            )
    if args.json:
        print_json(profile.to_dict(), indent=2)
    else:
        print(format_profile(profile, args.trace))
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


def _profile_parser() -> argparse.ArgumentParser:
    from traces.profile import DEFAULT_INTERVAL_SECONDS

    parser = argparse.ArgumentParser(
        prog="policyforge traces profile",
        description="Profile a workload trace: arrivals, priority mix, DAG shapes, demand and "
        "(with --params) offered load against the cluster.",
    )
    parser.add_argument("trace", metavar="TRACE.csv", help="trace CSV to profile")
    parser.add_argument("--params", metavar="P.toml", help="cluster and duration for offered load")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    parser.add_argument("--plot", metavar="OUT.png", help="write a PNG of the profile")
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"width of the arrival intervals (default {DEFAULT_INTERVAL_SECONDS:g})",
    )
    return parser



def bounds_command(argv: list[str]) -> int:
    """``policyforge traces bounds TRACE.csv PARAMS.toml [--json]``.

    Prints the bounds as a table (or one JSON object). Returns 0 on success and 2 for bad input
    or usage (``error: …`` on stderr, never a traceback).
    """
    args = parse_args(_bounds_parser(), argv)
    if isinstance(args, int):
        return args
    from simulator.errors import SimulatorError
    from simulator.params import load_params
    from simulator.trace_io import read_trace
    from traces.bounds import bound_fractions, compute_bounds, format_bounds

    try:
        params = load_params(args.params_file)
        pipelines = read_trace(args.trace_file)
        bounds = compute_bounds(pipelines, params)
        fractions = None
        if args.policy:
            from simulator.engine import run_simulation

            result = run_simulation(params, pipelines, args.policy)
            fractions = bound_fractions(result, bounds)
    except SimulatorError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read '{exc.filename or args.trace_file}': {exc.strerror or exc}")
    if args.json:
        out = bounds.to_dict()
        if fractions is not None:
            out["policy"] = args.policy
            out["fractions_of_bound"] = fractions
        print_json(out, indent=2)
    else:
        print(format_bounds(bounds, pipelines, params["ticks_per_second"]))
        if fractions is not None:
            print(f"\npolicy {args.policy} as a fraction of what is possible:")
            for key, value in fractions.items():
                print(f"  {key:<34} {value:.3f}" if value is not None else f"  {key:<34} -")
    return 0


def _bounds_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policyforge traces bounds",
        description="Upper bounds on what any policy can complete on a trace and cluster, and "
        "a lower bound on each pipeline's latency (no simulation; see traces/bounds.py).",
    )
    parser.add_argument("trace_file", metavar="TRACE.csv", help="trace to bound")
    parser.add_argument("params_file", metavar="PARAMS.toml", help="Eudoxia params (the cluster)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--policy",
        metavar="NAME|FILE.py",
        help="also simulate this policy and report its metrics as fractions of the bounds",
    )
    return parser

