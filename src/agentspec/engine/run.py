"""A run in progress: its event log, its listeners, and the handle callers hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from agentspec.engine.events import TERMINAL, Event
from agentspec.engine.persist import Persister
from agentspec.engine.result import RunResult, ToolCallRecord, fold
from agentspec.models.base import Usage

if TYPE_CHECKING:
    from agentspec.engine.resume import Durability

Listener = Callable[[Event], None]


class RunState:
    """The append-only log of one run. :meth:`emit` records an event before anything uses it."""

    __slots__ = (
        "_sink",
        "agent",
        "durable",
        "events",
        "listeners",
        "responses",
        "run_id",
        "seq",
        "session_id",
        "started",
        "tool_records",
        "trace_id",
        "turns",
        "usage",
    )

    def __init__(
        self,
        run_id: str,
        agent: str,
        trace_id: str,
        persister: Persister,
        listeners: list[Listener],
        session_id: str = "",
    ) -> None:
        self.run_id = run_id
        self.agent = agent
        self.trace_id = trace_id
        self._sink = persister.add_event
        self.listeners = listeners
        self.session_id = session_id
        self.events: list[Event] = []
        self.seq = 0
        self.turns = 0
        self.usage = Usage()
        self.responses = 0
        self.tool_records: list[ToolCallRecord] = []
        self.started = time.perf_counter()
        self.durable: Durability | None = None
        """Resume cursor, approval policy, fencing (:mod:`agentspec.engine.resume`)."""

    def emit(self, type_: str, data: dict[str, Any]) -> Event:
        durable = self.durable
        if durable is not None and durable.cursor is not None:
            stored = durable.cursor.match(self, type_, data)
            if stored is not None:  # resuming: the log already has this event
                return stored
        self.seq += 1
        event = Event(self.run_id, self.seq, time.time(), type_, data, self.trace_id)
        self.events.append(event)
        self._sink(event)
        if self.listeners:
            for listener in self.listeners:
                listener(event)
        return event

    def result(
        self, status: str, output: str, duration_ms: float, error: str = "", message: str = ""
    ) -> RunResult:
        """The run's result, kept up to date as events are emitted (equal to ``fold(events)``)."""
        return RunResult(
            self.run_id,
            self.agent,
            status,
            output,
            self.session_id,
            self.responses,
            self.usage,
            self.tool_records,
            duration_ms,
            error,
            message,
        )

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


class RunHandle:
    """A run started with :meth:`Runtime.start`: iterate its events live, await its result.

    ``async for event in handle`` yields every event from the first, including those emitted
    before iteration began, and ends after ``run.completed`` / ``run.failed``.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.task: asyncio.Task[RunResult] | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._history: list[Event] = []

    def _push(self, event: Event) -> None:
        self._history.append(event)
        self._queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            if self.task is not None and self.task.done() and self._queue.empty():
                return
            getter = asyncio.ensure_future(self._queue.get())
            waiters: set[asyncio.Future[Any]] = {getter}
            if self.task is not None:
                waiters.add(self.task)
            try:
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                getter.cancel()
                raise
            if getter in done:
                event = getter.result()
                yield event
                if event.type in TERMINAL:
                    return
            else:
                getter.cancel()

    async def result(self) -> RunResult:
        """The run's result (never raises for a failed run; check ``result.status``)."""
        assert self.task is not None
        try:
            return await asyncio.shield(self.task)
        except asyncio.CancelledError:
            if self.task.cancelled():
                return fold(self._history)
            raise

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    @property
    def events(self) -> list[Event]:
        return list(self._history)
