"""The ``policyforge`` console script: the top-level parser and the dispatcher.

Start-up stays lean: only argparse loads here. Each command family lives in its own module under
`policyforge.commands`, imported by name only when it is the one called, so ``policyforge
simulate`` never loads agent, sandbox or UI packages. Exit codes: `policyforge.exit_codes`.
"""

from __future__ import annotations

import argparse
import sys

from policyforge.commands.simulate import add_parsers
from policyforge.console import interrupted_code, interruption, parse_args, signals_interrupt
from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_OK

# Command families with parsers of their own: "module:function" taking argv.
_FAMILIES = {
    "traces": "policyforge.commands.traces:main",
    "sandbox": "policyforge.commands.sandbox:main",
    "evaluate": "policyforge.commands.sandbox:evaluate_main",
    "run": "policyforge.commands.run:run_main",
    "export": "policyforge.commands.run:export_main",
    "runs": "policyforge.commands.review:runs_main",
    "review": "policyforge.commands.review:review_main",
    "chat": "policyforge.commands.chat:chat_main",
}

# The commands that start sandboxes: each start first removes what a killed one left running.
_SANDBOX_USERS = {"evaluate", "run", "chat", "sandbox"}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``policyforge`` console script."""
    try:
        with signals_interrupt():
            return _main(argv)
    except KeyboardInterrupt:  # a command without cleanup of its own: no traceback
        print(f"\ninterrupted ({interruption()})", file=sys.stderr)
        return interrupted_code()
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _FAMILIES:
        if argv[0] in _SANDBOX_USERS and not {"-h", "--help"} & set(argv):
            _reap_orphans()
        module_name, func_name = _FAMILIES[argv[0]].split(":")
        import importlib

        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(argv[1:]))
    parser = _parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
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

    add_parsers(sub)
    sub.add_parser("traces", help="trace tools: generate, suites, profile, bounds")
    sub.add_parser("sandbox", help="sandbox engine and image: up, build")
    sub.add_parser("evaluate", help="evaluate a policy on a suite inside the sandbox")
    sub.add_parser("run", help="let the agents design a policy for a goal, within a budget")
    sub.add_parser("chat", help="talk with the planner, approve runs, ask about results")
    sub.add_parser("runs", help="list the runs in a runs folder")
    sub.add_parser("review", help="review a run: terminal view, or --html report")
    sub.add_parser("export", help="write a run's accepted (or best) policy as a file")
    return parser


def _reap_orphans() -> None:
    """Remove sandboxes (containers, local runners) whose policyforge process is gone or whose
    deadline passed, and say so on stderr. Never fails the command: problems are reported."""
    from sandbox.reaper import reap_orphans

    reaped = reap_orphans()
    if reaped:
        print(reaped.summary(), file=sys.stderr)
