"""``policyforge runs list`` and ``policyforge review RUN`` (terminal, ``--json``, ``--html``).

Start-up stays lean: only argparse and the standard library load here; pydantic, rich and the
simulator load when a command runs. Everything printed or written is scrubbed of the values of
secret environment variables (names ending in _KEY, _TOKEN, _SECRET, _PASSWORD, and each
model's ``api_key_env``).

Exit codes: 0 success; 2 unknown run, unreadable run directory or bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from policyforge.console import parse_args, print_error
from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_OK


def runs_main(argv: list[str]) -> int:
    """``policyforge runs list [--runs-dir DIR] [--json]``."""
    parser = argparse.ArgumentParser(prog="policyforge runs", description="List runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="one line per run in --runs-dir")
    listing.add_argument("--runs-dir", default="runs", help="folder of runs (default ./runs)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    from agents.review.rundir import list_runs, secret_env_names, secret_values

    rows = list_runs(args.runs_dir)
    secrets = secret_values(secret_env_names([r.run.models for r in rows if r.run]))
    if args.json:
        from agents.review.json_report import runs_document, to_json

        return _emit(to_json(runs_document(rows)), secrets)
    if not rows:
        where = Path(args.runs_dir)
        print(f"no runs in {where}{'' if where.is_dir() else ' (no such folder)'}",
              file=sys.stderr)
        return EXIT_OK
    from agents.review.terminal import render_runs_table

    color, width = _terminal()
    return _emit(render_runs_table(rows, color=color, width=width), secrets)


def review_main(argv: list[str]) -> int:
    """``policyforge review RUN [--runs-dir DIR] [--json | --html OUT.html] [--diff A B]``."""
    parser = argparse.ArgumentParser(
        prog="policyforge review",
        description="Review a run: header, timeline, candidates, critic's reasons, diffs, costs.",
    )
    parser.add_argument("run", metavar="RUN", help="a run id (looked up in --runs-dir) or the "
                        "path of a run's folder")
    parser.add_argument("--runs-dir", default="runs", help="folder of runs (default ./runs)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the review as one JSON object")
    out.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML report")
    parser.add_argument("--diff", nargs=2, type=int, metavar=("A", "B"),
                        help="show only the diff from candidate A's policy to B's")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    from agents.review.rundir import ReviewError, find_run, load_run, scrubbed_view

    try:
        view = load_run(find_run(args.run, args.runs_dir))
        if args.diff:
            view.candidate(args.diff[0]), view.candidate(args.diff[1])
    except ReviewError as exc:
        return print_error(exc, EXIT_BAD_INPUT, prefix="policyforge review")
    secrets, view = scrubbed_view(view)
    for warning in view.warnings:
        print(f"policyforge review: warning: {warning}", file=sys.stderr)
    if args.html:
        return _write_html(view, Path(args.html), secrets)
    if args.json:
        from agents.review.json_report import review_document, to_json

        return _emit(to_json(review_document(view)), secrets)
    from agents.review.terminal import render_terminal

    color, width = _terminal()
    text = render_terminal(view, color=color, width=width,
                           diff=tuple(args.diff) if args.diff else None)  # type: ignore[arg-type]
    return _emit(text, secrets)


# --- helpers -----------------------------------------------------------------------------------


def _terminal() -> tuple[bool, int]:
    """(colour, width): colour only on a terminal that has not asked for none."""
    import shutil

    tty = sys.stdout.isatty()
    color = tty and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((120, 40)).columns if tty else int(
        os.environ.get("COLUMNS") or 160)
    return color, max(60, width)


def _emit(text: str, secrets: list[str]) -> int:
    from agents.review.rundir import scrub_text

    sys.stdout.write(scrub_text(text, secrets))
    sys.stdout.flush()
    return EXIT_OK


def _write_html(view: Any, path: Path, secrets: list[str]) -> int:
    from agents.review.html import render_html
    from agents.review.rundir import scrub_text

    page = scrub_text(render_html(view), secrets)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        print(f"policyforge review: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {path} ({len(page.encode('utf-8')) // 1024} KiB)")
    return EXIT_OK
