"""Keep secrets out of everything a run writes: transcripts, run.json, reports, errors.

A secret is the value of an environment variable whose name says it holds one (``*_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``) or that the caller names (a role's ``api_key_env``).
Short values (under 8 characters) are left alone: replacing "true" or "1" everywhere would
mangle transcripts without protecting anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"


def secret_values(extra_env_names: Iterable[str] = ()) -> list[str]:
    """Values of secret-holding environment variables, longest first (none left half-hidden)."""
    names = set(extra_env_names)
    values = {value for name, value in os.environ.items()
              if (name.upper().endswith(SECRET_SUFFIXES) or name in names)
              and len(value) >= MIN_SECRET_LENGTH}
    return sorted(values, key=lambda v: (-len(v), v))


def scrub(obj: Any, secrets: Iterable[str] | None = None) -> Any:
    """A deep copy of ``obj`` (str, dict, list, tuple) with every secret replaced by "[redacted]".

    ``secrets`` defaults to `secret_values()` read now. Dict keys are scrubbed too; other values
    (numbers, None, booleans) are returned as they are.
    """
    values = secret_values() if secrets is None else list(secrets)
    # A secret inside already-serialised JSON (tool arguments, error bodies) appears escaped.
    forms = {form for v in values if v for form in (v, json.dumps(v)[1:-1])}
    return _scrub(obj, sorted(forms, key=lambda v: (-len(v), v)))


def _scrub(obj: Any, values: list[str]) -> Any:
    if isinstance(obj, str):
        for value in values:
            if value in obj:
                obj = obj.replace(value, REDACTED)
        return obj
    if isinstance(obj, dict):
        return {_scrub(k, values): _scrub(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v, values) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_scrub(v, values) for v in obj)
    return obj
