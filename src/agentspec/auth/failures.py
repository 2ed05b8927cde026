"""Limiting failed authentication per client address: a token bucket on failures only.

Every failed attempt (missing, malformed, unknown, revoked or expired key) from one address
takes a token from that address's bucket (``authfail:ADDRESS`` in a
:class:`~agentspec.auth.ratelimit.RateLimiter`). Successful requests cost nothing. When a
failure finds the bucket empty, the address is blocked until a token is back: every request
from it that needs a key gets 429 ``rate_limited`` with ``Retry-After`` *before* its key is
looked at, so a blocked client learns nothing from guessing on.

Blocks are remembered in this process (a dict lookup per request); the buckets live in the
rate limiter, so with a shared backend (Redis) failures count across processes and each
process blocks the address at its next failure there.

Example:
    ```python
    failures = AuthFailureLimiter(MemoryRateLimiter(), RateLimit(rate=0.2, burst=10))
    if wait := failures.blocked("203.0.113.9"):
        ...  # 429, Retry-After: ceil(wait)
    wait = await failures.failed("203.0.113.9")  # after a 401; > 0: now blocked
    ```
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from agentspec.auth.ratelimit import RateLimit, RateLimiter

DEFAULT_AUTH_FAILURE_LIMIT = RateLimit(rate=0.2, burst=10)
"""10 failures at once, then one more every 5 seconds per address."""
MAX_BLOCKED = 100_000
"""Most blocked addresses remembered (the oldest blocks are dropped first)."""


class AuthFailureLimiter:
    """Blocks client addresses that fail authentication too often.

    Args:
        limiter: Where the per-address buckets live.
        limit: Failures allowed: ``burst`` at once, refilled at ``rate`` per second.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        limiter: RateLimiter,
        limit: RateLimit = DEFAULT_AUTH_FAILURE_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.limit = limit
        self._clock = clock
        self._blocked: OrderedDict[str, float] = OrderedDict()
        """Blocked until (``clock`` seconds), by address."""

    def blocked(self, address: str) -> float:
        """Seconds ``address`` stays blocked (0.0 when it is not)."""
        until = self._blocked.get(address)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked[address]
            return 0.0
        return left

    async def failed(self, address: str) -> float:
        """Count a failed attempt from ``address``.

        Returns:
            0.0 if the address had failures left, else the seconds it is now blocked for.
        """
        decision = await self.limiter.hit("authfail:" + address, self.limit)
        if decision.allowed:
            return 0.0
        wait = decision.retry_after if math.isfinite(decision.retry_after) else 3600.0
        wait = max(wait, 1e-3)
        self._blocked[address] = self._clock() + wait
        self._blocked.move_to_end(address)
        while len(self._blocked) > MAX_BLOCKED:
            self._blocked.popitem(last=False)
        return wait
