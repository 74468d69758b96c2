"""The price table: built-in list prices, the user's TOML file, unknown models."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.pricing import BUILTIN_PRICES, Price, PriceTable, PricingError

CONTRACT_MODELS = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini", "gpt-5",
                   "gpt-5-mini")


@pytest.fixture(autouse=True)
def no_user_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's own prices file or variable."""
    monkeypatch.delenv("POLICYFORGE_PRICES", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("model", CONTRACT_MODELS)
def test_common_openai_models_are_priced(model: str) -> None:
    price = PriceTable().price(model)
    assert price is not None and 0 < price.input_per_mtok <= price.output_per_mtok


def test_cost_is_tokens_times_price_per_million() -> None:
    table = PriceTable({"m": Price(input_per_mtok=2.0, output_per_mtok=8.0)})
    assert table.cost("m", 1_000_000, 500_000) == pytest.approx(6.0)
    assert table.cost("m", 0, 0) == 0.0


def test_dated_snapshot_costs_what_its_family_costs() -> None:
    table = PriceTable()
    assert table.price("gpt-4o-mini-2024-07-18") == BUILTIN_PRICES["gpt-4o-mini"]
    assert table.price("gpt-4o-2024-08-06") == BUILTIN_PRICES["gpt-4o"]


def test_unknown_model_costs_nothing_but_is_not_known() -> None:
    table = PriceTable()
    assert table.price("my-llama") is None and not table.known("my-llama")
    assert table.cost("my-llama", 10**6, 10**6) == 0.0
    assert table.known("gpt-4.1")


def test_load_without_any_file_is_the_builtin_table() -> None:
    assert PriceTable.load().models() == sorted(BUILTIN_PRICES)


def test_user_file_adds_a_free_local_model_and_overrides_a_list_price(tmp_path: Path) -> None:
    path = write(tmp_path, '''
[models."llama3.1:8b"]
input_per_mtok = 0
output_per_mtok = 0

[models."gpt-4.1"]
input_per_mtok = 1.5
output_per_mtok = 6
''')
    table = PriceTable.load(path)
    assert table.known("llama3.1:8b") and table.cost("llama3.1:8b", 10**6, 10**6) == 0.0
    assert table.price("gpt-4.1") == Price(input_per_mtok=1.5, output_per_mtok=6.0)
    assert table.price("gpt-4o") == BUILTIN_PRICES["gpt-4o"]


def test_load_reads_the_environment_variable_then_the_config_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = '[models."{}"]\ninput_per_mtok = 1\noutput_per_mtok = 1\n'
    config = tmp_path / "home" / ".config" / "policyforge" / "prices.toml"
    config.parent.mkdir(parents=True)
    config.write_text(entry.format("from-config"), encoding="utf-8")
    assert PriceTable.load().known("from-config")
    monkeypatch.setenv("POLICYFORGE_PRICES", str(write(tmp_path, entry.format("from-env"))))
    table = PriceTable.load()
    assert table.known("from-env") and not table.known("from-config")
    assert PriceTable.load(write(tmp_path, entry.format("explicit"), "x.toml")).known("explicit")


def test_named_file_that_does_not_exist_is_an_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYFORGE_PRICES", str(tmp_path / "gone.toml"))
    with pytest.raises(PricingError, match="gone.toml: prices file not found"):
        PriceTable.load()


@pytest.mark.parametrize("text, message", [
    ('[models."m"]\ninput_per_mtok = 1\n', r'models\."m"\.output_per_mtok: missing'),
    ('[models."m"]\ninput_per_mtok = "cheap"\noutput_per_mtok = 1\n',
     r'models\."m"\.input_per_mtok: expected a number >= 0.*cheap'),
    ('[models."m"]\ninput_per_mtok = -1\noutput_per_mtok = 1\n', r"input_per_mtok: expected"),
    ('[models."m"]\ninput_per_mtok = true\noutput_per_mtok = 1\n', r"input_per_mtok: expected"),
    ('[models."m"]\ninput_per_mtok = 1\noutput_per_mtok = 1\ncached_per_mtok = 1\n',
     r'models\."m"\.cached_per_mtok: unknown field'),
    ('[prices."m"]\ninput_per_mtok = 1\n', r"unknown top-level key 'prices'"),
    ('models = 3\n', r"models: expected tables"),
    ('[models]\nm = 3\n', r'models\."m": expected a table'),
    ('[models."m"\n', r"not valid TOML"),
])
def test_bad_file_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PricingError, match=message) as error:
        PriceTable.load(path)
    assert str(path) in str(error.value)


def test_with_price_returns_a_new_table() -> None:
    table = PriceTable()
    free = table.with_price("local", Price(input_per_mtok=0, output_per_mtok=0))
    assert free.known("local") and not table.known("local") and free.known("gpt-5")
