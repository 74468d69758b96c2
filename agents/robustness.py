"""The reviewer's robustness probe: an accepted policy must not crash where the suite is kind.

The cases are the ``run_probe`` tool's (`tools.run_probe.STRESS`): an OOM storm, many tiny pools
and multi-operator containers, so a coder can run before submitting exactly what the reviewer
runs. A candidate that raises, returns garbage or over-allocates there is sent back to the coder
with the error. The probe runs in the sandbox like any evaluation.
"""

from __future__ import annotations

from typing import Any

from tools.run_probe import probe_report, problems


def probe(source: str, backend: Any, limits: Any) -> list[str]:
    """Problems of ``source`` on the stress cases (empty when it runs them all cleanly)."""
    return problems(probe_report(source, backend, limits))
