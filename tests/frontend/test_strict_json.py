"""Every ``--json`` output of the command line is strict JSON (RFC 8259): a strict parser that
refuses ``NaN`` and ``Infinity`` reads it, on every built-in suite and for a failing policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.frontend.golden import FIXTURE, OVERALLOCATE, ROOT
from traces.suites import SUITES, get_suite


def strict_loads(text: str) -> Any:
    """`json.loads` that refuses what strict parsers (JavaScript's JSON.parse, jq) refuse."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def policyforge(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "policyforge", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_strict_parser_refuses_what_python_writes_by_default() -> None:
    with pytest.raises(ValueError, match="NaN"):
        strict_loads(json.dumps({"x": float("nan")}))


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_simulate_and_traces_json_on_every_suite_parse_strictly(suite: str) -> None:
    case = get_suite(suite).search_cases()[0]
    params = case.trace_path.with_suffix(".toml")  # the suite cache keeps the case's params there
    for policy in ("naive", "priority"):
        run = policyforge("simulate", params, "-w", case.trace_path, "--policy",
                          policy, "--json")
        assert run.returncode == 0, run.stderr
        strict_loads(run.stdout)
    for args in (("traces", "bounds", case.trace_path, params, "--policy", "naive",
                  "--json"),
                 ("traces", "profile", case.trace_path, "--params", params, "--json"),
                 ("traces", "suites", suite, "--json")):
        run = policyforge(*args)
        assert run.returncode == 0, run.stderr
        strict_loads(run.stdout)


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_evaluate_json_on_every_suite_parses_strictly(suite: str) -> None:
    run = policyforge("evaluate", "--policy", "naive", "--suite", suite, "--json")
    assert run.returncode in (0, 1), run.stderr
    report = strict_loads(run.stdout)
    assert report["suite"] == suite and report["traces"]


@pytest.mark.usefixtures("sandbox_image")
def test_a_failing_policy_gives_strict_json_too(tmp_path: Path) -> None:
    policy = tmp_path / "greedy.py"
    policy.write_text(OVERALLOCATE)
    run = policyforge("simulate", FIXTURE / "params.toml", "-w", FIXTURE / "trace.csv",
                      "--policy", policy, "--json")
    assert run.returncode == 1
    assert strict_loads(run.stdout)["error"]["message"].startswith("Overallocated CPU")
    run = policyforge("evaluate", "--policy", policy, "--suite", "small", "--json")
    assert run.returncode == 1
    assert strict_loads(run.stdout)["status"] in ("failed", "rejected")
