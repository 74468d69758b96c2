"""One switch that turns Python's automatic cyclic garbage collector off while work runs.

A run, and the reading of a trace, allocate many long-lived objects (pipelines, operators,
containers, rows); the automatic collector would rescan them over and over: a third of a short
run, two thirds of reading a trace. Reference counting still frees everything acyclic at once.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = [0, False]  # holders in progress, and whether the collector was enabled before them


@contextlib.contextmanager
def no_automatic_gc() -> Iterator[None]:
    """No automatic cyclic garbage collection inside the block.

    Nested and concurrent holders share one switch: the first to enter turns the collector off,
    the last to leave restores what it was. A long holder that may make cycles collects the
    youngest generation itself (the engine does, every 8192 full ticks).
    """
    with _lock:
        if _depth[0] == 0:
            _depth[1] = gc.isenabled()
            gc.disable()
        _depth[0] += 1
    try:
        yield
    finally:
        with _lock:
            _depth[0] -= 1
            if _depth[0] == 0 and _depth[1]:
                gc.enable()
