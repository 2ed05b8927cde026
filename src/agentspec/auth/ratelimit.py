"""Rate limiting port: token buckets keyed by caller and by agent.

The in-memory backend lives in :mod:`agentspec.auth.ratelimit_memory`; a Redis backend comes
with the scale-out issue and implements the same :class:`RateLimiter` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Outcome of one :meth:`RateLimiter.hit`.

    Attributes:
        allowed: whether the request may proceed.
        limit: the bucket size (burst), for ``X-RateLimit-Limit``.
        remaining: whole tokens left after this hit, for ``X-RateLimit-Remaining``.
        reset_after: seconds until the bucket is full again, for ``X-RateLimit-Reset``.
        retry_after: seconds until one token is available (0 when allowed), for ``Retry-After``.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` tokens per second refill, up to ``burst`` tokens."""

    rate: float
    burst: int


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        """Take ``cost`` tokens from the bucket ``key`` if it has them."""
        ...
