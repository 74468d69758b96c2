"""The command line's golden snapshots: every subcommand's ``--help``, exit codes with their
stderr, and the shapes of its JSON outputs.

The front door must not change by accident while the code behind it is rearranged: the snapshot
files under ``tests/frontend/golden/`` are compared byte for byte by ``test_golden.py``. After an
intended change, regenerate them and name the change in the commit:

    .venv/bin/python -m tests.frontend.golden --write
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURE = ROOT / "tests" / "fixtures" / "eudoxia" / "naive_defaults_10m"

# Every subcommand, with its nested commands: `policyforge <words> --help`.
HELP_COMMANDS: list[list[str]] = [
    [], ["simulate"], ["params"], ["params", "init"], ["policies"], ["policies", "list"],
    ["traces"], ["traces", "generate"], ["traces", "suites"], ["traces", "suites", "add"],
    ["traces", "suites", "remove"], ["traces", "profile"],
    ["traces", "bounds"], ["sandbox"], ["evaluate"], ["run"], ["chat"], ["runs"],
    ["runs", "list"], ["review"], ["export"],
]

OVERALLOCATE = """\
@register_scheduler_init(key="greedy")
def init(s):
    pass

@register_scheduler(key="greedy")
def greedy(s, results, pipelines):
    out = []
    for p in pipelines:
        ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=True)[:1]
        out.append(Assignment(ops, 10**6, 1, p.priority, 0, p.pipeline_id))
    return [], out
"""


def entry_point() -> list[str]:
    """``python -c`` arguments that call the console script named in pyproject.toml."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["policyforge"].split(":")
    return ["-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


def run(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None
        ) -> tuple[int, str, str]:
    """One ``policyforge ARGS`` in a child process: (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"COLUMNS": "100", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}, **(extra_env or {}))
    proc = subprocess.run([sys.executable, *entry_point(), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def exit_cases(tmp: Path) -> dict[str, list[str]]:
    """Invocations whose exit code and stderr are pinned, by a stable name."""
    params = str(FIXTURE / "params.toml")
    trace = str(FIXTURE / "trace.csv")
    (tmp / "existing.toml").write_text("duration = 1\n")
    (tmp / "greedy.py").write_text(OVERALLOCATE)
    (tmp / "runs").mkdir(exist_ok=True)
    return {
        "no-command": [],
        "unknown-command": ["frobnicate"],
        "simulate-missing-arg": ["simulate"],
        "simulate-missing-file": ["simulate", "missing.toml"],
        "simulate-ok": ["simulate", params, "-w", trace, "--policy", "naive"],
        "simulate-policy-mistake": ["simulate", params, "-w", trace, "--policy", "greedy.py"],
        "simulate-replay-and-policy": ["simulate", params, "--replay", "x.jsonl",
                                       "--policy", "naive"],
        "params-init-exists": ["params", "init", "existing.toml"],
        "params-no-command": ["params"],
        "policies-list": ["policies", "list"],
        "policies-list-missing": ["policies", "list", "missing.py"],
        "traces-no-command": ["traces"],
        "traces-unknown": ["traces", "bogus"],
        "traces-generate-exists": ["traces", "generate", params, "existing.toml"],
        "traces-suites-unknown": ["traces", "suites", "huge"],
        "traces-bounds-missing": ["traces", "bounds", "missing.csv", params],
        "traces-profile-missing": ["traces", "profile", "missing.csv"],
        "sandbox-no-command": ["sandbox"],
        "evaluate-no-args": ["evaluate"],
        "evaluate-unknown-suite": ["evaluate", "--policy", "naive", "--suite", "huge"],
        "evaluate-bad-timeout": ["evaluate", "--policy", "naive", "--suite", "small",
                                 "--timeout", "0"],
        "run-no-model": ["run", "--runs-dir", "runs"],
        "run-unknown-suite": ["run", "--model", "heuristic", "--suite", "huge",
                              "--runs-dir", "runs"],
        "run-bad-iterations": ["run", "--model", "heuristic", "--max-iterations", "0"],
        "run-resume-unknown": ["run", "--resume", "nope", "--runs-dir", "runs"],
        "chat-bad-flag": ["chat", "--bogus"],
        "runs-no-command": ["runs"],
        "runs-list-empty": ["runs", "list", "--runs-dir", "runs"],
        "review-unknown": ["review", "nope", "--runs-dir", "runs"],
        "export-unknown": ["export", "nope", "out.py", "--runs-dir", "runs"],
    }


def json_cases() -> dict[str, list[str]]:
    """Invocations whose JSON output's shape is pinned."""
    params = str(FIXTURE / "params.toml")
    trace = str(FIXTURE / "trace.csv")
    return {
        "simulate": ["simulate", params, "-w", trace, "--policy", "priority", "--json"],
        "simulate-error": ["simulate", params, "-w", trace, "--policy", "greedy.py", "--json"],
        "traces-suites": ["traces", "suites", "--json"],
        "traces-suites-small": ["traces", "suites", "small", "--json"],
        "traces-bounds": ["traces", "bounds", trace, params, "--json"],
        "traces-bounds-policy": ["traces", "bounds", trace, params, "--policy", "naive",
                                 "--json"],
        "traces-profile": ["traces", "profile", trace, "--params", params, "--json"],
        "evaluate-unknown-suite": ["evaluate", "--policy", "naive", "--suite", "huge", "--json"],
        "evaluate-local": ["evaluate", "--policy", "naive", "--suite", "small", "--sandbox",
                           "local", "--json"],
        "runs-list-empty": ["runs", "list", "--runs-dir", "runs", "--json"],
        "runs-list": ["runs", "list", "--runs-dir", "made", "--json"],
        "review": ["review", "run-made", "--runs-dir", "made", "--json"],
    }


def shape(value: Any, depth: int = 0) -> Any:
    """The structure of a JSON value: keys and value kinds, not values (lists: their items'
    shapes merged). Dicts keyed by data (trace names, pipeline ids) are summarised."""
    if isinstance(value, dict):
        if depth > 0 and value and all(re.fullmatch(r"p?\d+|[\w.-]*seed[\w.-]*|\w+-\d+\w*", k)
                                       for k in value):
            return {"<key>": _merge([shape(v, depth + 1) for v in value.values()])}
        return {k: shape(v, depth + 1) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_merge([shape(v, depth + 1) for v in value])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def _merge(shapes: list[Any]) -> Any:
    if not shapes:
        return "empty"
    if all(isinstance(s, dict) for s in shapes):
        keys = sorted({k for s in shapes for k in s})
        return {k: _merge([s[k] for s in shapes if k in s]) for k in keys}
    kinds = sorted({json.dumps(s, sort_keys=True) for s in shapes})
    return json.loads(kinds[0]) if len(kinds) == 1 else "|".join(kinds)


def _normalise(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>").replace(str(ROOT), "<ROOT>")
    # what a start reaps depends on what other processes left behind, not on the command
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(("note: removed", "note: cleaned up")))
    return re.sub(r"\d+\.\d+ s\b", "<S> s", text)


def _parse_json(stdout: str) -> Any:
    return json.loads(stdout, parse_constant=lambda name: 0.0)


def snapshot() -> dict[str, str]:
    """Every golden file's content, by its name."""
    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = {"POLICYFORGE_CACHE_DIR": str(tmp / "cache"),
               "POLICYFORGE_DATA_DIR": str(tmp / "data")}
        exits = exit_cases(tmp)
        from tests.agents.review.rundir_factory import RunSpec, write_run

        write_run(tmp / "made", RunSpec(run_id="run-made"))
        jsons = json_cases()
        jobs = ([("help", " ".join(c) or "policyforge", [*c, "--help"]) for c in HELP_COMMANDS]
                + [("exit", k, v) for k, v in exits.items()]
                + [("json", k, v) for k, v in jsons.items()])
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda job: run(job[2], tmp, env), jobs))
        codes: dict[str, Any] = {}
        shapes: dict[str, Any] = {}
        for (kind, key, args), (code, out, err) in zip(jobs, results, strict=True):
            if kind == "help":
                files[f"help/{key.replace(' ', '_')}.txt"] = f"exit {code}\n{out}{err}"
            elif kind == "exit":
                codes[key] = {"argv": args, "exit": code,
                              "stderr": _normalise(err, tmp).splitlines()[:6]}
            else:
                shapes[key] = {"argv": args, "exit": code, "shape": shape(_parse_json(out))}
        files["exit_codes.json"] = json.dumps(_normalise_tree(codes, tmp), indent=1) + "\n"
        files["json_shapes.json"] = json.dumps(_normalise_tree(shapes, tmp), indent=1) + "\n"
    return files


def _normalise_tree(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return _normalise(value, tmp)
    if isinstance(value, list):
        return [_normalise_tree(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: _normalise_tree(v, tmp) for k, v in value.items()}
    return value


def write() -> None:
    """Regenerate the golden files from the current command line."""
    for rel, text in snapshot().items():
        path = GOLDEN / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        print("usage: python -m tests.frontend.golden --write", file=sys.stderr)
        raise SystemExit(2)
    write()
