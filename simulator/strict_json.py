"""Strict JSON: no ``NaN`` or ``Infinity`` in what we print for other programs.

Python's `json` writes non-finite floats as the bare words ``NaN``, ``Infinity`` and
``-Infinity``, which RFC 8259 does not allow and strict parsers (JavaScript's ``JSON.parse``,
``jq``, most non-Python tools) reject. `strict` replaces each non-finite number by ``null`` and,
when the number is a value of an object, adds a sibling field ``<key>_note`` saying why::

    {"adjusted_latency": nan}  ->  {"adjusted_latency": null,
                                    "adjusted_latency_note": "NaN: undefined, ..."}

A non-finite number inside a list becomes ``null`` and is noted on the key that holds the list
(``"<key>_note": "items 0, 3: ..."``). `dumps` is `json.dumps` of `strict` with
``allow_nan=False``, so anything non-finite that `strict` did not see (e.g. a value produced by
a ``default=`` hook) fails loudly instead of printing invalid JSON.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

NAN_NOTE = "NaN: undefined, computed over nothing (e.g. a latency when no pipeline completed)"
INF_NOTE = "Infinity: unbounded (e.g. a ratio over zero)"
NEG_INF_NOTE = "-Infinity: unbounded below (e.g. a ratio over zero)"


def why_not_finite(value: float) -> str:
    """The default note for a non-finite number: which one it was and what it usually means."""
    if math.isnan(value):
        return NAN_NOTE
    return INF_NOTE if value > 0 else NEG_INF_NOTE


def strict(obj: Any, notes: Mapping[str, str] | None = None) -> Any:
    """A copy of a JSON-like value with every non-finite float replaced by ``None``.

    Each replaced value of a dict gains a sibling ``<key>_note`` (``notes[key]`` when given,
    else `why_not_finite`); an existing ``<key>_note`` is kept and the reason appended. Tuples
    become lists; other values are returned unchanged.
    """
    notes = notes or {}
    if isinstance(obj, Mapping):
        return _strict_mapping(obj, notes)
    if isinstance(obj, list | tuple):
        return [strict(item, notes) for item in obj]
    return None if _non_finite(obj) else obj


def dumps(obj: Any, notes: Mapping[str, str] | None = None, **kw: Any) -> str:
    """`json.dumps` of ``strict(obj, notes)`` with ``allow_nan=False`` (keyword arguments pass
    through, e.g. ``indent`` and ``default``)."""
    kw["allow_nan"] = False
    return json.dumps(strict(obj, notes), **kw)


def _strict_mapping(obj: Mapping[Any, Any], notes: Mapping[str, str]) -> dict[Any, Any]:
    reasons = {f"{key}_note": why for key, value in obj.items()
               if (why := _reason(key, value, notes))}
    out: dict[Any, Any] = {}
    for key, value in obj.items():
        note_key = f"{key}_note"
        if key in reasons:  # a note of its own, on a key the input already had
            existing = value if isinstance(value, str) and value else None
            out[key] = f"{existing}; {reasons[key]}" if existing else reasons[key]
            continue
        out[key] = strict(value, notes)
        if note_key in reasons and note_key not in obj:
            out[note_key] = reasons[note_key]  # right after the value it explains
    return out


def _reason(key: Any, value: Any, notes: Mapping[str, str]) -> str | None:
    """Why ``value`` (under ``key``) loses numbers, or None when it loses none."""
    if _non_finite(value):
        return notes.get(str(key)) or why_not_finite(float(value))
    if not isinstance(value, list | tuple):
        return None
    bad = _non_finite_items(value)
    if not bad:
        return None
    where = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
    reason = notes.get(str(key)) or why_not_finite(float(value[bad[0]]))
    return f"item{'s' if len(bad) > 1 else ''} {where}: {reason}"


def _non_finite_items(values: list[Any] | tuple[Any, ...]) -> list[int]:
    return [i for i, v in enumerate(values) if _non_finite(v)]


def _non_finite(value: Any) -> bool:
    """A float (Python's, or numpy's floating scalars) that is NaN or infinite."""
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return False
    if isinstance(value, numbers.Real):
        return not math.isfinite(float(value))
    return False
