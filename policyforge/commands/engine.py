"""Where evaluations run and how many candidates a round has: the flags ``run``, ``chat`` and
``evaluate`` share (``--workers``, ``--ray-address``; ``--population`` for the agents' runs)."""

from __future__ import annotations

import argparse
from typing import Any


def add_engine_arguments(p: argparse.ArgumentParser, *, population: bool) -> None:
    """``--workers N`` and ``--ray-address ADDR`` (and ``--population K`` for a run)."""
    if population:
        p.add_argument("--population", type=int, default=1, metavar="K",
                       help="candidates per round, written and evaluated at once (default 1)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="evaluations at once: 1 runs them in this process (no Ray), N > 1 on "
                        "an embedded local Ray (default: 1, or RAY_ADDRESS's cluster)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="evaluate on this Ray cluster (default: RAY_ADDRESS when --workers is "
                        "not given)")


def engine_problem(args: Any) -> str | None:
    """What is wrong with the engine flags, or None."""
    from agents.run_config import MAX_POPULATION

    population = getattr(args, "population", 1)
    if population < 1 or population > MAX_POPULATION:
        return f"--population must be between 1 and {MAX_POPULATION}, got {population}"
    if args.workers is not None and args.workers < 1:
        return f"--workers must be at least 1, got {args.workers}"
    if args.workers is not None and args.ray_address is not None:
        return "give --workers (a local Ray) or --ray-address (a cluster), not both"
    return None
