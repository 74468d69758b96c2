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
    # Pin the batch to these CPUs ("0", "0,2", "0-1"): the sandbox (Docker's cpuset; the local
    # runner inherits it) and the host's replay of its cases. None: wherever the OS puts them.
    cpuset: str | None = None

    @property
    def workers(self) -> int:
        """Cases run in parallel inside the sandbox: one per whole CPU."""
        return max(1, int(self.cpus))

    @property
    def runner_deadline(self) -> float:
        """The runner's own deadline, a little before the host's kill, so it can report which
        case ran out of time."""
        return max(1.0, self.timeout_seconds - min(3.0, self.timeout_seconds * 0.2))


def cpu_set(text: str) -> set[int]:
    """The CPUs a cpuset string names (``"0-2,5"`` -> {0, 1, 2, 5}); ValueError if malformed."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        first, last = int(lo), int(hi) if sep else int(lo)
        if first < 0 or last < first:
            raise ValueError(f"bad cpuset {text!r}")
        out.update(range(first, last + 1))
    return out


def on_lane(limits: Limits, lane: int, at_once: int) -> Limits:
    """``limits`` pinned to worker lane ``lane``'s CPUs (1-based) when ``at_once`` evaluations
    share this machine: each lane its own ``limits.cpus`` CPUs, round the machine's, so two
    evaluations never compete for a core (measured: unpinned, 2 workers were slower than 1)."""
    import dataclasses

    n = os.cpu_count() or 1
    if at_once <= 1 or n <= 1:
        return limits
    width = max(1, int(limits.cpus))
    first = ((lane - 1) * width) % n
    cpus = sorted({(first + i) % n for i in range(width)})
    return dataclasses.replace(limits, cpuset=",".join(map(str, cpus)))


def default_limits(timeout_seconds: float = 120.0, at_once: int = 1) -> Limits:
    """Limits sized to this machine: at most 2 CPUs, and no more than its share when
    ``at_once`` evaluations run on it together (``--workers N`` on an embedded Ray: N on 2
    CPUs get 1 each, so they do not fight over the cores and N workers are never slower)."""
    share = max(1, (os.cpu_count() or 1) // max(1, at_once))
    return Limits(timeout_seconds=timeout_seconds, cpus=float(min(2, share)))


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
