"""Orphaned sandboxes: who owns each one, and removing those whose owner is gone.

Every sandbox records its owner, the process that started it, and its batch's deadline (epoch
seconds): a Docker container in its labels, a local runner in a small JSON record under
``<state dir>/local-runners/``. An `Owner` is a pid, that process's start time (clock ticks
after boot, so a reused pid is not taken for the owner) and a host identifier (boot id and pid
namespace: a pid means nothing after a reboot, on another machine, or in another container
sharing the engine).

`reap_orphans()` is what a policyforge start calls. It removes every sandbox whose owner is gone,
or whose deadline passed more than `REAP_GRACE_SECONDS` ago (an owner that hung), and never one
whose owner lives and whose deadline is ahead. A sandbox owned on another host is removed on its
deadline only, and a local runner there is never signalled (its pid is not ours to kill). It
never raises: two processes may reap the same orphans at once, so a container already gone (404)
or already being removed (409) counts as removed, as does a record another reaper deleted;
anything else becomes an error in the report, and the next start tries again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

LABEL = "policyforge.sandbox"
OWNER_LABEL = "policyforge.owner-pid"
OWNER_START_LABEL = "policyforge.owner-start"
OWNER_HOST_LABEL = "policyforge.owner-host"
DEADLINE_LABEL = "policyforge.deadline"
REAP_GRACE_SECONDS = 60.0
RUNNERS_DIR = "local-runners"

ALIVE, GONE, REUSED, UNKNOWN = "alive", "gone", "reused", "unknown"
_PROC = Path("/proc/self/stat").exists()


@lru_cache(maxsize=1)
def host_id() -> str:
    """This machine's boot and this process's pid namespace: where a pid means something."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = socket.gethostname()
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = ""
    return f"{boot}/{pid_ns}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks after boot) of ``pid``, None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """A process, named so that a reused pid or another host's pid is not mistaken for it."""

    pid: int
    start: int | None
    host: str

    @classmethod
    def of(cls, pid: int | None = None) -> Owner:
        """The owner record of ``pid`` (default: this process)."""
        pid = os.getpid() if pid is None else pid
        stat = _stat(pid)
        return cls(pid, stat[1] if stat else None, host_id())

    def status(self) -> str:
        """``alive``, ``gone`` (no such process, or a zombie), ``reused`` (the pid names a
        later process) or ``unknown`` (recorded on another host or pid namespace)."""
        if self.host != host_id():
            return UNKNOWN
        if not _PROC:
            return ALIVE if _signalable(self.pid) else GONE
        stat = _stat(self.pid)
        if stat is None or stat[0] in "ZX":
            return GONE
        if self.start is not None and stat[1] != self.start:
            return REUSED
        return ALIVE


def owner_labels(deadline_epoch: float, owner: Owner | None = None) -> dict[str, str]:
    """The labels of a sandbox container started by ``owner`` (default: this process), with its
    batch deadline."""
    me = owner or Owner.of()
    return {
        LABEL: "1",
        OWNER_LABEL: str(me.pid),
        OWNER_START_LABEL: "" if me.start is None else str(me.start),
        OWNER_HOST_LABEL: me.host,
        DEADLINE_LABEL: f"{deadline_epoch:.0f}",
    }


def _owner_from_labels(labels: dict[str, str]) -> Owner | None:
    try:
        pid = int(labels.get(OWNER_LABEL) or "")
    except ValueError:
        return None
    start = labels.get(OWNER_START_LABEL) or ""
    # A container from before host labels existed was made on this host (the old reaper's view).
    return Owner(pid, int(start) if start.isdigit() else None,
                 labels.get(OWNER_HOST_LABEL) or host_id())


def _deadline(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def orphaned(owner: Owner | None, deadline: float | None, now: float | None = None) -> bool:
    """Whether a sandbox is to be removed: its owner is gone, or its deadline long past (a
    sandbox with no readable owner or deadline was not made by a policyforge that lives)."""
    now = time.time() if now is None else now
    if deadline is None or owner is None or now > deadline + REAP_GRACE_SECONDS:
        return True
    return owner.status() in (GONE, REUSED)


@dataclass
class ReapReport:
    """What one reap removed, and what it could not."""

    containers: list[str] = field(default_factory=list)
    local_runners: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.local_runners or self.errors)

    def merge(self, other: ReapReport) -> ReapReport:
        """Add ``other``'s findings to this report."""
        self.containers += other.containers
        self.local_runners += other.local_runners
        self.errors += other.errors
        return self

    def summary(self) -> str:
        """One line per thing done or failed, for a start to print on stderr."""
        lines = []
        if self.containers:
            lines.append(f"note: removed {len(self.containers)} orphaned sandbox container(s) "
                         f"left by processes that are gone: {', '.join(self.containers)}")
        if self.local_runners:
            pids = ", ".join(str(p) for p in self.local_runners)
            lines.append(f"note: cleaned up {len(self.local_runners)} local sandbox runner(s) "
                         f"whose parent is gone (process groups {pids} killed)")
        lines += [f"warning: {e}" for e in self.errors]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain form for JSON."""
        return asdict(self)


def reap_orphans(client: Any | None = None) -> ReapReport:
    """Remove orphaned sandboxes, Docker and local; never raises (failures are in the report)."""
    report = ReapReport()
    for part in (reap_local_runners, lambda: reap_containers(client)):
        try:
            report.merge(part())
        except Exception as exc:  # noqa: BLE001 - a start must not fail for this; recorded
            report.errors.append(f"reaping orphaned sandboxes failed: {_first_line(exc)}")
    return report


# --- Docker -------------------------------------------------------------------------------------


def reap_containers(client: Any | None = None) -> ReapReport:
    """Remove the sandbox containers whose owner is gone or whose deadline is long past (no
    engine answering means nothing to reap)."""
    from sandbox.errors import EngineUnavailable

    report = ReapReport()
    if client is None:
        from sandbox.daemon import docker_client

        try:
            client = docker_client(timeout=10)
        except EngineUnavailable:
            return report
    try:
        # The low-level list: the SDK's ``containers.list`` inspects each container afterwards
        # and fails with NotFound when another process removes one in between.
        listed = client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
    except Exception as exc:  # noqa: BLE001 - recorded; the next start tries again
        report.errors.append(f"could not list sandbox containers: {_first_line(exc)}")
        return report
    now = time.time()
    for entry in listed:
        labels = entry.get("Labels") or {}
        if not orphaned(_owner_from_labels(labels), _deadline(labels.get(DEADLINE_LABEL)), now):
            continue
        cid = str(entry.get("Id", ""))
        try:
            remove_container(client, cid)
        except Exception as exc:  # noqa: BLE001 - recorded; the next start tries again
            report.errors.append(f"could not remove orphaned sandbox container {cid[:12]}: "
                                 f"{_first_line(exc)}")
            continue
        report.containers.append(cid[:12])
    return report


def remove_container(client: Any, container_id: str) -> None:
    """Force-remove a container; one already gone or already being removed counts as removed."""
    from docker.errors import APIError, NotFound

    from sandbox.daemon import retry_transient

    @retry_transient
    def once() -> None:
        try:
            client.api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if not _removal_in_progress(exc):
                raise

    once()


def _removal_in_progress(exc: Any) -> bool:
    text = str(getattr(exc, "explanation", "") or exc).lower()
    return getattr(exc, "status_code", None) == 409 and "in progress" in text


# --- local runners ------------------------------------------------------------------------------


def runners_dir() -> Path:
    """Where local runners are recorded (one JSON file each, under the state directory)."""
    from sandbox.daemon import state_dir

    path = state_dir() / RUNNERS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def register_local_runner(pid: int, deadline_epoch: float, parent: Owner | None = None) -> Path:
    """Record ``pid`` (a runner leading its own process group) as started by ``parent`` (default:
    this process), until ``deadline_epoch``; the caller deletes the record once the group is
    killed."""
    parent = parent or Owner.of()
    record = {"parent": asdict(parent), "runner": asdict(Owner.of(pid)),
              "deadline": deadline_epoch}
    folder = runners_dir()
    path = folder / f"{parent.pid}-{pid}.json"
    tmp = folder / f".{path.name}.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)  # a reaper never reads half a record
    return path


def reap_local_runners(folder: Path | None = None) -> ReapReport:
    """Kill the process groups of recorded local runners whose owner is gone or whose deadline is
    long past, and delete their records."""
    report = ReapReport()
    try:
        folder = runners_dir() if folder is None else folder
        paths = sorted(folder.glob("*.json"))
    except OSError as exc:
        report.errors.append(f"could not read the local-runner records: {exc}")
        return report
    now = time.time()
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            parent, runner = Owner(**record["parent"]), Owner(**record["runner"])
            deadline = float(record["deadline"])
        except FileNotFoundError:
            continue  # another reaper, or the owner itself, got there first
        except (OSError, ValueError, KeyError, TypeError) as exc:
            path.unlink(missing_ok=True)
            report.errors.append(f"removed an unreadable local-runner record {path}: {exc}")
            continue
        if not orphaned(parent, deadline, now):
            continue
        problem = _kill_group(runner)
        if problem:
            report.errors.append(problem)  # the record stays: the next start tries again
            continue
        path.unlink(missing_ok=True)
        report.local_runners.append(runner.pid)
    for tmp in folder.glob(".*.tmp"):  # a record whose writer died mid-write
        try:
            if now - tmp.stat().st_mtime > REAP_GRACE_SECONDS:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return report


def _kill_group(runner: Owner) -> str | None:
    """SIGKILL the runner's process group while it is still ours; why not, if it could not be.
    A pid is not reused while a process group of that id exists, so a group named by a runner
    that is gone is still its own."""
    status = runner.status()
    if status in (REUSED, UNKNOWN) or (runner.start is None and _PROC):
        return None  # not ours to signal
    try:
        os.killpg(runner.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        return f"could not stop the orphaned local runner group {runner.pid}: {exc}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
