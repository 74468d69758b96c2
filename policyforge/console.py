"""How every command talks to the person: argument parsing, the one error printer, JSON output.

Only the standard library loads here, so every command starts lean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED

# Termination signals handled like Ctrl-C: a clean message, cleanup, and exit 128 + the signal.
TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code when argparse stopped (``--help``: 0, usage: 2)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed the help or the usage error
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT


def print_json(data: Any, *, indent: int | None = None, notes: Mapping[str, str] | None = None,
               allow_nan: bool = False) -> None:
    """Print ``data`` as strict JSON (RFC 8259): a number that is not finite becomes ``null``
    with a sibling ``<key>_note`` saying why (``notes`` by key, else a generic reason), so any
    parser reads it. ``allow_nan`` prints NaN and Infinity as Python's and Eudoxia's own JSON
    does (``simulate --eudoxia-json``)."""
    if allow_nan:
        print(json.dumps(data, indent=indent))
        return
    from simulator.strict_json import dumps

    print(dumps(data, notes, indent=indent))


def print_error(error: BaseException | str, code: int, *, as_json: bool = False,
                message: str | None = None, prefix: str = "error") -> int:
    """Report ``error`` and return ``code``.

    Text: one ``error: …`` line on stderr (``message`` replaces ``str(error)`` when given), then
    a policy's offending decision and its traceback, indented, when the error carries them.
    JSON: ``{"error": {...}}`` on stdout, the error's structured ``to_dict()`` when it has one.
    """
    text = message if message is not None else str(error)
    if as_json:
        to_dict = getattr(error, "to_dict", None)
        payload = to_dict() if callable(to_dict) else {"message": text}
        print_json({"error": payload})
        return code
    lead = f"{prefix}:"
    print(text if text.startswith(lead) else f"{lead} {text}", file=sys.stderr)
    detail: dict[str, Any] = getattr(error, "context", None) or {}
    if detail.get("decision"):
        print(f"  decision: {detail['decision']}", file=sys.stderr)
    if detail.get("traceback"):
        print("  policy traceback (most recent call last):", file=sys.stderr)
        print("  " + detail["traceback"].rstrip().replace("\n", "\n  "), file=sys.stderr)
    return code


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise `KeyboardInterrupt` as Ctrl-C does, so every
    cleanup path a command has for Ctrl-C (containers removed, the run marked interrupted) runs
    for them too. Only the first signal interrupts: one arriving during the cleanup is noted and
    ignored, so the cleanup finishes."""

    def interrupt(signum: int, frame: Any) -> None:
        first = not _received
        _received.append(signum)
        if first:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def interrupted_code() -> int:
    """The exit code after an interrupt: 130 for Ctrl-C, 128 + N for signal N (143, 129)."""
    return 128 + _received[0] if _received else EXIT_INTERRUPTED


def interruption() -> str:
    """``Ctrl-C``, ``SIGTERM`` or ``SIGHUP``: what interrupted the command."""
    return signal.Signals(_received[0]).name if _received else "Ctrl-C"
