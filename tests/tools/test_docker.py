"""The tools through the Docker sandbox backend (the default where an engine answers)."""

from __future__ import annotations

import pytest

from agents.objective import suite_objective
from sandbox.backend import default_limits
from tools import build_tools
from tools.context import ToolContext


@pytest.mark.usefixtures("sandbox_image")
def test_run_simulation_and_profile_run_through_docker(good_policy: str) -> None:
    from sandbox.docker_backend import DockerBackend

    ctx = ToolContext("small", DockerBackend(), default_limits(120.0), suite_objective("small"))
    run, profile = build_tools(ctx, ["run_simulation", "profile_run"])
    answer = run.invoke({"code": good_policy, "traces": ["seed1"]})
    assert answer.startswith("status: ok, 1 of 1 trace(s) verified (sandbox: docker)"), answer
    assert "vs priority: 1 win(s)" in answer
    profiled = profile.invoke({"code": good_policy})
    assert profiled.startswith("profile of your code on seed1:"), profiled
