"""Python tools of the quickstart project."""

import agentspec


@agentspec.tool
async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    total = a + b
    return int(total) if float(total).is_integer() else total
