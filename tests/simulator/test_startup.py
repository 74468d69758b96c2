"""The CLI stays lean: simulator commands never import agent, sandbox, LLM or UI packages.

Checked by module name in a fresh interpreter, not by timing (machines are too noisy for that;
start-up time belongs in the benchmarks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulator.cli_process import ROOT, small_inputs

HEAVY = (
    "agents", "sandbox", "tools", "langgraph", "langchain", "langchain_openai", "docker", "rich",
    "typer", "pydantic", "matplotlib", "pandas",
)
MARKER = "--- modules loaded ---"


def modules_after(argv: list[str]) -> tuple[int, list[str]]:
    """Run ``policyforge.main.main(argv)`` in a fresh interpreter; its exit code and sys.modules."""
    script = (
        "import json, sys\n"
        "from policyforge.main import main\n"
        f"code = main({argv!r})\n"
        f"print({MARKER!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.split(MARKER + "\n", 1)[1]  # main printed its own output first
    code, modules = json.loads(tail)
    return code, modules


def heavy_in(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".", 1)[0] in HEAVY]


@pytest.mark.parametrize(
    "command", ["simulate", "simulate-file-policy", "policies-list", "traces-generate"]
)
def test_cli_command_imports_no_agent_sandbox_llm_or_ui_package(
    tmp_path: Path, command: str
) -> None:
    params, trace = small_inputs(tmp_path)
    policy = tmp_path / "policy.py"
    policy.write_text(
        '@register_scheduler_init(key="k")\ndef init(s):\n    pass\n\n'
        '@register_scheduler(key="k")\ndef k(s, results, pipelines):\n'
        "    return [], [Assignment(p.runtime_status().get_ops(ASSIGNABLE_STATES), 1, 1,\n"
        "                           p.priority, 0, p.pipeline_id) for p in pipelines]\n",
        encoding="utf-8",
    )
    argv = {
        "simulate": ["simulate", str(params), "-w", str(trace), "--json"],
        "simulate-file-policy": ["simulate", str(params), "-w", str(trace), "--policy",
                                 str(policy), "--json"],
        "policies-list": ["policies", "list"],
        "traces-generate": ["traces", "generate", str(params), str(tmp_path / "gen.csv")],
    }[command]
    code, modules = modules_after(argv)
    assert code == 0
    assert "policyforge.main" in modules  # the probe really saw the CLI's imports
    assert heavy_in(modules) == []
