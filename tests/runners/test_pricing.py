"""The built-in price table, config overrides, and dated model names."""

from __future__ import annotations

import pytest

from shadowpilot.config import ModelPrice
from shadowpilot.runners.pricing import DEFAULT_PRICES, cost_usd, price_for


def test_common_models_have_default_prices() -> None:
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "gpt-5-mini"):
        price = price_for(model)
        assert price is not None and 0 < price.input <= price.output, model


def test_cost_is_tokens_times_price_per_million() -> None:
    price = DEFAULT_PRICES["gpt-4.1"]
    assert cost_usd("gpt-4.1", 2_000_000, 1_000_000) == pytest.approx(2 * price.input + price.output)
    assert cost_usd("gpt-4.1", 0, 0) == 0


@pytest.mark.parametrize(("dated", "base"), [("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-4.1-0414", "gpt-4.1")])
def test_dated_variants_cost_like_their_base(dated: str, base: str) -> None:
    assert price_for(dated) == DEFAULT_PRICES[base]


def test_override_wins_for_the_exact_name_then_the_base() -> None:
    cheap, exact = ModelPrice(input=0.01, output=0.02), ModelPrice(input=5, output=6)
    overrides = {"gpt-4o": cheap, "gpt-4o-2024-08-06": exact}
    assert price_for("gpt-4o", overrides) == cheap
    assert price_for("gpt-4o-2024-08-06", overrides) == exact
    assert price_for("gpt-4o-2024-11-20", overrides) == cheap
    assert cost_usd("my-finetune", 1_000_000, 0, {"my-finetune": ModelPrice(input=3, output=4)}) == pytest.approx(3)


def test_unknown_model_or_missing_usage_has_no_cost() -> None:
    assert price_for("llama-3.1-70b") is None
    assert cost_usd("llama-3.1-70b", 100, 100) is None
    assert cost_usd("gpt-4o", None, 100) is None
    # a prefix is not a match: a different product with its own price
    assert price_for("gpt-4o-mini-realtime-preview") is None
