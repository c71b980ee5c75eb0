"""What a Messages API reply cost: list prices per exact model id, from the platform's pricing page.

Prices are US dollars per million tokens (platform docs, "Pricing", model pricing table): base input,
cache writes for 5 minutes (1.25x input) and for 1 hour (2x input), cache hits (0.1x input), output.
They are looked up by exact model id (an alias such as `claude-sonnet-4-6`, or a dated snapshot id):
a prefix would price `claude-opus-4-6` like `claude-opus-4`, three times too high. A model not
listed has no price, and its cost reads "price unknown" rather than a guess.

The figure is an estimate: it leaves out the Batch API discount, data-residency and long-context
multipliers, server tools, and any negotiated rate. The invoice is the Console's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRICES", "Price", "price_of"]


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of one model."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    @classmethod
    def standard(cls, input: float, output: float) -> Price:
        """The pricing page's multipliers on the base input price: 1.25x, 2x and 0.1x."""
        return cls(input, output, input * 1.25, input * 2.0, input * 0.1)


_OPUS_4_5_ON = Price.standard(5.0, 25.0)
_OPUS_4_0_4_1 = Price.standard(15.0, 75.0)
_SONNET_4 = Price.standard(3.0, 15.0)
_HAIKU_4_5 = Price.standard(1.0, 5.0)
_HAIKU_3_5 = Price.standard(0.8, 4.0)

PRICES: dict[str, Price] = {
    "claude-opus-4-8": _OPUS_4_5_ON,
    "claude-opus-4-7": _OPUS_4_5_ON,
    "claude-opus-4-6": _OPUS_4_5_ON,
    "claude-opus-4-5": _OPUS_4_5_ON,
    "claude-opus-4-5-20251101": _OPUS_4_5_ON,
    "claude-opus-4-1": _OPUS_4_0_4_1,
    "claude-opus-4-1-20250805": _OPUS_4_0_4_1,
    "claude-opus-4-0": _OPUS_4_0_4_1,
    "claude-opus-4-20250514": _OPUS_4_0_4_1,
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4-5-20250929": _SONNET_4,
    "claude-sonnet-4-0": _SONNET_4,
    "claude-sonnet-4-20250514": _SONNET_4,
    "claude-haiku-4-5": _HAIKU_4_5,
    "claude-haiku-4-5-20251001": _HAIKU_4_5,
    "claude-3-5-haiku-20241022": _HAIKU_3_5,
}


def price_of(model: str) -> Price | None:
    """The list price of `model` (an exact id), or None when it is not known here."""
    return PRICES.get(model)
