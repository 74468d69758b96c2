"""The engine probe answers quickly and truthfully, and `ensure_engine` leaves a running engine
alone (the start path is exercised by `policyforge sandbox up` on a machine without one)."""

from __future__ import annotations

import time

import pytest

from sandbox.daemon import engine_answers, ensure_engine
from sandbox.errors import EngineUnavailable
from tests.conftest import docker_required


def test_engine_answers_is_false_fast_for_an_address_with_no_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/policyforge/docker.sock")
    t0 = time.monotonic()
    assert engine_answers(timeout=1.0) is False
    assert time.monotonic() - t0 < 5


def test_docker_client_error_says_what_to_run(monkeypatch):
    from sandbox.daemon import docker_client

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/policyforge/docker.sock")
    with pytest.raises(EngineUnavailable, match="policyforge sandbox up"):
        docker_client(timeout=1.0)


@docker_required
def test_ensure_engine_leaves_a_running_engine_alone():
    status = ensure_engine()
    assert status.answering and not status.started and not status.installed
