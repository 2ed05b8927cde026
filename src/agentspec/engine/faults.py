"""Fault injection for crash tests: die right after a given event is durable.

With ``AGENTSPEC_FAULT_KILL_AFTER_SEQ=N`` in the environment, the write batch that holds event
``N`` of a run is committed only up to that event (the runs it creates and events ``<= N``;
the rest is dropped, as a crash would drop it; a batch ending exactly at ``N`` is committed
whole) and then the process sends itself ``SIGKILL``: no ``finally`` block, no flush, no lease
release runs. This is how the crash tests kill a run at
every event boundary. Never set it outside tests.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable

from agentspec.store.base import Store, WriteBatch

ENV_KILL_AFTER_SEQ = "AGENTSPEC_FAULT_KILL_AFTER_SEQ"


def install(store: Store) -> None:
    """Wrap ``store.write`` per ``$AGENTSPEC_FAULT_KILL_AFTER_SEQ`` (no-op when unset)."""
    text = os.environ.get(ENV_KILL_AFTER_SEQ, "").strip()
    if not text:
        return
    limit = int(text)
    inner: Callable[[WriteBatch], Awaitable[None]] = store.write

    async def write(batch: WriteBatch) -> None:
        if any(event.seq > limit for event in batch.events):  # crash in the middle of it
            batch = WriteBatch(runs=batch.runs, events=[e for e in batch.events if e.seq <= limit])
        elif not any(event.seq == limit for event in batch.events):
            await inner(batch)
            return
        await inner(batch)
        os.kill(os.getpid(), signal.SIGKILL)

    store.write = write  # type: ignore[method-assign]
