"""Identity tokens: how a value snapshot of a policy's state names the simulator's own objects.

Every pipeline, operator, container, pool, decision and the like carries ``_snap``, a
``(same, (n,))`` pair with a number unique in the process. `simulator.state_compare` pickles a
policy's state with these pairs as the objects' reductions, so the simulator's objects are
compared by identity without calling back into Python, and a number is never reused even after
its object is gone (unlike ``id()``).
"""

from __future__ import annotations

import itertools
from typing import Any

_numbers = itertools.count(1)


def same(number: int) -> Any:
    """Never called: snapshots are compared as bytes, not unpickled."""
    raise TypeError(f"identity token {number} is not meant to be unpickled")


def token() -> tuple[Any, tuple[int]]:
    """A fresh identity token."""
    return (same, (next(_numbers),))
