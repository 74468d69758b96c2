"""Review on a real run: the heuristic run in Docker, reviewed in the terminal and as HTML in
headless Chromium; the policy the report shows, exported, gives in `policyforge simulate` the
score the report claims. No API key set in the environment shows anywhere."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys

import pytest

from agents.review.browser import dump_dom
from tests.agents.review.test_browser import COLLECTOR, chromium  # noqa: F401 - fixture
from tests.sandbox.helpers import ROOT

KEY = "sk-review-canary-abcdef0123456789abcd"


def policyforge(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policyforge", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "OPENAI_API_KEY": KEY})


@pytest.mark.usefixtures("sandbox_image", "chromium")
def test_the_report_of_a_heuristic_run_claims_what_the_exported_policy_scores(tmp_path):
    from simulator.params import params_to_toml
    from traces.suites import get_suite

    runs = tmp_path / "runs"
    proc = policyforge("run", "--model", "heuristic", "--suite", "small", "--sandbox", "docker",
                       "--max-iterations", "4", "--runs-dir", str(runs))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [run_dir] = list(runs.iterdir())

    terminal = policyforge("review", str(run_dir))
    assert terminal.returncode == 0, terminal.stderr
    assert "Timeline" in terminal.stdout and "critic accepts candidate" in terminal.stdout
    listed = policyforge("runs", "list", "--runs-dir", str(runs))
    assert run_dir.name in listed.stdout

    report = json.loads(policyforge("review", str(run_dir), "--json").stdout)
    best = report["best_candidate"]
    claimed = next(c["score"] for c in report["candidates"] if c["candidate"] == best)

    html = tmp_path / "report.html"
    proc = policyforge("review", str(run_dir), "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    page = html.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + COLLECTOR, 1))
    seen = dump_dom(probe)
    assert seen.errors == [], seen.errors
    for name in ("score", "cost", "latency", "utilisation"):
        svg = re.search(rf'<svg [^>]*data-chart="{name}".*?</svg>', seen.dom, re.S)
        assert svg and "<path" in svg.group(0), name
    # The accepted policy's code and the whole transcript (collapsible) are in the page.
    assert re.search(rf"POLICY_KEY = (&#x27;|&#39;|'|&apos;)candidate_{best}", seen.dom)
    assert "knobs chosen by the heuristic proposer" in seen.dom
    assert seen.dom.count("<details") >= 5
    assert "run_finished" in seen.dom

    exported = tmp_path / "best.py"
    proc = policyforge("export", str(run_dir), str(exported))
    assert proc.returncode == 0, proc.stderr
    done = []
    for case in get_suite("small").search_cases():
        params = tmp_path / f"{case.name}.toml"
        params.write_text(params_to_toml(dict(case.params)))
        sim = policyforge("simulate", str(params), "-w", str(case.trace_path), "--policy",
                          str(exported), "--json")
        assert sim.returncode == 0, sim.stderr
        done.append(json.loads(sim.stdout)["pipelines_all"]["completion_count"])
    assert statistics.median(done) == claimed

    for text in (terminal.stdout, listed.stdout, page, json.dumps(report)):
        assert KEY not in text
