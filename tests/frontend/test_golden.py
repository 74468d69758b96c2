"""The front door is unchanged: every ``--help``, exit code (with its stderr) and JSON shape
equals its golden snapshot (regenerate with ``python -m tests.frontend.golden --write`` after an
intended change, and name it in the commit)."""

from __future__ import annotations

import pytest

from tests.frontend.golden import GOLDEN, snapshot


@pytest.fixture(scope="module")
def current() -> dict[str, str]:
    return snapshot()


def test_every_golden_file_is_still_produced(current: dict[str, str]) -> None:
    stored = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file()}
    assert stored == set(current)


def test_help_texts_are_unchanged(current: dict[str, str]) -> None:
    for rel, text in sorted(current.items()):
        if rel.startswith("help/"):
            assert text == (GOLDEN / rel).read_text(encoding="utf-8"), rel


def test_exit_codes_and_messages_are_unchanged(current: dict[str, str]) -> None:
    assert current["exit_codes.json"] == (GOLDEN / "exit_codes.json").read_text(encoding="utf-8")


def test_json_shapes_are_unchanged(current: dict[str, str]) -> None:
    assert current["json_shapes.json"] == (GOLDEN / "json_shapes.json").read_text(
        encoding="utf-8")
