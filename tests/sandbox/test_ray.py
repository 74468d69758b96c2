"""The Ray executor with a real Ray: an embedded local Ray, then a two-node cluster on this machine.

One session-scoped fixture each. A driver is connected to one Ray at a time, so whichever fixture
is set up closes the other first; the embedded tests come first in this file, the cluster's after.
Every evaluation runs in the real Docker sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest

from sandbox.backend import default_limits
from sandbox.evaluation import PolicyInput, suite_inputs
from sandbox.executor import EvaluationJob, RayExecutor, SerialExecutor
from tests.sandbox.candidate_policies import FIFO, PRIORITY_HEAP
from tests.sandbox.helpers import policy_text

_active: dict[str, RayExecutor] = {}


def _take_the_driver(name: str) -> None:
    for other, executor in list(_active.items()):
        if other != name:
            executor.close()
            del _active[other]


@pytest.fixture(scope="session")
def ray_local(sandbox_image: str) -> Iterator[RayExecutor]:
    """An embedded local Ray with 2 CPUs (what ``--workers 2`` starts)."""
    _take_the_driver("local")
    executor = RayExecutor("docker", workers=2, run_id="test-ray-local")
    _active["local"] = executor
    yield executor
    if _active.pop("local", None) is not None:
        executor.close()


@pytest.fixture(scope="session")
def ray_cluster(sandbox_image: str) -> Iterator[tuple[object, RayExecutor]]:
    """A two-node ``ray.cluster_utils.Cluster`` (1 CPU each) joined by address."""
    from ray.cluster_utils import Cluster

    _take_the_driver("cluster")
    node_args = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024,
                 "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node_args)
    cluster.add_node(**node_args)
    cluster.wait_for_nodes()
    executor = RayExecutor("docker", address=cluster.address, run_id="test-ray-cluster")
    _active["cluster"] = executor
    yield cluster, executor
    if _active.pop("cluster", None) is not None:
        executor.close()
    cluster.shutdown()


def _jobs(suite: str = "small", n_cases: int | None = None) -> list[EvaluationJob]:
    cases = tuple(suite_inputs(suite, "search")[:n_cases])
    policies = [PolicyInput("naive", builtin="naive"), PolicyInput("fifo file", source=FIFO),
                PolicyInput("heap file", source=PRIORITY_HEAP),
                PolicyInput("priority", builtin="priority")]
    return [EvaluationJob(key=f"c{i}", policy=p, cases=cases, limits=default_limits(120),
                          suite=suite, part="search") for i, p in enumerate(policies)]


def _scores(reports) -> list[str]:  # type: ignore[no-untyped-def]
    """What a report scores, as canonical JSON (NaN equals NaN as text)."""
    return [json.dumps(r.model_dump(mode="python", include={
        "policy", "status", "aggregate", "bound_fractions", "verification"}) | {
        "traces": [(t.name, t.stats, t.bounds) for t in r.traces]}, sort_keys=True, default=float)
        for r in reports]


@pytest.fixture(scope="module")
def serial_reports(sandbox_image: str):  # type: ignore[no-untyped-def]
    return SerialExecutor("docker").evaluate(_jobs())


def _containers(labels: dict[str, str]) -> list[object]:
    from sandbox.daemon import docker_client

    wanted = [f"{k}={v}" for k, v in labels.items()]
    # sparse: the listing's own data, no inspect per container (one removed meanwhile is a 404)
    return docker_client().containers.list(all=True, sparse=True, filters={"label": wanted})


def _wait_for_container(labels: dict[str, str], not_owner: str | None = None,
                        within: float = 60.0) -> str:
    """The owner pid (the Ray worker) of the first container with ``labels``."""
    from sandbox.docker_backend import OWNER_LABEL

    end = time.monotonic() + within
    while time.monotonic() < end:
        for c in _containers(labels):
            owner = (c.attrs.get("Labels") or {}).get(OWNER_LABEL)  # type: ignore[attr-defined]
            if owner and owner != not_owner:
                return owner
        time.sleep(0.05)
    raise AssertionError(f"no container with {labels} appeared within {within} s")


def test_embedded_ray_gives_the_same_reports_as_serial_in_job_order(ray_local, serial_reports):
    from tests.sandbox.helpers import own_sandbox_containers

    reports = ray_local.evaluate(_jobs())
    assert [r.status for r in reports] == ["ok"] * 4
    assert _scores(reports) == _scores(serial_reports)
    # two at once: the third and fourth tasks took containers the driver started ahead
    assert ["prestart_wait" in r.sandbox.timings for r in reports] == [False, False, True, True]
    assert own_sandbox_containers() == []


def test_a_task_past_its_deadline_is_cancelled_and_leaves_no_container(ray_local):
    # The sandbox's own limit is 60 s; the driver's cancel comes 55 s before it, as it would for a
    # task hung after its sandbox deadline: the forced cancel kills the worker mid-run, and the
    # container it was running is removed by label.
    executor = RayExecutor.__new__(RayExecutor)
    executor.__dict__.update(ray_local.__dict__, cancel_margin=-55.0)
    job = EvaluationJob(key="sleeper", policy=PolicyInput("sleep", source=policy_text(
        "sleep_forever.py")), cases=tuple(suite_inputs("small", "search")[:1]),
        limits=default_limits(60), static_checks=False)
    labels = {"policyforge.run": executor.run_id, "policyforge.candidate": "sleeper"}
    t0 = time.monotonic()
    [report] = executor.evaluate([job])
    assert time.monotonic() - t0 < 30
    assert report.status == "timeout" and "cancelled" in (report.reason or "")
    assert _containers(labels) == []


def test_a_killed_worker_is_retried_once_and_its_container_removed(ray_local, serial_reports):
    import ray

    job = _jobs()[3]  # priority on small: the serial run's reference
    labels = {"policyforge.run": ray_local.run_id, "policyforge.candidate": job.key}
    ref = ray_local._task.remote(job, "docker", labels, ray_local.content_hash)
    first = _wait_for_container(labels)
    os.kill(int(first), signal.SIGKILL)
    second = _wait_for_container(labels, not_owner=first)  # the retry, in another worker
    assert second != first
    report = ray_local._collect(ref, job)
    assert (report.status, report.aggregate) == ("ok", serial_reports[3].aggregate)
    assert _containers(labels) == []
    assert ray.get_runtime_context()  # the driver is still connected


def test_a_worker_that_dies_twice_fails_the_evaluation_with_that_reason(ray_local):
    slow = FIFO.replace("    s.queue.extend(pipelines)\n",
                        "    s.queue.extend(pipelines)\n    sum(i * i for i in range(20000))\n")
    assert slow != FIFO
    job = EvaluationJob(key="slow", policy=PolicyInput("slow fifo", source=slow),
                        cases=tuple(suite_inputs("paper", "search")[:2]),
                        limits=default_limits(120), suite="paper", part="search")
    labels = {"policyforge.run": ray_local.run_id, "policyforge.candidate": job.key}
    ref = ray_local._task.remote(job, "docker", labels, ray_local.content_hash)
    first = _wait_for_container(labels)
    os.kill(int(first), signal.SIGKILL)
    second = _wait_for_container(labels, not_owner=first)
    os.kill(int(second), signal.SIGKILL)
    report = ray_local._collect(ref, job)
    assert report.status == "failed"
    assert "died twice" in (report.reason or "") and "retried once" in (report.reason or "")
    assert _containers(labels) == []


def test_a_two_node_cluster_gives_the_same_reports_as_serial(ray_cluster, serial_reports):
    _, executor = ray_cluster
    reports = executor.evaluate(_jobs())
    assert _scores(reports) == _scores(serial_reports)


def test_a_node_whose_sandbox_differs_is_refused_by_name(ray_cluster):
    from sandbox.errors import NodeMismatch

    _, executor = ray_cluster
    stale = RayExecutor.__new__(RayExecutor)
    stale.__dict__.update(executor.__dict__, content_hash="0" * 64)
    with pytest.raises(NodeMismatch, match=r"Ray node \S+ \(node id \w+\) has sandbox content"):
        stale.evaluate(_jobs()[:1])
