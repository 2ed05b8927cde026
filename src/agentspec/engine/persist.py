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
    AuditRecord,
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
        self._writing = False
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

    def add_audit(self, record: AuditRecord) -> None:
        """Write an audit entry in the same transaction as the events around it."""
        self._pending.audit.append(record)
        self._kick()

    def add_messages(self, messages: list[MessageRecord]) -> None:
        self._pending.messages.extend(messages)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None and not self._wake.is_set():
            self._wake.set()

    async def flush(self) -> None:
        """Return once everything added so far is durable; raise StoreError if it is not.

        When no write is in flight the caller writes the pending batch itself (no task hop);
        otherwise it joins the next group commit of the background writer.
        """
        if self._inline:
            batch, self._pending = self._pending, WriteBatch()
            if batch:
                await self.store.write(batch)
            return
        if self._task is None:
            self.start()
        if not self._writing and not self._waiters:
            batch, self._pending = self._pending, WriteBatch()
            if batch:
                await self._write(batch, [])
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._kick()
        await future

    async def _write(self, batch: WriteBatch, waiters: list[asyncio.Future[None]]) -> None:
        """Write one batch; on failure, everyone who may have had events in it hears of it."""
        self._writing = True
        try:
            await self.store.write(batch)
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, StoreError)
                else StoreError(f"store write failed: {type(exc).__name__}: {exc}")
            )
            self.error = error
            for waiter in [*waiters, *self._waiters]:
                if not waiter.done():
                    waiter.set_exception(error)
            self._waiters = [w for w in self._waiters if not w.done()]
            raise error from None
        finally:
            self._writing = False
            if self._pending or self._waiters:
                self._kick()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

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
            if self._writing:
                continue  # the write in flight kicks us again when it is done
            batch, self._pending = self._pending, WriteBatch()
            waiters, self._waiters = self._waiters, []
            if not batch:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                continue
            with contextlib.suppress(StoreError):
                await self._write(batch, waiters)

    async def close(self) -> None:
        with contextlib.suppress(StoreError):
            await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
