"""In-process token buckets (one process; the Redis backend shares buckets across processes)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from agentspec.auth.ratelimit import RateDecision, RateLimit


class MemoryRateLimiter:
    """Token buckets in a bounded LRU (idle buckets are full anyway, so dropping them is exact)."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        missing = max(0.0, limit.burst - tokens)
        reset_after = missing / limit.rate if limit.rate > 0 else math.inf
        retry_after = (
            0.0 if allowed else (cost - tokens) / limit.rate if limit.rate > 0 else math.inf
        )
        return RateDecision(allowed, limit.burst, int(tokens), reset_after, retry_after)
