"""The HTML report in headless Chromium: its script runs without errors, charts and text render.

Required in CI (``POLICYFORGE_REQUIRE_DOCKER=1`` or ``POLICYFORGE_REQUIRE_BROWSER=1``): there a
missing Chromium fails the test instead of skipping it. ``setup.sh`` installs Chromium as root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agents.review.browser import dump_dom, find_chromium, screenshot
from agents.review.html import render_html
from agents.review.rundir import load_run

REQUIRED = "1" in (os.environ.get("POLICYFORGE_REQUIRE_BROWSER"),
                   os.environ.get("POLICYFORGE_REQUIRE_DOCKER"))
# The collector runs before the report's own script and records what would reach the console.
COLLECTOR = ("<script>window.__errors=[];window.addEventListener('error',function(e){"
             "window.__errors.push(String(e.message));document.documentElement.setAttribute("
             "'data-js-errors',window.__errors.join(' | '));});</script>")


@pytest.fixture
def chromium() -> str:
    """Chromium's path; a failure under CI, a skip elsewhere."""
    path = find_chromium()
    if path is None:
        message = "chromium is not installed (run setup.sh as root: it installs Debian's chromium)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_report_renders_in_headless_chromium_without_errors(
        chromium: str, killed_run: Path, tmp_path: Path) -> None:
    page = render_html(load_run(killed_run)).replace("<head>", "<head>" + COLLECTOR, 1)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    seen = dump_dom(path)
    assert seen.errors == [], seen.errors
    assert not re.search(r"<html[^>]*data-js-errors", seen.dom)
    ready = re.search(r'data-report-ready="(\d+)"', seen.dom)  # set by the report's script
    assert ready and int(ready.group(1)) > 20
    for name in ("score", "cost", "latency", "utilisation"):
        svg = re.search(rf'<svg [^>]*data-chart="{name}".*?</svg>', seen.dom, re.S)
        assert svg, name
        assert re.search(r'<path d="M[\d.]+,[\d.]+[LHVa][^"]+"', svg.group(0)), name
    assert "<summary>" in seen.dom and "critic rejects candidate 3" in seen.dom
    assert "RAM_HEADROOM = 1.05" in seen.dom
    assert "<script>alert" not in seen.dom  # escaped model output stays text


def test_a_script_error_in_the_page_is_detected(chromium: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.html"
    path.write_text(f"<html><head>{COLLECTOR}</head><body><script>noSuchFunction();</script>"
                    "</body></html>", encoding="utf-8")
    seen = dump_dom(path)
    assert any("noSuchFunction" in e for e in seen.errors)
    assert re.search(r'<html[^>]*data-js-errors="[^"]*noSuchFunction', seen.dom)


def test_report_screenshot_is_a_png(chromium: str, runs_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(load_run(runs_dir / "20261124-153012-ab12cd")), encoding="utf-8")
    png = screenshot(path, tmp_path / "shot.png", height=900)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
