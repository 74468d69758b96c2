"""Errors of the heuristic proposer."""

from __future__ import annotations


class HeuristicError(Exception):
    """A heuristic-proposer input that cannot be used (bad key, no cases to evaluate)."""
