"""Traces: generator, suites, profiles and bounds."""

# The modules other packages may import (tests/house/test_surface.py guards it).
__all__ = [
    "bounds", "builtin_runs", "cases", "errors", "generator", "metrics", "plots", "profile",
    "suites", "user_suites",
]
