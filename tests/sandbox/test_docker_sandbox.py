"""The Docker backend end to end, on the real engine: every restriction is on the container,
an honest batch verifies on the host, and no container outlives its batch."""

from __future__ import annotations

import time

import docker
import pytest

from sandbox.backend import Limits
from sandbox.docker_backend import DockerBackend, container_config
from sandbox.errors import ImageMissing
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy
from sandbox.reaper import LABEL, OWNER_HOST_LABEL, OWNER_LABEL, OWNER_START_LABEL, Owner
from tests.sandbox.helpers import own_sandbox_containers, small_case

pytestmark = pytest.mark.usefixtures("sandbox_image")


def cases(n: int = 3) -> list[CaseInput]:
    out = []
    for i in range(n):
        c = small_case(f"case{i}", pipelines=4 + i)
        out.append(CaseInput(c["name"], c["params"], c["trace_csv_text"]))
    return out


def test_the_container_is_created_with_every_restriction(sandbox_image):
    client = docker.from_env()
    limits = Limits(memory_mb=300, cpus=1.5, pids=40, tmpfs_mb=8)
    container = client.containers.create(**container_config(sandbox_image, limits, time.time()))
    try:
        attrs = client.api.inspect_container(container.id)
    finally:
        container.remove(force=True)
    host, config = attrs["HostConfig"], attrs["Config"]
    assert host["NetworkMode"] == "none" and config["NetworkDisabled"]
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert not host["Init"]  # the runner is pid 1: its policies can neither kill nor reach it
    assert host["Memory"] == host["MemorySwap"] == 300 * 1024 * 1024
    assert host["NanoCpus"] == 1_500_000_000 and host["PidsLimit"] == 40
    assert "size=8m" in host["Tmpfs"]["/tmp"] and "noexec" in host["Tmpfs"]["/tmp"]
    assert host["LogConfig"]["Type"] == "none" and host["IpcMode"] == "none"
    assert config["User"] == "65534:65534"
    assert not [e for e in config["Env"] or [] if not e.startswith("PATH=")]  # nothing from host
    me = Owner.of()
    assert config["Labels"][LABEL] == "1" and config["Labels"][OWNER_LABEL] == str(me.pid)
    assert config["Labels"][OWNER_START_LABEL] == str(me.start)
    assert config["Labels"][OWNER_HOST_LABEL] == me.host
    assert host["CpusetCpus"] == ""  # not pinned unless asked


def test_a_pinned_batch_runs_on_its_cpus(sandbox_image):
    client = docker.from_env()
    limits = Limits(cpus=1.0, cpuset="0")
    container = client.containers.create(**container_config(sandbox_image, limits, time.time()))
    try:
        assert client.api.inspect_container(container.id)["HostConfig"]["CpusetCpus"] == "0"
    finally:
        container.remove(force=True)


def test_an_honest_batch_is_verified_and_leaves_no_container():
    report = evaluate_policy(PolicyInput("priority", builtin="priority"), cases(),
                             DockerBackend(), Limits(timeout_seconds=60))
    assert report.status == "ok", report.reason
    assert report.verification.verified == report.verification.compared == 3
    assert report.verification.determinism == "same decisions"
    assert all(t.verified and t.stats for t in report.traces)
    assert report.aggregate["completed_pipelines"] is not None
    assert {"create", "start", "transfer_and_run", "remove", "host_replay"} <= set(
        report.sandbox.timings)
    assert own_sandbox_containers() == []


def test_the_host_kills_a_batch_at_its_wall_clock_limit():
    source = ("@register_scheduler_init(key='k')\ndef init(s):\n    pass\n\n"
              "@register_scheduler(key='k')\ndef f(s, r, p):\n    while True:\n        pass\n")
    limits = Limits(timeout_seconds=3)
    t0 = time.monotonic()
    report = evaluate_policy(PolicyInput("spin.py", source, "spin.py"), cases(1), DockerBackend(),
                             limits, static_checks=False)
    assert report.status == "timeout"
    assert time.monotonic() - t0 < limits.timeout_seconds + 3
    assert own_sandbox_containers() == []


def test_a_missing_image_fails_at_once_and_says_to_run_sandbox_up(monkeypatch):
    import sandbox.image

    monkeypatch.setattr(sandbox.image, "IMAGE", "policyforge-sandbox:never-built")
    with pytest.raises(ImageMissing, match="policyforge sandbox up"):
        sandbox.image.require_image(docker.from_env())


def _started(backend: DockerBackend) -> str:
    """The id of the container ``backend`` started for its next batch, once it is up."""
    held = backend._held[0]
    assert held is not None
    held.thread.join()  # it starts in the background
    return str(held.container.id)


def test_a_container_started_ahead_serves_exactly_one_batch_and_none_is_left():
    backend = DockerBackend(keep_spare=True)
    try:
        limits = Limits(timeout_seconds=60)
        policy = PolicyInput("priority", builtin="priority")
        first = evaluate_policy(policy, cases(2), backend, limits)
        assert first.status == "ok" and "prestart_wait" not in first.sandbox.timings
        waiting = _started(backend)  # the next batch's, started already
        assert [c["Id"] for c in own_sandbox_containers()] == [waiting]
        second = evaluate_policy(policy, cases(2), backend, limits)
        assert second.status == "ok", second.reason
        assert "prestart_wait" in second.sandbox.timings and "start" not in second.sandbox.timings
        assert second.verification.determinism == "same decisions"
        following = _started(backend)  # the one it served is gone, the next one is up
        assert following != waiting
        assert [c["Id"] for c in own_sandbox_containers()] == [following]
    finally:
        backend.close()
    assert own_sandbox_containers() == []


def test_a_started_container_with_other_limits_is_not_used_and_not_left():
    backend = DockerBackend()
    try:
        backend.prestart(Limits(timeout_seconds=60, memory_mb=512))
        report = evaluate_policy(PolicyInput("priority", builtin="priority"), cases(1), backend,
                                 Limits(timeout_seconds=60, memory_mb=1024))
        assert report.status == "ok" and "prestart_wait" not in report.sandbox.timings
    finally:
        backend.close()
    assert own_sandbox_containers() == []


def test_a_started_container_goes_with_its_backend():
    import gc

    backend = DockerBackend()
    backend.prestart(Limits(timeout_seconds=60))
    started = _started(backend)
    assert [c["Id"] for c in own_sandbox_containers()] == [started]
    del backend
    gc.collect()
    assert own_sandbox_containers() == []


def test_a_container_started_ahead_is_claimed_once_then_serves_its_batch():
    from sandbox.docker_backend import start_ahead

    limits = Limits(timeout_seconds=60)
    labels = {"policyforge.run": "ahead-test", "policyforge.candidate": "c1"}
    container_id, deadline = start_ahead(limits, labels)
    first, retry = DockerBackend(labels=labels), DockerBackend(labels=labels)
    assert first.adopt(container_id, limits, deadline)
    assert not retry.adopt(container_id, limits, deadline)  # a retried task starts its own
    report = evaluate_policy(PolicyInput("priority", builtin="priority"), cases(1), first, limits)
    assert report.status == "ok", report.reason
    assert "prestart_wait" in report.sandbox.timings
    assert report.verification.determinism == "same decisions"
    assert own_sandbox_containers() == []
