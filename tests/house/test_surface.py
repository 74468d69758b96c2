"""Each package's public surface is explicit: its ``__all__`` names resolve, and every import
from another package goes through a name in it (the rest is internal)."""

from __future__ import annotations

import importlib

import pytest

from tests.house.imports import LAYERS, import_graph


@pytest.mark.parametrize("package", LAYERS)
def test_every_name_in_all_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert names and len(names) == len(set(names))
    for name in names:
        if not hasattr(module, name):
            importlib.import_module(f"{package}.{name}")  # a public submodule


def test_other_packages_import_only_the_public_surface() -> None:
    surfaces = {p: set(importlib.import_module(p).__all__) for p in LAYERS}
    private = sorted(
        f"{m} -> {d}" for m, deps in import_graph().items() for d in deps
        if d.split(".")[0] != m.split(".")[0] and "." in d
        and d.split(".")[1] not in surfaces[d.split(".")[0]])
    assert private == []
