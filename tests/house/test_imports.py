"""Imports flow one way: front end → agents → tools → sandbox → traces → simulator, with no
cycle between modules (lazy imports inside functions count: they only hide a cycle)."""

from __future__ import annotations

from tests.house.imports import LAYERS, cycles, import_graph, layer


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps
                    if layer(d) > layer(m))
    assert upward == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_checker_sees_lazy_imports_and_every_layer() -> None:
    graph = import_graph()
    assert {m.split(".", 1)[0] for m in graph} == set(LAYERS)
    # `policyforge.commands.simulate` imports the engine inside a function only
    assert "simulator.engine" in graph["policyforge.commands.simulate"]


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
