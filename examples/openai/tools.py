"""Tools shared by the OpenAI and Anthropic examples."""

from datetime import UTC, datetime

import agentspec


@agentspec.tool
def utc_now() -> str:
    """The current date and time in UTC, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@agentspec.tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    product = a * b
    return int(product) if float(product).is_integer() else product
