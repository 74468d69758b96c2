"""One process per run: a lock on ``run.lock`` in the run folder, held while the run works.

The lock is `fcntl.flock` on an open file, so the operating system releases it when the holder
dies, however it dies (kill -9 included): a run whose status says ``running`` but whose lock is
free has lost its process and is interrupted. The holder's pid is written into the file so a
refused second process can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from agents.errors import AgentError

LOCK_NAME = "run.lock"


class RunLocked(AgentError):
    """Another live process is working on this run."""

    kind = "run_locked"


class RunLock:
    """Hold a run's lock for the duration of a ``with`` block (`RunLocked` if it is taken)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now, or raise `RunLocked` naming the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise RunLocked(f"run {self.path.parent.name} is in use by {who} (a run, a resume or "
                            "a chat working on it); wait for it to finish or stop it first",
                            run=str(self.path.parent), pid=holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def holder_alive(run_dir: str | Path) -> bool:
    """Whether a live process holds the run's lock (never blocks, never takes it for long)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the shared lock if we got it
    return False


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
