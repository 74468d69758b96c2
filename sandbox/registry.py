"""The sandbox backends by name: ``docker``, ``local``, and ``auto`` (Docker when an engine answers,
else the local backend). Each backend is a small module implementing `sandbox.backend.Backend`;
this table and its factory are the one place that chooses between them.
"""

from __future__ import annotations

import importlib
from typing import Any

from sandbox.backend import Backend

# kind -> "module:class"; each loads only when chosen (the Docker SDK is not cheap to import).
BACKENDS = {
    "docker": "sandbox.docker_backend:DockerBackend",
    "local": "sandbox.local_backend:LocalBackend",
}
KINDS = ("auto", *BACKENDS)


def resolve_kind(kind: str) -> str:
    """``docker`` or ``local`` for ``kind`` (``auto``: Docker when an engine answers)."""
    if kind == "auto":
        from sandbox.daemon import engine_answers

        return "docker" if engine_answers() else "local"
    if kind not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def choose_backend(kind: str, *, labels: dict[str, str] | None = None,
                   warn: bool = True, keep_spare: bool = False) -> Backend:
    """A ready backend for ``--sandbox auto|docker|local``.

    ``labels`` go on every Docker container (run and candidate, so a cancelled task's can be
    found); ``warn=False`` keeps the local backend's isolation warning off stderr (a Ray worker's
    caller prints it once instead); ``keep_spare``: a Docker backend that evaluates one batch
    after another (a run's) starts each next container while the caller does other work (see
    `sandbox.docker_backend`); close it when done.
    """
    resolved = resolve_kind(kind)
    module_name, class_name = BACKENDS[resolved].split(":")
    options: dict[str, Any] = ({"labels": labels, "keep_spare": keep_spare}
                               if resolved == "docker" else {"warn": warn})
    backend: Backend = getattr(importlib.import_module(module_name), class_name)(**options)
    return backend
