"""Python tools of the strategies example."""

import agentspec


@agentspec.tool
async def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@agentspec.tool
async def refund(invoice: str) -> str:
    """Refund an invoice.

    Args:
        invoice: The invoice number, for example INV-42.
    """
    return f"refund issued for {invoice}"
