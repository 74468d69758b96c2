"""The simulation clock (spec §5.1). Reads through its public methods are noticed by the engine."""

from __future__ import annotations


class ReadTracker:
    """Counts a policy's reads of time-varying values during one policy call."""

    __slots__ = ("reads",)

    def __init__(self) -> None:
        self.reads = 0


class SimClock:
    """Tick counter starting at -1; ``now_seconds() = ticks / ticks_per_second``."""

    def __init__(self, ticks_per_second: float, tracker: ReadTracker | None = None) -> None:
        self.ticks_per_second = ticks_per_second
        self._ticks = -1
        self._tracker = tracker or ReadTracker()

    def now_ticks(self) -> int:
        """The current tick."""
        self._tracker.reads += 1
        return self._ticks

    def now_seconds(self) -> float:
        """The current simulated time in seconds."""
        self._tracker.reads += 1
        return self._ticks / self.ticks_per_second

    def tick(self) -> None:
        """Advance one tick."""
        self._ticks += 1
