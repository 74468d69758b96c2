"""The Docker engine: whether one answers, and starting one where we may (root, Debian).

`ensure_engine()` is what `policyforge sandbox up` calls. On a machine without an engine it
installs Debian's ``docker.io`` and starts ``dockerd`` in the background with no bridge network
and no iptables rules (sandbox containers never get a network), logging to a file in the state
directory. It is idempotent: an engine that already answers is left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from sandbox.errors import EngineUnavailable

DOCKERD_ARGS = ("--bridge=none", "--iptables=false")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")


def state_dir() -> Path:
    """Where the sandbox keeps its logs and wheel cache (``POLICYFORGE_STATE`` overrides)."""
    default = Path.home() / ".cache" / "policyforge"
    path = Path(os.environ.get("POLICYFORGE_STATE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def docker_client(timeout: float = 60.0) -> Any:
    """A docker SDK client for the local engine; `EngineUnavailable` when none answers."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (DockerException, OSError) as exc:
        raise EngineUnavailable(
            f"no Docker engine answers ({_first_line(exc)}); run `policyforge sandbox up` "
            "(as root it installs and starts one) or start dockerd yourself"
        ) from None
    return client


def transient(exc: BaseException) -> bool:
    """Whether an engine error is worth retrying: a 5xx other than 500, a busy engine, a dropped
    connection."""
    from docker.errors import APIError
    from requests.exceptions import ConnectionError as RequestsConnectionError

    if isinstance(exc, APIError):
        return (exc.is_server_error() and exc.status_code != 500) or _busy(exc)
    return isinstance(exc, RequestsConnectionError)


def _busy(exc: Any) -> bool:
    text = str(getattr(exc, "explanation", "") or exc).lower()
    return any(s in text for s in ("try again", "is restarting", "resource temporarily"))


retry_transient = retry(
    retry=retry_if_exception(transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.2, max=2.0),
    reraise=True,
)
"""Decorator: retry an engine call on transient errors (a few times, backing off)."""


def engine_answers(timeout: float = 3.0) -> bool:
    """Whether a Docker engine answers a ping within ``timeout`` seconds."""
    try:
        docker_client(timeout).close()
    except EngineUnavailable:
        return False
    return True


@dataclass
class EngineStatus:
    """What `ensure_engine` found or did."""

    answering: bool
    installed: bool = False
    started: bool = False
    log_path: Path | None = None
    seconds: float = 0.0


def ensure_engine(wait_seconds: float = 60.0) -> EngineStatus:
    """Make a Docker engine answer: leave a running one alone, else install and start dockerd."""
    t0 = time.monotonic()
    if engine_answers():
        return EngineStatus(answering=True)
    if os.geteuid() != 0:
        raise EngineUnavailable(
            "no Docker engine answers and this user is not root, so policyforge cannot start "
            "one; start dockerd (or Docker Desktop) and check `docker info`"
        )
    installed = False
    if not shutil.which("dockerd"):
        apt_install(["docker.io"])
        installed = True
    log_path = state_dir() / "dockerd.log"
    proc = None if _dockerd_running() else _start_dockerd(log_path)
    deadline = t0 + wait_seconds
    while time.monotonic() < deadline:
        if engine_answers(timeout=2.0):
            return EngineStatus(True, installed, proc is not None, log_path, time.monotonic() - t0)
        if proc is not None and proc.poll() is not None:
            raise EngineUnavailable(
                f"dockerd exited with status {proc.returncode} while starting; "
                f"last lines of {log_path}:\n{_tail(log_path)}",
                log=str(log_path),
            )
        time.sleep(0.5)
    raise EngineUnavailable(
        f"dockerd did not answer within {wait_seconds:.0f} s; see {log_path}:\n{_tail(log_path)}",
        log=str(log_path),
    )


def apt_install(packages: list[str]) -> None:
    """Install Debian packages with apt-get (root only); errors carry apt's last lines."""
    if not shutil.which("apt-get"):
        raise EngineUnavailable(
            f"{', '.join(packages)} missing and this is not a Debian-like system; install them"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise EngineUnavailable(f"`{' '.join(cmd)}` failed:\n{tail}")


def _start_dockerd(log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        # A new session so the daemon outlives this command (sandbox up returns at once).
        return subprocess.Popen(
            ["dockerd", *DOCKERD_ARGS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _dockerd_running() -> bool:
    """A live dockerd owns the pid file (it may still be starting)."""
    try:
        pid = int(DOCKERD_PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
