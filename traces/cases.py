"""What a suite's case and summary are, shared by the built-in suites (`traces.suites`) and the
user's own (`traces.user_suites`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEARCH, HELD_OUT = "search", "held-out"


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` as 64 hex digits (what pins and suite records hold)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SuiteCase:
    """One (params, trace) pair of a suite; ``params`` is complete (every Eudoxia key)."""

    name: str
    params: dict[str, Any]
    trace_path: Path
    seed: int
    pipelines: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class SuiteInfo:
    """A suite at a glance: what ``policyforge traces suites`` lists."""

    name: str
    version: int
    description: str
    search_cases: int
    held_out_cases: int
    min_pipelines: int
    max_pipelines: int
    cache_dir: Path
    cache_state: str
    user: bool = False  # the user's own suite (`traces.user_suites`), not one defined here
