"""Short, bounded text for a model: rounded numbers, aligned tables, a hard length cap."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Every tool result stays under this many characters (api_reference has its own, larger cap).
LIMIT = 2500


def num(value: float | int | None) -> str:
    """A number rounded for reading: integers as they are, floats to about 3 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return num(int(value))
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def pct(fraction: float | None) -> str:
    """A fraction as a whole percentage (``0.537`` -> ``54%``)."""
    if fraction is None or not math.isfinite(fraction):
        return "-"
    return f"{100 * fraction:.0f}%"


def signed(value: float) -> str:
    """A difference with its sign (``+12``, ``-0.5``)."""
    return ("+" if value > 0 else "") + num(value)


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows of cells as left-aligned columns (the first row is the header)."""
    if not rows:
        return []
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def cap(text: str, limit: int = LIMIT) -> str:
    """``text`` cut at a line boundary to at most ``limit`` characters, saying that it was cut."""
    if len(text) <= limit:
        return text
    note = "\n… (truncated: {} more characters)"
    room = limit - len(note.format(len(text)))
    cut = text.rfind("\n", 0, room)
    if cut < room // 2:  # one very long line: cut inside it
        cut = room
    return text[:cut] + note.format(len(text) - cut)
