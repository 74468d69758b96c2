"""The evaluations in flight: which candidate runs on which worker, since when.

With ``--workers N`` a population's candidates are evaluated at once; each evaluation takes the
lowest free worker lane (1..N) for as long as it runs, and waits while all N are busy (so
``--workers 1`` evaluates one candidate at a time even when a round's coders work at once). The
transcript's ``evaluation`` events (``worker``, ``started_s``, ``seconds``) so draw a timeline of
evaluations per worker, and whoever watches the run (``observer.evaluation_started`` and
``evaluation_finished``) sees each one as it starts and ends. A lane is where an evaluation
was counted, not a Ray worker process: Ray places the task on whichever of its workers is free.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class EvaluationBoard:
    """Evaluations in flight, by (candidate, suite part), each on a worker lane."""

    def __init__(self, workers: int = 1, observer: Any = None) -> None:
        self.workers = max(1, workers)
        self.observer = observer
        self._lock = threading.Condition()
        self._running: dict[tuple[int, str], tuple[int, float]] = {}

    def begin(self, candidate: int, part: str) -> int:
        """Candidate ``candidate``'s evaluation on ``part`` starts (once a lane is free): its
        worker lane."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._running) < self.workers)
            busy = {lane for lane, _ in self._running.values()}
            lane = next(i for i in range(1, self.workers + 1) if i not in busy)
            self._running[(candidate, part)] = (lane, time.monotonic())
        self._tell("evaluation_started", candidate, part, lane)
        return lane

    def end(self, candidate: int, part: str) -> None:
        """That evaluation ended (finished, failed or cut short)."""
        with self._lock:
            lane, t0 = self._running.pop((candidate, part), (0, time.monotonic()))
            self._lock.notify_all()
        self._tell("evaluation_finished", candidate, part, lane, time.monotonic() - t0)

    def running(self) -> list[tuple[int, str, int, float]]:
        """(candidate, part, lane, seconds so far) of every evaluation in flight, by lane."""
        now = time.monotonic()
        with self._lock:
            items = [(c, p, lane, now - t0) for (c, p), (lane, t0) in self._running.items()]
        return sorted(items, key=lambda x: x[2])

    def _tell(self, method: str, *args: Any) -> None:
        fn = getattr(self.observer, method, None)
        if fn is not None:
            fn(*args)
