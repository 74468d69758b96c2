"""Fixtures: complete run directories written by `rundir_factory`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.review.rundir_factory import RunSpec, write_run

CANARY = "sk-canary-7f3a9c2e41d8b6"
PLANTED = f" (debug: my key is {CANARY}) <script>alert('x')</script>"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A runs folder with one finished, accepted run (three real candidates)."""
    root = tmp_path / "runs"
    write_run(root)
    return root


@pytest.fixture
def killed_run(tmp_path: Path) -> Path:
    """An interrupted run whose transcript's last line was cut in half, with a planted key."""
    return write_run(tmp_path / "runs", RunSpec(
        run_id="20261125-101010-ffffff", status="interrupted", stop_reason="interrupted",
        accept_last=False, truncate_last_line=True, planted_message=PLANTED))
