"""Identity tokens: how a value snapshot of a policy's state names the simulator's own objects.

Every pipeline, operator, container, pool, decision and the like carries ``_snap``, a
``(same, (n,))`` pair with a number unique in the process. `simulator.state_compare` pickles a
policy's state with these pairs as the objects' reductions, so the simulator's objects are
compared by identity without calling back into Python, and a number is never reused even after
its object is gone (unlike ``id()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

_numbers = itertools.count(1)


def same(number: int) -> Any:
    """Never called: snapshots are compared as bytes, not unpickled."""
    raise TypeError(f"identity token {number} is not meant to be unpickled")


def token() -> tuple[Any, tuple[int]]:
    """A fresh identity token."""
    return (same, (next(_numbers),))


class OnFirstRead:
    """A class attribute whose per-instance value is made on the instance's first read and kept
    in its ``__dict__``, which then shadows this non-data descriptor (later reads cost a plain
    attribute load; an assignment simply replaces the value).

    For what most of a run's tens of thousands of objects never need: an identity token
    (``_snap = OnFirstRead("_snap", token)``; only a snapshot reads it) or an operator's estimate.
    """

    __slots__ = ("factory", "name")

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self.factory = factory

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.factory()
        return value
