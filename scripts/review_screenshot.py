"""Refresh docs/review-report.png: the HTML report of a run, rendered by headless Chromium.

    .venv/bin/python scripts/review_screenshot.py [RUN_DIR] [--out docs/review-report.png]

Without RUN_DIR it builds a run directory with the review tests' factory (real heuristic
candidates on the small suite, a scripted transcript) in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Render RUN_DIR (or a factory run) to HTML and save the top of the page as a PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "review-report.png")
    parser.add_argument("--height", type=int, default=1700)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from agents.review.browser import screenshot
    from agents.review.html import render_html
    from agents.review.rundir import load_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir
        if run_dir is None:
            from tests.agents.review.rundir_factory import write_run

            run_dir = write_run(Path(tmp) / "runs")
        page = Path(tmp) / "report.html"
        page.write_text(render_html(load_run(run_dir)), encoding="utf-8")
        screenshot(page, args.out, width=1280, height=args.height)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
