"""``policyforge traces …`` subcommands. Heavy modules (numpy, the generator) load on use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def generate_command(argv: list[str]) -> int:
    """``policyforge traces generate PARAMS.toml OUT.csv [--force] [--no-dag-shape-draw]``.

    Writes the seeded random workload exactly as ``eudoxia gentrace`` does. Returns the exit
    code: 0 on success, 1 if OUT exists and ``--force`` was not given, 2 for bad params or an
    unwritable OUT (and for usage errors, as argparse does).
    """
    parser = _generate_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error; argparse already printed
        return exc.code if isinstance(exc.code, int) else 2

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


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


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


def main(argv: list[str]) -> int:
    """``policyforge traces COMMAND …``: dispatch to the traces subcommands."""
    commands = {
        "generate": ("traces.cli", "generate_command",
                     "PARAMS.toml OUT.csv [--force] [--no-dag-shape-draw]"),
        "suites": ("traces.suites", "suites_command", "[NAME] [--generate] [--json]"),
        "profile": ("traces.profile", "profile_command",
                    "TRACE.csv [--params P.toml] [--json] [--plot OUT.png]"),
        "bounds": ("traces.bounds", "bounds_command", "TRACE.csv PARAMS.toml [--json]"),
    }
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: policyforge traces COMMAND ...", file=sys.stderr)
        for name, (_, _, usage) in commands.items():
            print(f"  {name} {usage}", file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown traces command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    import importlib

    module, func, _ = commands[argv[0]]
    return int(getattr(importlib.import_module(module), func)(argv[1:]))
