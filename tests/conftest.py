"""Tests that need Docker use the real engine, never a mock (fixtures shared by every package).

Without an engine they skip, unless ``POLICYFORGE_REQUIRE_DOCKER=1`` (set by CI), where a missing
engine fails them: CI must prove the Docker sandbox, not quietly skip it.
"""

from __future__ import annotations

import os

import pytest

from sandbox.daemon import engine_answers

REQUIRE_DOCKER = os.environ.get("POLICYFORGE_REQUIRE_DOCKER") == "1"
_ANSWERS = engine_answers()


def _docker_or_skip() -> None:
    if _ANSWERS:
        return
    if REQUIRE_DOCKER:
        pytest.fail(
            "POLICYFORGE_REQUIRE_DOCKER=1 but no Docker engine answers; run "
            "`policyforge sandbox up` first",
            pytrace=False,
        )
    pytest.skip("no Docker engine answers (run `policyforge sandbox up`; CI sets "
                "POLICYFORGE_REQUIRE_DOCKER=1 to make this a failure)")


docker_required = pytest.mark.usefixtures("docker_engine")


@pytest.fixture
def docker_engine() -> None:
    """Skip (or fail under POLICYFORGE_REQUIRE_DOCKER=1) when no engine answers."""
    _docker_or_skip()


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The up-to-date sandbox image (built here if this checkout changed since the last build)."""
    _docker_or_skip()
    from sandbox.image import build_image

    return build_image().image_id
