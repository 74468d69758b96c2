"""The traces package's exception hierarchy: each error names the suite, case or file at fault."""

from __future__ import annotations

from simulator.errors import PolicyforgeError


class TracesError(PolicyforgeError):
    """Base class of every error the traces package raises on purpose."""

    kind = "traces_error"


class SuiteError(TracesError):
    """An unknown suite, an unusable cache folder, or a suite whose traces no longer match."""

    kind = "suite_error"
