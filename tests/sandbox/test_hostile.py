"""The hostile corpus (tests/sandbox/hostile/): each policy attacks the sandbox, with static
checks bypassed so the sandbox itself is what stops it. Each file's first line names the
outcomes it may end with. Every run must end within its limit, leak no host secret (an
environment variable and a file, both canaries), never yield a score the host did not verify,
and leave no container behind. The local backend runs the subset it is meant to contain.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import docker
import pytest

from sandbox.backend import Limits
from sandbox.docker_runner import LABEL, DockerBackend
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy
from sandbox.local_runner import LocalBackend
from tests.sandbox.helpers import HOSTILE, small_case

POLICIES = sorted(HOSTILE.glob("*.py"))
LIMITS = Limits(timeout_seconds=4, memory_mb=512, cpus=2, pids=64,
                output_bytes=16 * 1024 * 1024)
CANARY_FILE = Path("/tmp/policyforge-canary.txt")
LOOPBACK_PORT = 47613  # the port open_socket.py tries
# What the local backend does not contain (documented as weaker): process count as root, and
# files the user can read.
LOCAL_SKIP = {"fork_bomb", "read_files"}


def expected(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: STATUS ...'"
    return set(first.removeprefix("# expect: ").split())


@pytest.fixture
def canaries(monkeypatch, tmp_path):
    secret = f"pf-canary-{os.urandom(8).hex()}"
    monkeypatch.setenv("POLICYFORGE_CANARY", secret)
    CANARY_FILE.write_text(secret)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", LOOPBACK_PORT))
    listener.listen()
    listener.setblocking(False)
    yield secret, listener
    listener.close()
    CANARY_FILE.unlink(missing_ok=True)


def run_hostile(path: Path, backend, canaries) -> None:
    secret, listener = canaries
    c = small_case()
    cases = [CaseInput(c["name"], c["params"], c["trace_csv_text"])]
    t0 = time.monotonic()
    report = evaluate_policy(PolicyInput(path.name, path.read_text(), path.name), cases, backend,
                             LIMITS, static_checks=False)
    elapsed = time.monotonic() - t0
    text = report.to_json()
    assert report.status in expected(path), f"{path.name}: {report.status}: {report.reason}"
    assert elapsed < LIMITS.timeout_seconds + 5, f"{path.name} took {elapsed:.1f} s"
    assert secret not in text
    assert not any(t.stats for t in report.traces if not t.verified)
    if report.status != "ok":
        assert report.aggregate == {} or all(v is None for v in report.aggregate.values()) \
            or report.verification.verified > 0
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing reached the host's loopback
    json.loads(text)


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_docker_contains_hostile_policy(path, canaries):
    run_hostile(path, DockerBackend(), canaries)
    left = docker.from_env().containers.list(all=True, filters={"label": f"{LABEL}=1"})
    assert left == []


@pytest.mark.parametrize("path", [p for p in POLICIES if p.stem not in LOCAL_SKIP],
                         ids=[p.stem for p in POLICIES if p.stem not in LOCAL_SKIP])
def test_local_backend_contains_hostile_policy(path, canaries):
    run_hostile(path, LocalBackend(warn=False), canaries)


def test_static_checks_reject_most_of_the_corpus_before_anything_runs():
    from sandbox.static_checks import check_policy_source

    rejected = [p.stem for p in POLICIES if not check_policy_source(p.read_text(), p.name).ok]
    assert {"env_canary", "fork_bomb", "open_socket", "tamper_stats", "forge_result"} <= set(
        rejected)
