"""In-process token buckets (one process; the Redis backend shares buckets across processes)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from agentspec.auth.ratelimit import RateDecision, RateLimit

_SLACK = 1e-6
"""Tokens of tolerance for float rounding: a client that waits exactly ``retry_after`` (measured
on a clock whose readings are large floats) must get its token."""


class MemoryRateLimiter:
    """Token buckets in a bounded LRU (idle buckets are full anyway, so dropping them is exact).

    Args:
        max_keys: Most buckets kept; the least recently used is dropped beyond that.
        clock: Seconds, monotonic (injectable for tests). Should it step backwards, buckets
            neither refill nor drain until it catches up.
    """

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        """Take ``cost`` tokens from bucket ``key`` if it has them (a denied hit takes none)."""
        now = self._clock()
        burst = float(limit.burst)
        tokens, stamp = self._buckets.get(key, (burst, now))
        if now > stamp:
            tokens = min(burst, tokens + (now - stamp) * limit.rate)
            stamp = now
        allowed = tokens + _SLACK >= cost
        if allowed:
            tokens = max(0.0, tokens - cost)
        self._buckets[key] = (tokens, stamp)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        missing = burst - tokens
        if missing <= _SLACK:
            reset_after = 0.0
        else:
            reset_after = missing / limit.rate if limit.rate > 0 else math.inf
        if allowed:
            retry_after = 0.0
        elif cost > limit.burst or limit.rate <= 0:
            retry_after = math.inf  # waiting will not help
        else:
            retry_after = (cost - tokens) / limit.rate
        return RateDecision(allowed, limit.burst, int(tokens + _SLACK), reset_after, retry_after)
