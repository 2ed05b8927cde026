"""Timeouts for many short awaits with one timer: a shared deadline watcher.

``asyncio.timeout`` allocates a timer handle per use, and a cancelled handle stays in the event
loop's heap until the loop runs again. Tool calls are many and usually short, so the engine
registers each call's deadline here instead: one dict entry per call, and one loop timer for
the earliest deadline. An expired call's task is cancelled exactly like ``asyncio.timeout``
does it (``uncancel`` tells our cancellation from anyone else's).
"""

from __future__ import annotations

import asyncio


class _Limit:
    """One registered deadline; an async context manager like ``asyncio.timeout``."""

    __slots__ = ("deadline", "expired", "key", "owner", "seconds", "task")

    def __init__(self, owner: Deadlines, seconds: float) -> None:
        self.owner = owner
        self.seconds = seconds
        self.expired = False
        self.deadline = 0.0
        self.key = 0
        self.task: asyncio.Task[object] | None = None

    async def __aenter__(self) -> None:
        owner = self.owner
        self.task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self.seconds
        owner._next += 1
        self.key = owner._next
        owner._entries[self.key] = self
        if self.deadline < owner._wake_at or loop is not owner._loop:
            owner._schedule(loop, self.deadline)

    async def __aexit__(self, kind: object, exc: object, tb: object) -> bool:
        del self.owner._entries[self.key]
        if kind is asyncio.CancelledError and self.expired:
            assert self.task is not None
            if self.task.uncancel() <= 0:
                raise TimeoutError from None
        return False


class Deadlines:
    """Cancel tasks whose deadline passed; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[int, _Limit] = {}
        self._next = 0
        self._handle: asyncio.TimerHandle | None = None
        self._wake_at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None

    def limit(self, seconds: float) -> _Limit:
        """Like ``asyncio.timeout(seconds)``: ``async with deadlines.limit(5): ...`` raises
        ``TimeoutError`` when the time is up."""
        return _Limit(self, seconds)

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._loop = loop
        self._wake_at = when
        self._handle = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        self._wake_at = float("inf")
        now = loop.time()
        earliest = float("inf")
        for entry in self._entries.values():
            if entry.expired:
                continue
            if entry.deadline <= now:
                entry.expired = True
                if entry.task is not None:
                    entry.task.cancel()
            elif entry.deadline < earliest:
                earliest = entry.deadline
        if earliest != float("inf"):
            self._schedule(loop, earliest)
