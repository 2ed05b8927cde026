"""Cost of a run from its token usage: USD per million tokens, by model.

A case's ``prices: {input, output}`` overrides the table. Cached input tokens are charged as
input tokens (a conservative upper bound). ``scripted`` and ``replay`` models cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentspec.engine import events as ev

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "claude-haiku-4": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}
"""USD per million (input, output) tokens, matched by the longest prefix of the model name."""
FREE_PROVIDERS = frozenset({"scripted", "replay"})


def price_of(label: str) -> tuple[float, float] | None:
    """Prices for a model label (``provider:name``), or ``None`` when unknown."""
    provider, _, name = label.partition(":")
    if provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    name = name or provider
    best = ""
    for prefix in PRICES:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return PRICES[best] if best else None


class UnknownPrice(Exception):
    """No price is known for a model the case used."""


def cost(events: Iterable[ev.Event], prices: dict[str, float] | None = None) -> float:
    """USD spent by a run's model calls.

    Raises:
        UnknownPrice: naming the model, when neither the table nor ``prices`` knows it.
    """
    total = 0.0
    label = ""
    for event in events:
        if event.type == ev.RUN_STARTED:
            label = str(event.data.get("model", ""))
        elif event.type == ev.MODEL_REQUEST:
            label = str(event.data.get("model", label))
        elif event.type == ev.MODEL_RESPONSE:
            usage = event.data.get("usage") or {}
            if prices is not None:
                rate = (prices.get("input", 0.0), prices.get("output", 0.0))
            else:
                found = price_of(label)
                if found is None:
                    raise UnknownPrice(label)
                rate = found
            inputs = int(usage.get("input_tokens", 0)) + int(usage.get("cache_read_tokens", 0))
            total += inputs * rate[0] / 1e6 + int(usage.get("output_tokens", 0)) * rate[1] / 1e6
    return total
