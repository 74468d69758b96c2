"""Running many evaluations: one interface, two engines (serial here, or Ray tasks).

``Executor.evaluate(jobs)`` takes evaluation jobs (a policy on some cases) and returns one
`EvaluationReport` per job, in the jobs' order, whatever order they finish in: a score never
depends on the engine, the number of workers or the completion order.

* `SerialExecutor` runs them one after another in this process (``--workers 1``). It never
  imports Ray.
* `RayExecutor` runs each job as one Ray **task** (``num_cpus=1``, ``max_retries=1``,
  ``retry_exceptions=False``) on whichever node Ray picks: the task builds that node's sandbox
  backend, runs the sandbox there and the host verification (replay) in our own code outside the
  container, and returns the verified report with the node's sandbox content hash. The driver
  accepts a result only from a node whose content hash equals its own (`image.content_hash`:
  simulator code, runner, numpy, Python), otherwise `NodeMismatch` names the node. With
  ``workers`` it starts an embedded local Ray (bound to 127.0.0.1, no dashboard, a bounded object
  store, a short temporary directory) and shuts it down on `close`; with ``address`` it joins an
  existing cluster, failing within `CONNECT_TIMEOUT_SECONDS` when the address does not answer.

Time-outs, in order: the sandbox's own wall-clock kill inside the task (`Limits.timeout_seconds`)
is the first line; the driver cancels a task still running `CANCEL_MARGIN_SECONDS` later
(``ray.cancel(force=True)``, which kills its worker) and removes the containers labelled with the
job's run and candidate on every node, since killing a worker does not stop a container. A
worker that dies (killed, out of memory) has its task retried once by Ray, and the retry first
removes the containers of the dead attempt; a second death makes the job a ``failed``
evaluation with that reason. The driver keeps at most one task per cluster CPU in flight
(Ray's pattern for limiting pending tasks), so a task's deadline starts about when it does.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.backend import Backend, Limits
from sandbox.errors import ExecutorError, NodeMismatch, SandboxError
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy
from sandbox.protocol import EvaluationReport

CANCEL_MARGIN_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
OBJECT_STORE_BYTES = 128 * 1024 * 1024  # reports are small; Ray's minimum is 75 MB
RAY_TASK_OPTIONS: dict[str, int] = {"num_cpus": 1, "max_retries": 1}  # retry_exceptions=False


@dataclass(frozen=True)
class EvaluationJob:
    """One evaluation to run: a policy on some cases (what `evaluate_policy` takes)."""

    key: str  # names the job in container labels and errors; unique within a batch
    policy: PolicyInput
    cases: tuple[CaseInput, ...]
    limits: Limits
    suite: str | None = None
    part: str | None = None
    profile: bool = False
    static_checks: bool = True


class Executor(Protocol):
    """Runs evaluation jobs; reports come back in the jobs' order."""

    name: str

    def evaluate(self, jobs: Sequence[EvaluationJob]) -> list[EvaluationReport]:
        """One report per job, in order; never raises for anything a policy does."""
        ...

    def close(self) -> None:
        """Release the engine (an embedded Ray is shut down)."""
        ...


def job_labels(run_id: str, job: EvaluationJob) -> dict[str, str]:
    """The container labels of ``job`` in run ``run_id``."""
    from sandbox.docker_backend import CANDIDATE_LABEL, RUN_LABEL

    return {RUN_LABEL: run_id, CANDIDATE_LABEL: job.key}


def _run_job(job: EvaluationJob, backend: Backend) -> EvaluationReport:
    return evaluate_policy(job.policy, list(job.cases), backend, job.limits,
                           static_checks=job.static_checks, suite=job.suite, part=job.part,
                           profile=job.profile)


def failed_report(job: EvaluationJob, status: str, reason: str,
                  error: SandboxError | None = None) -> EvaluationReport:
    """The report of a job that produced no result of its own (time-out, dead worker...)."""
    return EvaluationReport(status=status, reason=reason,  # type: ignore[arg-type]
                            policy=job.policy.label, suite=job.suite, part=job.part,
                            error=error.to_dict() if error is not None else None)


class SerialExecutor:
    """Every job in this process, one after another (``--workers 1``; no Ray)."""

    name = "serial"

    def __init__(self, sandbox: str = "auto", *, backend: Backend | None = None,
                 run_id: str | None = None) -> None:
        self.sandbox = sandbox
        self.backend = backend
        self.run_id = run_id or uuid.uuid4().hex[:12]

    def evaluate(self, jobs: Sequence[EvaluationJob]) -> list[EvaluationReport]:
        """Run the jobs in order (a backend that cannot start fails every job with why)."""
        from sandbox.registry import choose_backend

        reports: list[EvaluationReport] = []
        for job in jobs:
            try:
                backend = self.backend or choose_backend(
                    self.sandbox, labels=job_labels(self.run_id, job), warn=not reports)
            except SandboxError as exc:
                reports.append(failed_report(job, "failed", exc.message, exc))
                continue
            reports.append(_run_job(job, backend))
        return reports

    def close(self) -> None:
        """Nothing to release."""


# --- Ray --------------------------------------------------------------------------------------


@dataclass
class NodeResult:
    """What a Ray task sends back: the verified report and which node made it."""

    node_id: str
    node_ip: str
    content_hash: str
    report: EvaluationReport | None = None
    notes: list[str] = field(default_factory=list)


def evaluate_on_node(job: EvaluationJob, sandbox: str, labels: dict[str, str],
                     expected_hash: str, ahead: tuple[str, float] | None = None) -> NodeResult:
    """The body of one Ray task: sandbox and verification on this node (see the module doc).
    ``ahead``: a container the driver started for this job on this node (id, deadline epoch),
    taken if this attempt is the first to claim it (`DockerBackend.adopt`)."""
    import ray

    from sandbox.image import content_hash

    worker = ray._private.worker.global_worker  # the address this node was started with
    ip = getattr(worker, "node_ip_address", None) or ray.util.get_node_ip_address()
    node = NodeResult(ray.get_runtime_context().get_node_id(), ip, content_hash())
    if node.content_hash != expected_hash:
        return node  # the driver refuses it, naming this node; nothing is run for nothing
    from sandbox.registry import choose_backend

    try:
        backend = choose_backend(sandbox, labels=labels, warn=False)
    except SandboxError as exc:
        _remove_containers(sandbox, labels)
        node.report = failed_report(job, "failed", f"on node {node.node_ip}: {exc.message}")
        return node
    adopted = (ahead is not None and hasattr(backend, "adopt")
               and backend.adopt(ahead[0], job.limits, ahead[1]))
    # a previous attempt's containers, if its worker died (the one just claimed is this one's)
    _remove_containers(sandbox, labels, keep=ahead[0] if adopted and ahead else None)
    node.report = _run_job(job, backend)
    return node


def _remove_containers(sandbox: str, labels: dict[str, str], keep: str | None = None) -> list[str]:
    """Remove this node's containers with ``labels`` but ``keep`` (nothing to do without
    Docker)."""
    if sandbox == "local":
        return []
    from sandbox.daemon import engine_answers

    if sandbox == "auto" and not engine_answers():
        return []
    from sandbox.docker_backend import remove_labelled

    return remove_labelled(labels, keep=keep)


class RayExecutor:
    """Each job as one Ray task: on an embedded local Ray (``workers``) or a cluster."""

    name = "ray"

    def __init__(self, sandbox: str = "auto", *, workers: int | None = None,
                 address: str | None = None, run_id: str | None = None,
                 content_hash: str | None = None,
                 cancel_margin_seconds: float = CANCEL_MARGIN_SECONDS) -> None:
        from sandbox.image import content_hash as own_hash

        if (workers is None) == (address is None):
            raise ExecutorError("give the Ray executor either workers (embedded) or an address")
        self.sandbox = sandbox
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.content_hash = content_hash or own_hash()
        self.cancel_margin = cancel_margin_seconds
        self._temp_dir: str | None = None
        self._owns_ray = address is None
        if address is None:
            self._start_embedded(int(workers or 1))
        else:
            _connect(address)
        import ray

        self._ray = ray
        self._task = ray.remote(num_cpus=RAY_TASK_OPTIONS["num_cpus"],
                                max_retries=RAY_TASK_OPTIONS["max_retries"],
                                retry_exceptions=False)(evaluate_on_node)
        self._cleanup = ray.remote(num_cpus=0)(_remove_containers)

    def _start_embedded(self, workers: int) -> None:
        import logging

        import ray

        if workers < 1:
            raise ExecutorError(f"--workers must be at least 1, got {workers}")
        # Unix socket paths under it must stay short (108 bytes), so not the default under /tmp/ray.
        self._temp_dir = tempfile.mkdtemp(prefix="pfray-", dir="/tmp")
        try:
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     object_store_memory=OBJECT_STORE_BYTES, _temp_dir=self._temp_dir,
                     _node_ip_address="127.0.0.1", log_to_driver=False,
                     logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - Ray's own errors, said plainly
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            raise ExecutorError(f"could not start a local Ray with {workers} CPUs: "
                                f"{type(exc).__name__}: {exc}", field="workers") from None

    def evaluate(self, jobs: Sequence[EvaluationJob]) -> list[EvaluationReport]:
        """Run the jobs as Ray tasks; reports in the jobs' order."""
        from concurrent.futures import ThreadPoolExecutor

        # On an embedded Ray (this machine) the next waiting job's container starts while the
        # running ones work (sandbox.docker_backend.start_ahead); its task claims it.
        starter = ThreadPoolExecutor(max_workers=1) if self._starts_ahead() else None
        ahead: dict[int, Any] = {}
        try:
            return self._run_window(jobs, starter, ahead)
        finally:
            if starter is not None:
                starter.shutdown(wait=True)
                self._discard_ahead(ahead)

    def _starts_ahead(self) -> bool:
        if self._temp_dir is None:  # a cluster: the next task may run on any node
            return False
        from sandbox.registry import resolve_kind

        try:
            return resolve_kind(self.sandbox) == "docker"
        except (SandboxError, ValueError):
            return False

    def _start_ahead(self, job: EvaluationJob) -> tuple[str, float] | None:
        from sandbox.docker_backend import start_ahead

        try:
            return start_ahead(job.limits, job_labels(self.run_id, job))
        except Exception:  # noqa: BLE001 - its task then starts its own container
            return None

    def _discard_ahead(self, ahead: dict[int, Any]) -> None:
        """Remove the containers started for jobs that never ran (an interrupted batch)."""
        started = [s for s in (f.result() for f in ahead.values()) if s is not None]
        ahead.clear()
        if not started:
            return
        from sandbox.daemon import docker_client
        from sandbox.reaper import remove_container

        try:
            client = docker_client(timeout=30)
            for container_id, _ in started:
                remove_container(client, container_id)
        except Exception:  # noqa: BLE001 - the next run's reap removes them
            pass

    def _run_window(self, jobs: Sequence[EvaluationJob], starter: Any,
                    ahead: dict[int, Any]) -> list[EvaluationReport]:
        """As many tasks at once as the cluster has CPUs; the reports in the jobs' order."""
        ray = self._ray
        window = max(1, int(ray.cluster_resources().get("CPU", 1)))
        reports: list[EvaluationReport | None] = [None] * len(jobs)
        waiting = list(range(len(jobs)))
        in_flight: dict[Any, tuple[int, float]] = {}
        while waiting or in_flight:
            while waiting and len(in_flight) < window:
                i = waiting.pop(0)
                job = jobs[i]
                started = ahead.pop(i).result() if i in ahead else None
                ref = self._task.remote(job, self.sandbox,  # type: ignore[call-arg]
                                        job_labels(self.run_id, job), self.content_hash, started)
                in_flight[ref] = (i, time.monotonic() + job.limits.timeout_seconds
                                  + self.cancel_margin)
            if starter is not None and waiting and waiting[0] not in ahead:
                # the window is full: the next job's container starts while these run
                ahead[waiting[0]] = starter.submit(self._start_ahead, jobs[waiting[0]])
            first_deadline = min(d for _, d in in_flight.values())
            ready, _ = ray.wait(list(in_flight), num_returns=1,
                                timeout=max(0.0, first_deadline - time.monotonic()))
            for ref in ready:
                i, _ = in_flight.pop(ref)
                reports[i] = self._collect(ref, jobs[i])
            now = time.monotonic()
            for ref, (i, deadline) in list(in_flight.items()):
                if now >= deadline:
                    del in_flight[ref]
                    reports[i] = self._cancel(ref, jobs[i])
        return [r for r in reports if r is not None]

    def _collect(self, ref: Any, job: EvaluationJob) -> EvaluationReport:
        from ray.exceptions import RayTaskError, TaskCancelledError

        try:
            node: NodeResult = self._ray.get(ref)
        except TaskCancelledError:
            self._remove_everywhere(job)
            return failed_report(job, "timeout", "the evaluation's Ray task was cancelled")
        except RayTaskError as exc:  # our own code raised inside the task
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            self._remove_everywhere(job)
            where = getattr(exc, "ip", None) or "a Ray node"  # not every Ray error carries it
            return failed_report(job, "failed", f"on node {where}: {type(cause).__name__}: "
                                                f"{cause}"[:2000])
        except self._ray.exceptions.RayError as exc:  # the worker (or its node) died twice
            self._remove_everywhere(job)
            why = f"{type(exc).__name__}: {exc}"[:2000]
            return failed_report(job, "failed", "the evaluation's Ray worker died twice (it was "
                                                f"retried once): {why}")
        if node.content_hash != self.content_hash:
            raise NodeMismatch(
                f"Ray node {node.node_ip} (node id {node.node_id[:16]}) has sandbox content hash "
                f"{node.content_hash[:12]}, this driver {self.content_hash[:12]}: its results "
                "would not be comparable; run the same checkout there and `policyforge sandbox "
                "up`", field="ray_node")
        assert node.report is not None  # set whenever the hashes agree
        return node.report

    def _cancel(self, ref: Any, job: EvaluationJob) -> EvaluationReport:
        """Force-cancel a task past its deadline and remove its containers everywhere."""
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - it may have just finished or died; removal follows
            pass
        self._remove_everywhere(job)
        limit = job.limits.timeout_seconds + self.cancel_margin
        return failed_report(job, "timeout", f"the evaluation did not finish within {limit:g} s "
                                             "of being started; its Ray task was cancelled")

    def _remove_everywhere(self, job: EvaluationJob) -> None:
        """Remove ``job``'s containers on every alive node (a dead worker leaves them running)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        refs = [self._cleanup.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                    n["NodeID"], soft=False)).remote(self.sandbox, job_labels(self.run_id, job))
                for n in self._ray.nodes() if n.get("Alive")]
        try:
            self._ray.wait(refs, num_returns=len(refs), timeout=CANCEL_MARGIN_SECONDS)
        except Exception:  # noqa: BLE001 - best effort; the next run's reap removes the rest
            pass

    def close(self) -> None:
        """Disconnect; an embedded Ray is shut down and its temporary directory removed."""
        self._ray.shutdown()
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)


def _connect(address: str) -> None:
    """Join the cluster at ``address``; a clear `ExecutorError` within the connect timeout."""
    t0 = time.monotonic()
    host, port = _host_port(address)
    if host is not None:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS / 2).close()
        except OSError as exc:
            raise ExecutorError(
                f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} (is `ray start "
                "--head` running there, and is its port reachable from here?)",
                field="ray_address") from None
    outcome: dict[str, BaseException | None] = {}

    # Ray's own C++ client would print a retry warning every second while it waits.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")

    def join() -> None:
        import logging

        import ray

        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=join, daemon=True, name="ray-connect")
    thread.start()
    thread.join(max(0.5, CONNECT_TIMEOUT_SECONDS - 1.0 - (time.monotonic() - t0)))
    if "error" not in outcome:
        raise ExecutorError(f"the Ray cluster at {address} did not answer within "
                            f"{CONNECT_TIMEOUT_SECONDS:g} s", field="ray_address")
    if outcome["error"] is not None:
        failure = outcome["error"]
        first_line = str(failure).splitlines()[0] if str(failure) else ""
        raise ExecutorError(f"cannot join the Ray cluster at {address}: "
                            f"{type(failure).__name__}: {first_line}",
                            field="ray_address") from None


def _host_port(address: str) -> tuple[str | None, int]:
    """(host, port) of a ``HOST:PORT`` or ``ray://HOST:PORT`` address; (None, 0) for ``auto``."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep:
        if address in ("auto", "local"):
            return None, 0
        raise ExecutorError(f"bad Ray address {address!r}: expected HOST:PORT",
                            field="ray_address")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ExecutorError(f"bad Ray address {address!r}: the port {port!r} is not a number",
                            field="ray_address") from None


def make_executor(sandbox: str = "auto", *, workers: int | None = None,
                  ray_address: str | None = None, run_id: str | None = None,
                  environ: dict[str, str] | None = None) -> Executor:
    """The executor for ``--workers N`` / ``--ray-address ADDR``.

    Explicit flags win: ``--workers 1`` is the serial path (Ray is never imported), ``N > 1`` an
    embedded local Ray, ``--ray-address`` a cluster (``--workers`` then makes no sense: the
    cluster's CPUs decide). With neither, ``RAY_ADDRESS`` joins that cluster; without it, serial.
    """
    env = os.environ if environ is None else environ
    if workers is not None and workers < 1:
        raise ExecutorError(f"--workers must be at least 1, got {workers}", field="workers")
    if ray_address is not None and workers is not None:
        raise ExecutorError("give --workers (a local Ray) or --ray-address (a cluster), not both",
                            field="workers")
    if ray_address is None and workers is None:
        ray_address = env.get("RAY_ADDRESS") or None
    if ray_address is not None:
        return RayExecutor(sandbox, address=ray_address, run_id=run_id)
    if workers is None or workers == 1:
        return SerialExecutor(sandbox, run_id=run_id)
    return RayExecutor(sandbox, workers=workers, run_id=run_id)
