"""``policyforge chat``: the arguments; the conversation itself is `agents.chat.session`."""

from __future__ import annotations

import argparse

from policyforge.commands.engine import add_engine_arguments, engine_problem
from policyforge.commands.run import NO_MODEL
from policyforge.console import parse_args, print_error
from policyforge.exit_codes import EXIT_BAD_INPUT
from sandbox.registry import KINDS as SANDBOX_KINDS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyforge chat",
                                description="Talk with the planner about what good scheduling "
                                            "means for you, approve a run, ask about results.")
    p.add_argument("--model", help="model for the conversation (and the run's roles)")
    p.add_argument("--role-model", action="append", default=[], metavar="ROLE=M")
    p.add_argument("--run-model", help="model for the run's roles, e.g. 'heuristic' (default: "
                                       "--model)")
    p.add_argument("--base-url")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("--request-timeout", type=float, metavar="S",
                   help="limit per model call attempt in seconds (default 600)")
    p.add_argument("--models", metavar="FILE", help="TOML settings for every role and per role")
    p.add_argument("--suite", default="small")
    p.add_argument("--sandbox", choices=SANDBOX_KINDS, default="auto")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--resume", metavar="SESSION", help="continue a saved session")
    add_engine_arguments(p, population=True)
    return p


def chat_main(argv: list[str]) -> int:
    """Entry point of ``policyforge chat``."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    problem = engine_problem(args)
    if problem:
        return print_error(problem, EXIT_BAD_INPUT)
    from rich.console import Console

    from agents.chat.session import ChatSession

    console = Console(highlight=False)
    try:
        session = ChatSession(args, console)
    except Exception as exc:  # noqa: BLE001 - configuration errors are shown, not raised
        if "no model" in str(exc):
            return print_error(NO_MODEL, EXIT_BAD_INPUT)
        return print_error(exc, EXIT_BAD_INPUT)
    try:
        return session.loop()
    finally:
        session.close()

