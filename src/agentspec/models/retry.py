"""Retries with exponential backoff and jitter, as a wrapper around any model.

Only errors marked ``retryable`` (rate limits, timeouts, unavailable) are retried, and only
before the first streamed delta reached the caller (a half-streamed answer is never replayed
twice). A provider's ``Retry-After`` is honoured up to ``max_delay``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from agentspec.exceptions import ModelError
from agentspec.models.base import Model, ModelRequest, ModelResponse, StreamItem, TextDelta


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry ``attempt`` (1-based): ``Retry-After`` if given, else base*2^(n-1) with
    ±25 % jitter, never more than ``cap``."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    delay = min(cap, base * (2 ** (attempt - 1)))
    return float(delay * (0.75 + 0.5 * rand()))


class RetryingModel(Model):
    def __init__(
        self,
        inner: Model,
        *,
        max_retries: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.name = inner.name
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        attempt = 0
        while True:
            streamed = False
            try:
                async for item in self.inner.stream(request):
                    if isinstance(item, TextDelta):
                        streamed = True
                    yield item
                return
            except ModelError as exc:
                if not exc.retryable or streamed or attempt >= self.max_retries:
                    raise
                attempt += 1
                delay = backoff_delay(
                    attempt, base=self.base_delay, cap=self.max_delay, retry_after=exc.retry_after
                )
                if request.on_retry is not None:
                    request.on_retry(attempt, exc, delay)
                await self._sleep(delay)

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        attempt = 0
        streamed = False

        def relay(text: str) -> None:
            nonlocal streamed
            streamed = True
            assert on_delta is not None
            on_delta(text)

        while True:
            try:
                return await self.inner.generate(request, relay if on_delta is not None else None)
            except ModelError as exc:
                if not exc.retryable or streamed or attempt >= self.max_retries:
                    raise
                attempt += 1
                delay = backoff_delay(
                    attempt, base=self.base_delay, cap=self.max_delay, retry_after=exc.retry_after
                )
                if request.on_retry is not None:
                    request.on_retry(attempt, exc, delay)
                await self._sleep(delay)

    async def aclose(self) -> None:
        await self.inner.aclose()
