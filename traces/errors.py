"""The traces package's exception hierarchy: each error names the suite, case or file at fault."""

from __future__ import annotations

from typing import Any


class TracesError(Exception):
    """Base class of every error the traces package raises on purpose."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({where})" if where else self.message


class SuiteError(TracesError):
    """An unknown suite, an unusable cache folder, or a suite whose traces no longer match."""
