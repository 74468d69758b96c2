"""Host-side verification: nothing the sandbox says is believed until the host recomputes it.

For each case the host replays the returned decision log with its own, trusted simulator on its
own params and trace, and accepts the case only if the statistics it computes equal the ones
the sandbox reported, compared as JSON text (so NaN equals NaN and every float must match bit
for bit). A policy that tampered with the simulator inside the sandbox, or a runner that forged
its output, cannot move a score: the host's numbers are the only ones reported, and a mismatch
makes the case unverifiable. The determinism check compares the first case's decision log with
the digest from its second, separate run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sandbox.protocol import CaseResult, DeterminismCheck
from sandbox.runner import decisions_digest


@dataclass
class CaseVerification:
    """The host's verdict on one case, with its trusted statistics when it agreed."""

    verified: bool
    stats: dict[str, Any] | None
    reason: str | None
    seconds: float
    replay: Any = None  # the host's SimulationResult when verified (for bounds fractions)


def canonical_stats(stats: dict[str, Any]) -> str:
    """Statistics as canonical JSON text (NaN-aware: ``NaN`` and ``Infinity`` literals)."""
    return json.dumps(stats, sort_keys=True)


def verify_case(params: dict[str, Any], trace: Any, result: CaseResult,
                profile: bool = False) -> CaseVerification:
    """Replay ``result``'s decisions on ``trace``; verified only if the statistics agree.

    With ``profile`` the replay also records the run profile (`simulator.profile`), so the
    profile of an untrusted policy comes from the host's own simulator.
    """
    from simulator.engine import run_simulation

    t0 = time.monotonic()
    if result.status != "ok" or result.stats is None or result.decisions is None:
        return CaseVerification(False, None, "the sandbox returned no statistics and decisions",
                                0.0)
    try:
        replay = run_simulation(params, trace, replay=result.decisions, profile=profile)
        trusted = replay.stats_json()
    except Exception as exc:  # noqa: BLE001 - any replay failure makes the case unverifiable
        return CaseVerification(
            False, None, f"the decision log does not replay: {type(exc).__name__}: {exc}"[:500],
            time.monotonic() - t0,
        )
    seconds = time.monotonic() - t0
    if canonical_stats(trusted) == canonical_stats(result.stats):
        return CaseVerification(True, trusted, None, seconds, replay)
    differing = sorted(
        k for k in set(trusted) | set(result.stats)
        if canonical_stats({k: trusted.get(k)}) != canonical_stats({k: result.stats.get(k)})
    )
    return CaseVerification(
        False, None,
        f"the reported statistics differ from the host's replay of the decision log "
        f"(fields: {', '.join(differing[:8])})",
        seconds,
    )


def determinism_problem(first: CaseResult | None, check: DeterminismCheck | None) -> str | None:
    """Why the policy is non-deterministic, or None when both runs decided the same."""
    if first is None or check is None:
        return None
    if first.status != "ok" or check.status != "ok":
        # a run the batch's deadline cut short says nothing about the policy's decisions
        cut_short = {first.status, check.status} & {"timeout", "skipped"}
        if first.status != check.status and not cut_short:
            return (f"non-deterministic policy: on {first.name} one run ended {first.status!r}, "
                    f"a second run {check.status!r}")
        return None
    if check.decisions_sha256 != decisions_digest(first.decisions):
        return (f"non-deterministic policy: two runs of {first.name} in separate processes made "
                "different decisions (ordering by id() or hash(), unseeded randomness, or "
                "reading the wall clock?)")
    return None
