"""What model tokens cost: a built-in table of OpenAI list prices the user can extend or override.

The user's file (TOML) adds or overrides models::

    [models."gpt-4.1"]
    input_per_mtok = 2.0      # USD per million input tokens
    output_per_mtok = 8.0     # USD per million output tokens

    [models."llama3.1:8b"]    # a self-hosted model: free because the user says so
    input_per_mtok = 0
    output_per_mtok = 0

A model missing from the table costs 0.0 but is not `PriceTable.known`, so the CLI can warn,
and refuse a dollar budget it could not enforce.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.errors import AgentError

PRICES_ENV = "POLICYFORGE_PRICES"
DEFAULT_PRICES_PATH = Path("~/.config/policyforge/prices.toml")


class Price(BaseModel):
    """List price of one model, USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


# OpenAI's public list prices (standard tier, USD per million tokens) at the time of writing.
# They change: a user's prices file overrides any of them (see `PriceTable.load`).
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60),
    "gpt-4.1-nano": Price(input_per_mtok=0.10, output_per_mtok=0.40),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60),
    "o3": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "o4-mini": Price(input_per_mtok=1.10, output_per_mtok=4.40),
    "gpt-5": Price(input_per_mtok=1.25, output_per_mtok=10.00),
    "gpt-5-mini": Price(input_per_mtok=0.25, output_per_mtok=2.00),
    "gpt-5-nano": Price(input_per_mtok=0.05, output_per_mtok=0.40),
}

# A dated snapshot ("gpt-4o-2024-08-06") costs what its family name costs.
_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PricingError(AgentError):
    """A bad prices file; the message names the file and the field."""


class PriceTable:
    """Model name → `Price`: the built-in list prices overridden by the user's."""

    def __init__(self, prices: Mapping[str, Price] | None = None, *, builtin: bool = True) -> None:
        self._prices: dict[str, Price] = dict(BUILTIN_PRICES) if builtin else {}
        self._prices.update(prices or {})

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Built-in prices plus the user's file: ``path``, else $POLICYFORGE_PRICES, else
        ~/.config/policyforge/prices.toml when it exists. A named file must exist."""
        if path is None and os.environ.get(PRICES_ENV):
            path = os.environ[PRICES_ENV]
        if path is None:
            default = DEFAULT_PRICES_PATH.expanduser()
            return cls(read_prices_file(default)) if default.is_file() else cls()
        return cls(read_prices_file(Path(path)))

    def price(self, model: str) -> Price | None:
        """The model's price (exact name first, then without a date suffix), or None."""
        if model in self._prices:
            return self._prices[model]
        return self._prices.get(_SNAPSHOT_SUFFIX.sub("", model))

    def known(self, model: str) -> bool:
        """Whether the table prices ``model`` (a free local model counts as known)."""
        return self.price(model) is not None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """USD for these tokens; 0.0 for an unknown model (check `known` to tell them apart)."""
        price = self.price(model)
        if price is None:
            return 0.0
        return (input_tokens * price.input_per_mtok
                + output_tokens * price.output_per_mtok) / 1_000_000

    def with_price(self, model: str, price: Price) -> PriceTable:
        """A copy of this table with ``model`` priced at ``price``."""
        table = PriceTable(builtin=False)
        table._prices = {**self._prices, model: price}
        return table

    def models(self) -> list[str]:
        """Every model name the table prices, sorted."""
        return sorted(self._prices)


def read_prices_file(path: Path) -> dict[str, Price]:
    """The ``[models."name"]`` entries of a prices file; `PricingError` naming file and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PricingError(f"{path}: prices file not found") from None
    except OSError as exc:
        raise PricingError(f"{path}: cannot read prices file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{path}: not valid TOML: {exc}") from exc
    unexpected = sorted(set(data) - {"models"})
    if unexpected:
        raise PricingError(f"{path}: unknown top-level key {unexpected[0]!r}; prices go in "
                           '[models."MODEL"] tables')
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise PricingError(f'{path}: models: expected tables [models."MODEL"], got {models!r}')
    return {name: _parse_price(path, name, entry) for name, entry in models.items()}


def _parse_price(path: Path, name: str, entry: Any) -> Price:
    where = f'{path}: models."{name}"'
    if not isinstance(entry, dict):
        raise PricingError(f"{where}: expected a table with input_per_mtok and output_per_mtok")
    unexpected = sorted(set(entry) - set(Price.model_fields))
    if unexpected:
        raise PricingError(f"{where}.{unexpected[0]}: unknown field (expected input_per_mtok, "
                           "output_per_mtok)")
    values: dict[str, float] = {}
    for field in Price.model_fields:
        if field not in entry:
            raise PricingError(f"{where}.{field}: missing (USD per million tokens; 0 for a "
                               "free local model)")
        value = entry[field]
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise PricingError(f"{where}.{field}: expected a number >= 0 (USD per million "
                               f"tokens), got {value!r}")
        values[field] = float(value)
    return Price(**values)
