"""The HTML report: one self-contained file, four charts with data, escaped model output."""

from __future__ import annotations

import re
from pathlib import Path

from agents.review.html import render_html
from agents.review.rundir import load_run

CHARTS = ("score", "cost", "latency", "utilisation")


def chart(page: str, name: str) -> str:
    """The ``<svg data-chart=name>`` element of a page."""
    match = re.search(rf'<svg [^>]*data-chart="{name}".*?</svg>', page, re.S)
    assert match, f"no {name} chart"
    return match.group(0)


def test_report_has_four_charts_with_drawn_paths(runs_dir: Path) -> None:
    page = render_html(load_run(runs_dir / "20261124-153012-ab12cd"))
    for name in CHARTS:
        svg = chart(page, name)
        paths = re.findall(r'<path d="([^"]+)"', svg)
        assert len(paths) > 5 and all(len(d) > 3 for d in paths), name
    assert chart(page, "utilisation").count("<title>candidate 3</title>") == 2
    assert chart(page, "utilisation").count("<title>baseline</title>") == 2
    assert "candidate 3 p99" in chart(page, "latency")
    assert "baseline (priority)" in chart(page, "score") and "bound" in chart(page, "score")


def test_report_is_self_contained(runs_dir: Path) -> None:
    page = render_html(load_run(runs_dir / "20261124-153012-ab12cd"))
    assert not re.search(r'(src|href)=["\']?(https?:)?//', page)
    assert "@import" not in page and "url(" not in page
    assert "<style>" in page and "<script>" in page


def test_report_shows_transcript_and_accepted_policy_with_diff(runs_dir: Path) -> None:
    view = load_run(runs_dir / "20261124-153012-ab12cd")
    page = render_html(view)
    assert page.count('<details class="event') == len(view.events)
    assert "Accepted policy: candidate 3" in page
    assert "QUEUE_ORDER = &#x27;priority_shortest&#x27;" in page
    assert '<span class="add">+QUEUE_ORDER = &#x27;priority_shortest&#x27;</span>' in page


def test_model_output_is_escaped(killed_run: Path) -> None:
    page = render_html(load_run(killed_run))
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)" in page
    assert "<b>verdict</b>" not in page and "&lt;b&gt;verdict&lt;/b&gt;" in page
    assert page.count("<script>") == 1  # only the report's own
    assert "last line is incomplete" in page
