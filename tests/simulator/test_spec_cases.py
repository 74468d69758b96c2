"""Hand-derived regression cases from the clean-room spec (tests/fixtures/spec_cases/).

Each case's expected.json was worked out tick by tick from eudoxia-spec.md, never by running an
engine; its DERIVATION.md shows the arithmetic. Only the keys present in expected.json are
compared (partial dicts are allowed). A case whose expected.json is
``{"error_contains": "..."}`` must end the run with a ``SimulatorError`` carrying that message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

CASES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "spec_cases"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "expected.json").is_file())
REL_TOL = 1e-9


def _mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Differences between expected and actual, comparing only keys present in expected."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '<root>'}: expected a dict, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            where = f"{path}.{key}" if path else key
            if key not in actual:
                problems.append(f"{where}: missing")
            else:
                problems.extend(_mismatches(value, actual[key], where))
        return problems
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        e, a = float(expected), float(actual)
        if math.isnan(e) and math.isnan(a):
            return []
        if math.isnan(e) or math.isnan(a) or not math.isclose(e, a, rel_tol=REL_TOL):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return []
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def _run(case: Path) -> Any:
    from simulator import simulate

    policy = case / "policy.py"
    return simulate(
        str(case / "params.toml"),
        trace=str(case / "trace.csv"),
        policy=str(policy) if policy.is_file() else None,
    )


def test_spec_cases_exist() -> None:
    """The suite is not silently empty."""
    assert len(CASES) >= 16


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_spec_case_matches_hand_derived_statistics(case: Path) -> None:
    """Statistics (or the error) match the numbers derived by hand from the spec."""
    from simulator.errors import SimulatorError

    expected = json.loads((case / "expected.json").read_text())
    if "error_contains" in expected:
        with pytest.raises(SimulatorError) as info:
            _run(case)
        assert expected["error_contains"] in str(info.value)
        return
    problems = _mismatches(expected, _run(case).to_dict())
    assert not problems, f"{case.name} (see DERIVATION.md):\n  " + "\n  ".join(problems)
