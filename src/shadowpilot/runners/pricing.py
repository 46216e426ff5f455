"""Cost per turn: USD per million tokens, from a built-in table the tenant config can override.

The table holds defaults only: list prices for standard (non-batch, uncached) input and
output tokens as OpenAI published them. Prices change and gateways resell at other
rates, so `[prices."model"] input = ..., output = ...` in shadowpilot.toml wins over
these. A model in neither place has no cost (None), never a guessed one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..config import ModelPrice

# Defaults, USD per 1M tokens (input, output). Overridable per model in [prices].
DEFAULT_PRICES: dict[str, ModelPrice] = {
    name: ModelPrice(input=inp, output=out)
    for name, (inp, out) in {
        "gpt-5": (1.25, 10.00),
        "gpt-5-mini": (0.25, 2.00),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "o3": (2.00, 8.00),
        "o3-mini": (1.10, 4.40),
        "o4-mini": (1.10, 4.40),
        "gpt-4-turbo": (10.00, 30.00),
        "gpt-3.5-turbo": (0.50, 1.50),
    }.items()
}

# A dated snapshot: gpt-4o-mini-2024-07-18, gpt-4-0613.
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


def price_for(model: str, overrides: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of `model`: the config's override first, then the table; dated variants match their base."""
    overrides = overrides or {}
    base = _DATED.sub("", model)
    for name in (model, base):
        if name in overrides:
            return overrides[name]
    for name in (model, base):
        if name in DEFAULT_PRICES:
            return DEFAULT_PRICES[name]
    return None


def cost_usd(
    model: str, tokens_in: int | None, tokens_out: int | None, overrides: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """USD for one request, or None when the model's price or the token counts are unknown."""
    price = price_for(model, overrides)
    if price is None or tokens_in is None or tokens_out is None:
        return None
    return (tokens_in * price.input + tokens_out * price.output) / 1_000_000
