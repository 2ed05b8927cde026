"""The in-memory token buckets, driven by an injected clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentspec.auth.ratelimit import RateDecision, RateLimit
from agentspec.auth.ratelimit_memory import MemoryRateLimiter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> MemoryRateLimiter:
    return MemoryRateLimiter(clock=clock)


async def test_a_new_key_gets_the_whole_burst(limiter: MemoryRateLimiter) -> None:
    limit = RateLimit(rate=1.0, burst=5)
    decisions = [await limiter.hit("k", limit) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    assert [d.retry_after for d in decisions] == [0.0] * 5 + [1.0]


async def test_refill_at_the_rate_up_to_the_burst(limiter: MemoryRateLimiter, clock: Clock) -> None:
    limit = RateLimit(rate=2.0, burst=4)
    for _ in range(4):
        assert (await limiter.hit("k", limit)).allowed
    assert not (await limiter.hit("k", limit)).allowed
    clock.advance(0.5)  # one token back
    first = await limiter.hit("k", limit)
    assert first.allowed and first.remaining == 0
    assert not (await limiter.hit("k", limit)).allowed
    clock.advance(3600)  # long idle: full again, never more than the burst
    decisions = [await limiter.hit("k", limit) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False]


async def test_retry_after_is_the_wait_for_the_missing_tokens(
    limiter: MemoryRateLimiter, clock: Clock
) -> None:
    limit = RateLimit(rate=4.0, burst=2)
    await limiter.hit("k", limit)
    await limiter.hit("k", limit)
    clock.advance(0.125)  # half a token
    denied = await limiter.hit("k", limit)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(0.125)
    assert denied.remaining == 0
    clock.advance(denied.retry_after)
    assert (await limiter.hit("k", limit)).allowed


async def test_a_denied_hit_takes_nothing(limiter: MemoryRateLimiter, clock: Clock) -> None:
    limit = RateLimit(rate=1.0, burst=1)
    assert (await limiter.hit("k", limit)).allowed
    for _ in range(10):  # hammering while empty does not push the refill back
        assert not (await limiter.hit("k", limit)).allowed
    clock.advance(1.0)
    assert (await limiter.hit("k", limit)).allowed


async def test_reset_after_is_the_time_to_a_full_bucket(
    limiter: MemoryRateLimiter, clock: Clock
) -> None:
    limit = RateLimit(rate=0.5, burst=10)
    fresh = await limiter.hit("k", limit)
    assert fresh.reset_after == pytest.approx(2.0)  # one token at 0.5/s
    for _ in range(2):
        await limiter.hit("k", limit)
    third = await limiter.hit("k", limit)
    assert third.remaining == 6 and third.reset_after == pytest.approx(8.0)
    clock.advance(1.0)
    later = await limiter.hit("k", limit)
    assert later.remaining == 5  # 6 + 0.5 refilled - 1 = 5.5
    assert later.reset_after == pytest.approx(9.0)


async def test_cost_takes_several_tokens(limiter: MemoryRateLimiter, clock: Clock) -> None:
    limit = RateLimit(rate=1.0, burst=10)
    assert (await limiter.hit("k", limit, cost=7)).remaining == 3
    denied = await limiter.hit("k", limit, cost=5)
    assert not denied.allowed and denied.remaining == 3
    assert denied.retry_after == pytest.approx(2.0)
    clock.advance(2.0)
    assert (await limiter.hit("k", limit, cost=5)).allowed


async def test_a_cost_above_the_burst_can_never_succeed(limiter: MemoryRateLimiter) -> None:
    denied = await limiter.hit("k", RateLimit(rate=1.0, burst=3), cost=4)
    assert not denied.allowed
    assert denied.retry_after == math.inf  # waiting would not help


async def test_zero_rate_never_refills(limiter: MemoryRateLimiter, clock: Clock) -> None:
    limit = RateLimit(rate=0.0, burst=1)
    assert (await limiter.hit("k", limit)).allowed
    clock.advance(1e9)
    denied = await limiter.hit("k", limit)
    assert not denied.allowed
    assert denied.retry_after == math.inf and denied.reset_after == math.inf


async def test_a_full_bucket_resets_now_whatever_the_rate(limiter: MemoryRateLimiter) -> None:
    decision = await limiter.hit("k", RateLimit(rate=0.0, burst=2), cost=0)
    assert decision == RateDecision(True, 2, 2, 0.0, 0.0)


async def test_keys_are_independent(limiter: MemoryRateLimiter) -> None:
    limit = RateLimit(rate=1.0, burst=1)
    assert (await limiter.hit("a", limit)).allowed
    assert not (await limiter.hit("a", limit)).allowed
    assert (await limiter.hit("b", limit)).allowed


async def test_least_recently_used_buckets_are_dropped(clock: Clock) -> None:
    limiter = MemoryRateLimiter(max_keys=2, clock=clock)
    limit = RateLimit(rate=0.001, burst=1)
    for key in ("a", "b"):
        assert (await limiter.hit(key, limit)).allowed
    assert not (await limiter.hit("a", limit)).allowed  # a is now the most recent
    assert (await limiter.hit("c", limit)).allowed  # evicts b, the least recently used
    assert len(limiter._buckets) == 2
    assert list(limiter._buckets) == ["a", "c"]
    assert not (await limiter.hit("a", limit)).allowed  # a kept its (empty) bucket
    assert (await limiter.hit("b", limit)).allowed  # b starts over, full


async def test_a_clock_going_backwards_takes_no_tokens(
    limiter: MemoryRateLimiter, clock: Clock
) -> None:
    limit = RateLimit(rate=1.0, burst=3)
    await limiter.hit("k", limit)
    clock.advance(-100)
    decision = await limiter.hit("k", limit)
    assert decision.allowed and decision.remaining == 1


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=100),
    cost=st.integers(min_value=1, max_value=100),
    start=st.floats(min_value=0, max_value=1e6),
    gaps=st.lists(st.floats(min_value=0, max_value=5), max_size=20),
)
async def test_waiting_retry_after_is_always_enough(
    rate: float, burst: int, cost: int, start: float, gaps: list[float]
) -> None:
    clock = Clock(start)
    limiter = MemoryRateLimiter(clock=clock)
    limit = RateLimit(rate=rate, burst=burst)
    for gap in gaps:
        clock.advance(gap)
        await limiter.hit("k", limit, cost)
    decision = await limiter.hit("k", limit, cost)
    assert 0 <= decision.remaining <= burst
    assert 0 <= decision.reset_after <= burst / rate * (1 + 1e-9)
    if decision.allowed:
        assert decision.retry_after == 0
    elif cost > burst:
        assert decision.retry_after == math.inf
    else:
        assert 0 < decision.retry_after <= cost / rate * (1 + 1e-9)
        clock.advance(decision.retry_after)
        assert (await limiter.hit("k", limit, cost)).allowed
