"""The memory ledger's typed loop (`simulator.executor.pool.ledger_row_sums`) against the
reference it replaces: numpy's sequential ``cumsum`` over the tick-major grid of deltas.

In the compiled process this checks the C loop `pool.pxd` types; in the pure Python one
(`test_native` runs this file there too) the same source as plain Python. Equality is bit for
bit (the float64 patterns), so a reordered, fused or skipped addition fails.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.executor.pool import ledger_row_sums


def reference(columns: list[np.ndarray], start: float) -> np.ndarray:
    """The ledger after each tick: start, then tick by tick each column's delta (0.0 once a
    column has ended), in column order, one rounded addition at a time."""
    rows = max(len(c) for c in columns)
    m = len(columns)
    flat = np.zeros(rows * m + 1)
    grid = flat[1:].reshape(rows, m)
    for i, col in enumerate(columns):
        grid[: len(col), i] = col
    flat[0] = start
    return flat.cumsum()[::m]


def typed(columns: list[np.ndarray], start: float) -> np.ndarray:
    lens = np.array([len(c) for c in columns], dtype=np.intp)
    rows = int(lens.max())
    flat = np.concatenate([*columns, np.full(3, np.nan)])  # a longer buffer, as the pool's
    out = np.full(rows + 4, np.nan)
    ledger_row_sums(flat, lens, rows, start, out)
    assert np.isnan(out[rows + 1:]).all()  # nothing past the plan is written
    return out[: rows + 1]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


DELTA = st.floats(min_value=-600.0, max_value=600.0, allow_nan=False, allow_infinity=False)
COLUMN = st.lists(DELTA, min_size=1, max_size=40).map(lambda xs: np.array(xs, dtype=np.float64))


@settings(max_examples=300, deadline=None)
@given(columns=st.lists(COLUMN, min_size=1, max_size=6),
       start=st.one_of(st.floats(min_value=0.0, max_value=1e6), st.just(-0.0), st.just(0)))
def test_typed_ledger_is_the_cumsum_bit_for_bit(columns: list[np.ndarray], start: float) -> None:
    assert same_bits(typed(columns, start), reference(columns, start))


def test_a_growth_ledger_with_rounding_ties_matches() -> None:
    # what a pool adds: differences of memory steps near a large running total, where
    # round-half-to-even ties are common and every addition's rounding depends on the last
    tl, scan = 1e-4, 0.2
    js = np.arange(5001)
    steps = []
    for storage in (37.5, 91.25, 3.0):
        mem = (js + 1) * tl * scan
        io = int(storage / (tl * scan))
        mem = mem[: io + 1].copy()
        mem[-1] = storage
        d = np.empty(len(mem))
        d[0] = 0.0
        np.subtract(mem[1:], mem[:-1], out=d[1:])
        steps.append(d[1:])
    for start in (0.0, 255.99999999, 409.6000000001):
        got = typed(steps, start)
        assert same_bits(got, reference(steps, start))
        assert got[-1] != start  # it moved


def test_the_ends_of_the_plan_are_the_start_and_the_total() -> None:
    cols = [np.array([0.5, 0.25]), np.array([1.0])]
    out = typed(cols, 2.0)
    assert out.tolist() == [2.0, 3.5, 3.75]
