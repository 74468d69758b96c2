"""The local backend, for machines with no Docker engine: a plain subprocess, weaker isolation.

The runner runs with this interpreter (so the same simulator and numpy as the host), with
resource limits (CPU seconds, address space, processes, file size, open files, no core dumps),
a host-side wall-clock kill of its whole process group, an environment with nothing from the
host, and a private temporary directory as its working directory. Where ``unshare`` works it
also gets its own network (none), PID, IPC and UTS namespaces, an unprivileged user namespace,
and a mount namespace in which every file system is read-only (so a policy cannot write into the
checkout whose simulator replays its decisions, nor anywhere else on the host) except empty
private ``/tmp``, ``/run`` and ``/dev/shm``. It still reads whatever files the invoking user can
read, the process limit does not bind root, and a policy is root in that user namespace (it can
reach the runner's memory): it says so every time it is used. Prefer Docker.

The runner dies with its parent: the kernel sends it SIGKILL when the thread that started it ends
(``PR_SET_PDEATHSIG``; `LocalBackend.run` blocks until the batch is over, so that thread outlives
a batch that ends normally), and with a PID namespace its workers die with it. It leads its own
process group, recorded in the state directory until the batch ends, so that whatever a killed
parent left behind (workers, without a PID namespace) is killed by `sandbox.reaper` at the next
start.
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from sandbox.backend import Limits, OutputBuffer, RawRun
from sandbox.reaper import reap_local_runners, register_local_runner

WARNING = (
    "warning: local sandbox: the policy runs as a local process with resource limits{ns}; it can "
    "read any file this user can read and is not confined like a Docker container. Use "
    "`policyforge sandbox up` and --sandbox docker for untrusted policies."
)
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1"}
ADDRESS_SPACE_SLACK_MB = 256  # numpy and the interpreter map more than they touch
FILE_SIZE_BYTES = 16 * 1024 * 1024
PR_SET_PDEATHSIG = 1


# Inside its own user and mount namespaces the runner gets empty tmpfs mounts over these (so no
# host temp file or socket, such as the Docker engine's, is reachable), except over a directory
# that holds the interpreter or this checkout (a clone under /tmp must still run).
_MASKS = {"/tmp": "size=64m,mode=1777", "/run": "size=1m", "/dev/shm": "size=1m",
          "/var/run": "size=1m"}
_NAMESPACES = ("--net", "--pid", "--ipc", "--uts", "--mount", "--mount-proc", "--fork",
               "--kill-child")
# Before the masks go on, every inherited mount becomes read-only (mountinfo's fifth field is the
# mount point, octal-escaped), except the batch's own working directory, bound onto itself first:
# it is the writable temp dir when /tmp cannot be masked.
_READ_ONLY = (
    'work=$(pwd -P) && mount --bind "$work" "$work" && '
    'while read -r _ _ _ _ point _; do point=$(printf %b "$point"); '
    '[ "$point" = "$work" ] || mount -o remount,bind,ro "$point" || exit 1; '
    "done < /proc/self/mountinfo"
)
_ROOT = Path(__file__).resolve().parent.parent


def masked_dirs() -> tuple[str, ...]:
    """The directories the local runner hides behind empty tmpfs mounts."""
    needed = [Path(p).resolve() for p in (sys.executable, sys.prefix, sys.base_prefix, _ROOT)]
    out = []
    for name in _MASKS:
        path = Path(name)
        if path.is_symlink() or not path.is_dir():
            continue
        if not any(n == path.resolve() or path.resolve() in n.parents for n in needed):
            out.append(name)
    return tuple(out)


def _prologue(masks: tuple[str, ...], read_only: bool) -> str:
    steps = [_READ_ONLY] if read_only else []
    steps += [f"mount -t tmpfs -o {_MASKS[d]} none {d}" for d in masks]
    if "/tmp" in masks:
        steps.append("cd /tmp")
    return " && ".join([*steps, 'exec "$@"'])


@lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The strongest ``unshare`` wrapper that works here (tried once), or () when none does."""
    if not shutil.which("unshare"):
        return ()
    mapped = ("unshare", "--user", "--map-root-user", *_NAMESPACES, "sh", "-c")
    candidates = (
        (*mapped, _prologue(masked_dirs(), read_only=True), "sh"),
        (*mapped, _prologue(masked_dirs(), read_only=False), "sh"),
        ("unshare", "--user", *_NAMESPACES),
    )
    for cmd in candidates:
        try:
            done = subprocess.run([*cmd, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return cmd
    return ()


class LocalBackend:
    """Runs batches as a local subprocess of this interpreter."""

    name = "local"
    image = None

    def __init__(self, warn: bool = True) -> None:
        self.prefix = namespace_prefix()
        self.masks = masked_dirs() if "sh" in self.prefix else ()
        ns = ""
        if self.prefix:
            ns = " in its own network, PID, user and mount namespaces"
            if any(_READ_ONLY in part for part in self.prefix):
                ns += ", every file system read-only"
            if self.masks:
                ns += f" but empty {', '.join(self.masks)}"
        self.isolation = WARNING.format(ns=ns)
        if warn:
            print(self.isolation, file=sys.stderr)
        self.reaped = reap_local_runners()  # what evaluations killed earlier left behind

    streams = True  # run() hands stdout to ``on_stdout`` as it arrives

    def run(self, request: bytes, limits: Limits,
            on_stdout: Callable[[bytes], None] | None = None) -> RawRun:
        """Run one batch; the process group is killed and the temp dir removed on return."""
        t0 = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="policyforge-local-")
        os.chmod(workdir, 0o700)
        cmd = [*self.prefix, sys.executable, "-I", "-m", "sandbox.runner"]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=workdir, env={**ENV, "TMPDIR": "/tmp" if "/tmp" in self.masks else workdir},
            start_new_session=True,
            preexec_fn=_child_setup(limits),  # noqa: PLW1509 - rlimits need it; no threads here
        )
        buf = OutputBuffer(limits.output_bytes)
        record, notes = None, []
        try:
            try:  # before the request goes in, so before any worker exists
                record = register_local_runner(proc.pid, time.time() + limits.timeout_seconds)
            except OSError as exc:
                notes.append(f"could not record the local runner for the reaper: {exc}")
            timed_out = _exchange(proc, request, buf, t0 + limits.timeout_seconds, on_stdout)
        finally:
            _kill(proc)
            shutil.rmtree(workdir, ignore_errors=True)
            if record is not None:
                record.unlink(missing_ok=True)
        exit_code = None if timed_out or buf.overflow else proc.returncode
        timings = {"total": time.monotonic() - t0}
        return RawRun(buf.stdout, buf.stderr_tail, exit_code, timed_out, buf.overflow, timings,
                      notes)


def _child_setup(limits: Limits):  # type: ignore[no-untyped-def]
    """What the runner's process does between fork and exec: resource limits, and SIGKILL when
    its parent dies."""
    cpu = int(limits.timeout_seconds * max(1.0, limits.cpus)) + 1
    memory = (limits.memory_mb + ADDRESS_SPACE_SLACK_MB) * 1024 * 1024  # per process
    parent = os.getpid()
    die_with_parent = _parent_death_signal()  # made before the fork: the child only calls it

    def apply() -> None:
        for name, value in (
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_AS, memory),
            (resource.RLIMIT_NPROC, limits.pids),
            (resource.RLIMIT_FSIZE, FILE_SIZE_BYTES),
            (resource.RLIMIT_NOFILE, 256),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(name, (value, value))
        if die_with_parent is not None:
            die_with_parent()
            if os.getppid() != parent:  # the parent died before the line above took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return apply


def _parent_death_signal():  # type: ignore[no-untyped-def]
    """A function that has the kernel SIGKILL the calling process when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    # prctl reads unsigned longs after the option: pass them at their full width.
    args = (ctypes.c_int(PR_SET_PDEATHSIG),
            *(ctypes.c_ulong(v) for v in (signal.SIGKILL, 0, 0, 0)))

    def arm() -> None:
        prctl(*args)

    return arm


def _exchange(proc: subprocess.Popen[bytes], request: bytes, buf: OutputBuffer,
              deadline: float, on_stdout: Callable[[bytes], None] | None = None) -> bool:
    """Write the request, collect output until both pipes close; True if the deadline passed."""
    assert proc.stdin and proc.stdout and proc.stderr
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    pending = memoryview(request)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    open_pipes = 2
    while open_pipes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        for key, _ in sel.select(timeout=remaining):
            if key.fileobj is proc.stdin:
                try:
                    pending = pending[os.write(proc.stdin.fileno(), pending[:65536]):]
                except BrokenPipeError:
                    pending = pending[:0]
                if not pending:
                    sel.unregister(proc.stdin)
                    proc.stdin.close()
                continue
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_pipes -= 1
            elif key.fileobj is proc.stdout:
                if not buf.out(data):
                    return False
                if on_stdout is not None:
                    on_stdout(data)
            else:
                buf.errput(data)
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return True
    return False


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe and not pipe.closed:
            pipe.close()
