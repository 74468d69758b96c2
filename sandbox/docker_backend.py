"""The Docker backend: one short-lived, locked-down container per batch.

The container has no network, a read-only root, a small tmpfs at /tmp, memory (swap included),
CPU and process limits, no capabilities, no-new-privileges, the unprivileged user 65534, an
environment with nothing from the host, and no log driver (output is read from the attach stream
and capped, never stored by the engine). The runner is the container's pid 1, with no init in
front of it: a policy's process (same user) cannot kill it (the kernel ignores signals to a
namespace's init from inside), and, as the runner makes itself non-dumpable, cannot reach its
memory or the container's stdout through /proc. An init such as Docker's would be reachable, and
so would the stdout it shares with the runner. The request goes in on stdin; the host keeps a
wall-clock deadline and removes the container in every case. Containers carry the label
``policyforge.sandbox=1`` plus their owner (pid, its start time, the host) and deadline, so
`sandbox.reaper` can remove those a killed evaluation left behind without touching a live one.

Transient engine errors (5xx, a dropped connection) on create, start and remove are retried.

A container can be started before its batch is known (`DockerBackend.prestart`): the runner in
it starts its interpreters and waits on stdin, so the batch that takes it skips the engine's
start and the imports (about 0.2 s). It is the same locked-down container with the same labels,
it serves exactly one batch and is removed like any other, and nothing of any candidate is in it
before its request arrives. A run's backend keeps one started for its next evaluation
(``keep_spare``). An embedded Ray's driver starts the next task's container on this machine
(`start_ahead`, labelled as that job's, named ``pf-waiting-*``); the task claims it by renaming
it (`DockerBackend.adopt`: a rename succeeds once, so a retried task never takes a container its
first attempt used) and starts its own if the claim fails.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sandbox.backend import Limits, OutputBuffer, RawRun
from sandbox.daemon import docker_client, retry_transient
from sandbox.image import image_tag, require_image
from sandbox.reaper import (  # noqa: F401 - the label names that were defined here
    DEADLINE_LABEL,
    LABEL,
    OWNER_LABEL,
    owner_labels,
    reap_containers,
    remove_container,
)

COMMAND = ["python3", "-I", "-m", "sandbox.runner"]
# Which run and candidate a container evaluates (`sandbox.executor` kills a task's by these).
RUN_LABEL = "policyforge.run"
CANDIDATE_LABEL = "policyforge.candidate"
# How long a started container may wait for its batch (its deadline label allows for this plus
# the batch's own time; a backend whose spare waited longer starts a fresh container instead).
SPARE_WAIT_SECONDS = 900.0


def _container_limits(limits: Limits) -> Limits:
    """The part of ``limits`` a container is created with (the rest is the host's to keep)."""
    return dataclasses.replace(limits, timeout_seconds=0.0, output_bytes=0)


class _Started:
    """A container started ahead of its batch, its stdin/stdout stream attached."""

    def __init__(self, backend: DockerBackend, limits: Limits) -> None:
        self.limits = _container_limits(limits)
        # its deadline label: time to wait for a batch, then a batch's own time
        self.deadline = time.monotonic() + SPARE_WAIT_SECONDS + limits.timeout_seconds
        self.container: Any = None
        self.sock: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._start, args=(backend, limits, self.deadline),
                                       name="sandbox-prestart", daemon=True)
        self.thread.start()

    def _start(self, backend: DockerBackend, limits: Limits, deadline: float) -> None:
        try:
            self.container = _create(backend.client, backend.image_id, limits, deadline,
                                     backend.labels)
            self.sock = backend.client.api.attach_socket(
                self.container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            _start(self.container)
        except BaseException as exc:  # noqa: BLE001 - the batch then starts its own container
            self.error = exc

    def fits(self, limits: Limits) -> bool:
        """Whether a batch with ``limits`` may take it (same container limits, time enough)."""
        self.thread.join()
        return (self.error is None and self.limits == _container_limits(limits)
                and time.monotonic() + limits.timeout_seconds <= self.deadline)

    def discard(self) -> None:
        """Remove it (it never saw a batch)."""
        self.thread.join()
        _close(self.sock)
        if self.container is not None:
            _remove(self.container)


class DockerBackend:
    """Runs batches in containers of the sandbox image (which must already be built)."""

    name = "docker"
    isolation = (
        "container: no network, read-only root, tmpfs /tmp, memory/CPU/pids limits, no "
        "capabilities, no-new-privileges, user 65534, scrubbed environment"
    )

    def __init__(self, client: Any | None = None, labels: dict[str, str] | None = None,
                 keep_spare: bool = False) -> None:
        self.client = client or docker_client(timeout=60)
        self.labels = dict(labels or {})  # extra labels on every container (run, candidate)
        self.image: str | None = image_tag()
        self.image_id = require_image(self.client)
        self.reaped = reap_containers(self.client)  # orphans of evaluations killed earlier
        # after each batch, start the container for the next one (a run's backend)
        self.keep_spare = keep_spare
        self._held: list[_Started | None] = [None]  # the started container, if any
        # removed when this backend goes, or at exit, whoever forgot to close it
        weakref.finalize(self, _discard_held, self._held)

    streams = True  # run() hands stdout to ``on_stdout`` as it arrives

    def prestart(self, limits: Limits) -> None:
        """Start the container the next batch (with ``limits``) will take (see the module doc);
        returns at once."""
        _discard_held(self._held)
        self._held[0] = _Started(self, limits)

    def close(self) -> None:
        """Remove a container started for a batch that will not come."""
        _discard_held(self._held)

    def adopt(self, container_id: str, limits: Limits, deadline_epoch: float) -> bool:
        """Claim a container `start_ahead` started, for the next batch: False (and nothing
        held) if it is gone or was claimed before (by an earlier attempt of this task)."""
        from docker.errors import APIError

        try:  # to a name of its own id's: a second claim (same name) fails
            self.client.api.rename(container_id, f"pf-claimed-{container_id[:16]}")
        except APIError:
            return False
        container = self.client.containers.get(container_id)
        sock = self.client.api.attach_socket(
            container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        deadline = time.monotonic() + (deadline_epoch - time.time())
        _discard_held(self._held)
        self._held[0] = _Adopted(container, sock, limits, deadline)
        return True

    def _take_started(self, limits: Limits) -> tuple[Any, Any] | None:
        spare, self._held[0] = self._held[0], None
        if spare is None:
            return None
        if spare.fits(limits):
            return spare.container, spare.sock
        spare.discard()
        return None

    def run(self, request: bytes, limits: Limits,
            on_stdout: Callable[[bytes], None] | None = None) -> RawRun:
        """Run one batch in a fresh container (one started for it, if there is one); the
        container is gone when this returns."""
        t0 = time.monotonic()
        deadline = t0 + limits.timeout_seconds
        timings: dict[str, float] = {}
        started = self._take_started(limits)
        if started is not None:
            container, sock = started
            # started ahead (see the module doc): how long this batch still waited for it
            timings["prestart_wait"] = time.monotonic() - t0
        else:
            container, sock = _create(self.client, self.image_id, limits, deadline,
                                      self.labels), None
        timings["create"] = time.monotonic() - t0
        run: RawRun | None = None
        try:
            if sock is None:
                sock = self.client.api.attach_socket(
                    container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                )
                t1 = time.monotonic()
                _start(container)
                timings["start"] = time.monotonic() - t1
            raw = getattr(sock, "_sock", sock)
            t2 = time.monotonic()
            buf = OutputBuffer(limits.output_bytes)
            timed_out = _exchange(raw, request, buf, deadline, on_stdout)
            timings["transfer_and_run"] = time.monotonic() - t2
            exit_code = None
            if not timed_out and not buf.overflow:
                exit_code = _exit_code(container, deadline)
                timed_out = exit_code is None
            run = RawRun(buf.stdout, buf.stderr_tail, exit_code, timed_out, buf.overflow, timings)
        finally:
            t3 = time.monotonic()
            # Close the stream first: the engine will not finish removing a container whose
            # output it is still trying to hand to a reader that stopped reading.
            _close(sock)
            note = _remove(container)
            timings["remove"] = time.monotonic() - t3
            timings["total"] = time.monotonic() - t0
            if self.keep_spare:
                self.prestart(limits)
        assert run is not None  # the try either set it or raised
        if note:
            run.notes.append(note)
        return run


class _Adopted(_Started):
    """A container someone else started ahead (`start_ahead`), claimed by this backend."""

    def __init__(self, container: Any, sock: Any, limits: Limits, deadline: float) -> None:
        self.limits = _container_limits(limits)
        self.deadline = deadline
        self.container = container
        self.sock = sock
        self.error = None
        self.thread = threading.Thread(target=lambda: None)
        self.thread.start()


WAITING_PREFIX = "pf-waiting-"


def start_ahead(limits: Limits, labels: dict[str, str], client: Any | None = None,
                ) -> tuple[str, float]:
    """Create and start a container for a batch to come (see the module doc), not attached:
    its id and its deadline label (epoch seconds), for the process that will claim it."""
    client = client or docker_client(timeout=60)
    deadline = time.monotonic() + SPARE_WAIT_SECONDS + limits.timeout_seconds
    epoch = time.time() + (deadline - time.monotonic())
    container = _create(client, require_image(client), limits, deadline, labels,
                        name=f"{WAITING_PREFIX}{uuid.uuid4().hex[:16]}")
    try:
        _start(container)
    except BaseException:
        _remove(container)
        raise
    return container.id, epoch


def _discard_held(held: list[_Started | None]) -> None:
    spare, held[0] = held[0], None
    if spare is not None:
        spare.discard()


def container_config(image: str, limits: Limits, deadline_epoch: float,
                     labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``containers.create``: every restriction in one place."""
    from docker.types import Ulimit

    memory = f"{limits.memory_mb}m"
    return {
        "image": image,
        "command": COMMAND,
        "stdin_open": True,
        "tty": False,
        "network_mode": "none",
        "network_disabled": True,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(limits.cpus * 1e9),
        **({"cpuset_cpus": limits.cpuset} if limits.cpuset else {}),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": "65534:65534",
        "init": False,  # the runner is pid 1 (see the module docstring)
        "environment": {},
        "working_dir": "/tmp",
        "hostname": "sandbox",
        "ipc_mode": "none",
        "log_config": {"type": "none", "config": {}},
        "ulimits": [Ulimit(name="core", soft=0, hard=0), Ulimit(name="nofile", soft=256, hard=256)],
        "labels": {**owner_labels(deadline_epoch), **(labels or {})},
    }


@retry_transient
def _create(client: Any, image_id: str, limits: Limits, deadline: float,
            labels: dict[str, str] | None = None, name: str | None = None) -> Any:
    deadline_epoch = time.time() + (deadline - time.monotonic())
    return client.containers.create(
        name=name, **container_config(image_id, limits, deadline_epoch, labels))


@retry_transient
def _start(container: Any) -> None:
    container.start()


def _remove(container: Any) -> str | None:
    """Remove the container; a failure becomes a note (the next reap retries it)."""
    try:
        remove_container(container.client, container.id)
    except Exception as exc:  # noqa: BLE001 - returned as a note, reaped later
        return (f"could not remove sandbox container {container.short_id}: {exc}; "
                "the next evaluation reaps it")
    return None


def _close(sock: Any) -> None:
    for obj in (getattr(sock, "_sock", None), sock):
        try:
            if obj is not None:
                obj.close()
        except OSError:
            pass


def _exchange(raw: socket.socket, request: bytes, buf: OutputBuffer, deadline: float,
              on_stdout: Callable[[bytes], None] | None = None) -> bool:
    """Send the request, close stdin, read frames until EOF; True if the deadline passed."""
    try:
        raw.settimeout(max(0.1, deadline - time.monotonic()))
        raw.sendall(request)
        raw.shutdown(socket.SHUT_WR)
    except TimeoutError:
        return True
    except OSError:
        pass  # the runner died before reading everything; its output says why
    pending = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        raw.settimeout(remaining)
        try:
            data = raw.recv(1 << 16)
        except TimeoutError:
            return True
        except OSError:
            return False
        if not data:
            return False
        pending += data
        while len(pending) >= 8:
            stream, size = pending[0], struct.unpack(">I", pending[4:8])[0]
            if len(pending) < 8 + size:
                break
            payload, pending = pending[8 : 8 + size], pending[8 + size :]
            if stream == 1:
                if not buf.out(payload):
                    return False
                if on_stdout is not None:
                    on_stdout(payload)
            else:
                buf.errput(payload)


def _exit_code(container: Any, deadline: float) -> int | None:
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    try:
        status = container.wait(timeout=max(1.0, deadline - time.monotonic()))
    except (ReadTimeout, RequestsConnectionError):
        return None
    return int(status.get("StatusCode", -1))


def remove_labelled(labels: dict[str, str], client: Any | None = None,
                    keep: str | None = None) -> list[str]:
    """Remove every sandbox container carrying all of ``labels`` (a cancelled or dead task's)
    but ``keep`` (an id); one that another process removes at the same time counts as
    removed."""
    client = client or docker_client(timeout=30)
    wanted = [f"{LABEL}=1", *(f"{k}={v}" for k, v in sorted(labels.items()))]
    removed = []
    for info in client.api.containers(all=True, filters={"label": wanted}):
        if info["Id"] == keep:
            continue
        remove_container(client, info["Id"])
        removed.append(str(info["Id"])[:12])
    return removed
