"""The shared deadline watcher behaves like asyncio.timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentspec.engine.deadlines import Deadlines


async def test_expired_call_raises_timeout_error_and_others_continue() -> None:
    deadlines = Deadlines()
    finished: list[str] = []

    async def work(name: str, seconds: float, limit: float) -> str:
        try:
            async with deadlines.limit(limit):
                await asyncio.sleep(seconds)
        except TimeoutError:
            return f"{name}: timeout"
        finished.append(name)
        return f"{name}: ok"

    started = time.perf_counter()
    results = await asyncio.gather(
        work("slow", 5, 0.05), work("fast", 0.01, 1), work("medium", 5, 0.15)
    )
    assert results == ["slow: timeout", "fast: ok", "medium: timeout"]
    assert time.perf_counter() - started < 1
    assert finished == ["fast"]
    assert deadlines._entries == {}


async def test_outside_cancellation_is_not_a_timeout() -> None:
    deadlines = Deadlines()

    async def work() -> None:
        async with deadlines.limit(10):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(work())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_with_asyncio_timeout() -> None:
    deadlines = Deadlines()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            async with deadlines.limit(10):
                await asyncio.sleep(10)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(10):
            async with deadlines.limit(0.05):
                await asyncio.sleep(10)


def test_one_watcher_serves_several_event_loops() -> None:
    deadlines = Deadlines()

    async def once() -> bool:
        try:
            async with deadlines.limit(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            return True
        return False

    assert asyncio.run(once()) is True
    assert asyncio.run(once()) is True
