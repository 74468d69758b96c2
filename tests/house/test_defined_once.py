"""One concept, one place: the names below are each defined exactly once in the six packages,
and the argparse ``SystemExit`` is caught in one place only."""

from __future__ import annotations

import ast

import pytest

from tests.house.imports import source_files

# name -> where it lives (the test also proves the definition is there)
ONCE = {
    "METRICS": "traces.metrics",  # the metric table
    "BOUND_KEYS": "traces.metrics",
    "metric_value": "traces.metrics",
    "best_baseline": "traces.metrics",
    "run_builtin": "traces.builtin_runs",  # the in-process baseline runner
    "print_error": "policyforge.console",  # the error-printing helper
    "parse_args": "policyforge.console",
    "EXIT_OK": "policyforge.exit_codes",  # the exit-code table
    "EXIT_FAILED": "policyforge.exit_codes",
    "EXIT_BAD_INPUT": "policyforge.exit_codes",
    "EXIT_NOT_ACCEPTED": "policyforge.exit_codes",
    "EXIT_INTERRUPTED": "policyforge.exit_codes",
    "stats_json": "simulator.engine",  # the statistics encoder (SimulationResult.stats_json)
    "PolicyforgeError": "simulator.errors",  # the root of the error tree
    "read_decision_log": "simulator.decision_log",
}


def _definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for module, path in source_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                found.setdefault(name, []).append(module)
    return found


@pytest.fixture(scope="module")
def definitions() -> dict[str, list[str]]:
    return _definitions()


@pytest.mark.parametrize("name", sorted(ONCE))
def test_defined_exactly_once(definitions: dict[str, list[str]], name: str) -> None:
    assert definitions.get(name) == [ONCE[name]]


def test_argparse_exits_are_caught_in_one_place() -> None:
    catching = []
    for module, path in source_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None \
                    and "SystemExit" in ast.unparse(node.type):
                catching.append(module)
    assert catching == ["policyforge.console"]


def test_every_error_is_in_the_one_tree() -> None:
    roots = []
    for module, path in source_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b) in ("Exception", "RuntimeError", "ValueError")
                    for b in node.bases):
                roots.append(f"{module}.{node.name}")
    # Eudoxia's own exception is part of the policy API, not ours
    assert sorted(roots) == ["simulator.errors.PolicyforgeError",
                             "simulator.workload.EudoxiaException"]


def test_the_profiler_sees_the_run_only_through_the_observer_interface() -> None:
    from tests.house.imports import ROOT

    tree = ast.parse((ROOT / "simulator" / "profile.py").read_text(encoding="utf-8"))
    private = sorted({ast.unparse(node) for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr.startswith("_")
                      and not node.attr.startswith("__")
                      and not (isinstance(node.value, ast.Name) and node.value.id == "self")})
    assert private == []
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "simulator.engine" not in imported
