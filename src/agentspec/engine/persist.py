"""Group commit: events of every running run reach the store in shared batches.

Emitting an event never waits for the store. A background writer drains whatever is pending
in one transaction whenever the event loop is free; :meth:`Persister.flush` waits until
everything emitted so far is durable. Runs flush before they return, so a returned run is
always completely stored, while a thousand concurrent runs share a handful of transactions.
"""

from __future__ import annotations

import asyncio
import contextlib

from agentspec.engine.events import Event
from agentspec.exceptions import StoreError
from agentspec.store.base import (
    MessageRecord,
    RunRecord,
    RunUpdate,
    SessionRecord,
    Store,
    WriteBatch,
)


class Persister:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending = WriteBatch()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._inline = getattr(store, "url", "") == "memory://"
        self.error: StoreError | None = None

    def add_run(self, run: RunRecord) -> None:
        self._pending.runs.append(run)
        self._kick()

    def add_event(self, event: Event) -> None:
        self._pending.events.append(event)
        wake = self._wake
        if wake is not None and not wake.is_set():
            wake.set()

    def add_update(self, update: RunUpdate) -> None:
        self._pending.run_updates.append(update)
        self._kick()

    def add_session(self, session: SessionRecord) -> None:
        self._pending.sessions.append(session)
        self._kick()

    def add_messages(self, messages: list[MessageRecord]) -> None:
        self._pending.messages.extend(messages)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None and not self._wake.is_set():
            self._wake.set()

    async def flush(self) -> None:
        """Return once everything added so far is durable; raise StoreError if it is not."""
        if self._inline:
            batch, self._pending = self._pending, WriteBatch()
            if batch:
                await self.store.write(batch)
            return
        if self._task is None:
            self.start()
        if not self._pending and not self._waiters:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._kick()
        await future

    def start(self) -> None:
        if self._inline or self._task is not None:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._writer(), name="agentspec-persister"
        )

    async def _writer(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, WriteBatch()
            waiters, self._waiters = self._waiters, []
            try:
                if batch:
                    await self.store.write(batch)
            except StoreError as exc:
                self.error = exc
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            except Exception as exc:  # a backend bug must not strand the waiters
                error = StoreError(f"store write failed: {type(exc).__name__}: {exc}")
                self.error = error
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        with contextlib.suppress(StoreError):
            await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
