"""The one small protocol every sandbox backend follows, and what a run gives back.

A backend takes the request bytes, runs ``python3 -I -m sandbox.runner`` somewhere isolated with
the request on stdin, and returns the raw stdout (capped), a tail of stderr, and how it ended.
It never interprets the output: parsing (`sandbox.protocol`) and verification
(`sandbox.verify`) happen on the host, in `sandbox.evaluation`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

STDERR_TAIL = 4000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one batch."""

    timeout_seconds: float = 120.0
    memory_mb: int = 1024
    cpus: float = 2.0
    pids: int = 64
    tmpfs_mb: int = 64
    output_bytes: int = 32 * 1024 * 1024

    @property
    def workers(self) -> int:
        """Cases run in parallel inside the sandbox: one per whole CPU."""
        return max(1, int(self.cpus))

    @property
    def runner_deadline(self) -> float:
        """The runner's own deadline, a little before the host's kill, so it can report which
        case ran out of time."""
        return max(1.0, self.timeout_seconds - min(3.0, self.timeout_seconds * 0.2))


def default_limits(timeout_seconds: float = 120.0) -> Limits:
    """Limits sized to this machine: at most 2 CPUs (and no more than it has)."""
    return Limits(timeout_seconds=timeout_seconds, cpus=float(min(2, os.cpu_count() or 1)))


@dataclass
class RawRun:
    """How a batch ended, before anything it printed is believed."""

    stdout: bytes
    stderr_tail: str
    exit_code: int | None
    timed_out: bool = False
    output_overflow: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Backend(Protocol):
    """A place to run the runner: Docker, or a local process."""

    name: str
    isolation: str
    image: str | None

    def run(self, request: bytes, limits: Limits) -> RawRun:
        """Run one batch; always returns (a timeout or overflow is a field, not an error)."""
        ...


class OutputBuffer:
    """Collects stdout up to a cap and the tail of stderr."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.err = b""

    def out(self, data: bytes) -> bool:
        """Add stdout bytes; False once the cap is passed (the caller then stops the run)."""
        if self.size + len(data) > self.cap:
            self.overflow = True
            return False
        self.chunks.append(data)
        self.size += len(data)
        return True

    def errput(self, data: bytes) -> None:
        """Add stderr bytes, keeping only the tail."""
        self.err = (self.err + data)[-STDERR_TAIL:]

    @property
    def stdout(self) -> bytes:
        """Everything kept so far."""
        return b"".join(self.chunks)

    @property
    def stderr_tail(self) -> str:
        """The last few thousand characters of stderr."""
        return self.err.decode("utf-8", "replace")
