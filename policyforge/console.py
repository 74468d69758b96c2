"""How every command talks to the person: argument parsing, the one error printer, JSON output.

Only the standard library loads here, so every command starts lean.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from policyforge.exit_codes import EXIT_BAD_INPUT


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code when argparse stopped (``--help``: 0, usage: 2)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed the help or the usage error
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT


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
        print(json.dumps({"error": payload}))
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
