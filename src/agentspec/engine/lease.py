"""Run leases: one process drives a run at a time.

A run row carries ``lease_owner`` (a process id: ``host:pid:nonce``) and ``lease_expires``
(epoch seconds). A new run is created holding its creator's lease; a process resuming a run
takes the lease with one conditional update (:meth:`Store.acquire_lease`), which succeeds only
when the lease is free, expired, already its own, or held by a process of this host that is
known to be dead. While a process drives runs, one :class:`LeaseKeeper` per runtime renews all
of its leases in a single statement every third of the lease time (heartbeats). A run that ends
or parks (``waiting``) stops being renewed; a parked run releases its lease.

If a heartbeat finds that another process took one of its runs (it stalled for longer than the
lease time), the keeper calls ``on_lost``: the runtime stops driving that run without writing
anything more to its log. The ``(run_id, seq)`` primary key of the event table is the last line
of defence: two writers can never both store event *n* of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable

from agentspec.store.base import Store

DEFAULT_TTL = 30.0
"""Seconds a lease lasts without a heartbeat."""


def new_owner() -> str:
    """A process-unique lease owner id: ``host:pid:nonce``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` is a process of *this* host that no longer exists.

    Only then may its lease be taken before it expires (``agentspec runs resume`` right after
    a crash). A process of another host, or a live pid (perhaps reused), counts as alive.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def acquire(store: Store, run_id: str, owner: str, ttl: float) -> bool:
    """Take ``run_id``'s lease for ``owner``: free, expired, ours, or a dead local process's."""
    now = time.time()
    if await store.acquire_lease(run_id, owner, now + ttl, now=now):
        return True
    record = await store.get_run(run_id)
    if record is None or not record.lease_owner or not owner_is_dead(record.lease_owner):
        return False
    return await store.acquire_lease(
        run_id, owner, now + ttl, now=now, steal_from=record.lease_owner
    )


class LeaseKeeper:
    """Renews the leases of the runs a runtime is driving (one heartbeat loop per runtime).

    Args:
        store: The store holding the run rows.
        owner: This process's owner id.
        ttl: Lease time in seconds; heartbeats happen every ``ttl / 3``.
        on_lost: Called with a run id whose lease another process took.
    """

    def __init__(
        self, store: Store, owner: str, ttl: float, on_lost: Callable[[str], None]
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self._on_lost = on_lost
        self._runs: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def expires_at(self) -> float:
        """When a lease taken or renewed now lapses."""
        return time.time() + self.ttl

    def track(self, run_id: str) -> None:
        """Keep renewing ``run_id``'s lease (starting the heartbeat loop if needed)."""
        self._runs.add(run_id)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._beat(), name="agentspec-lease-heartbeat"
            )

    def untrack(self, run_id: str) -> None:
        self._runs.discard(run_id)

    async def _beat(self) -> None:
        interval = max(self.ttl / 3.0, 0.05)
        while True:
            await asyncio.sleep(interval)
            if not self._runs:
                continue
            with contextlib.suppress(Exception):  # a store hiccup: try again next beat
                await self.heartbeat()

    async def heartbeat(self) -> None:
        """Renew every lease now; report runs another process took."""
        renewed = await self.store.renew_leases(self.owner, self.expires_at())
        if renewed >= len(self._runs):
            return
        for run_id in list(self._runs):
            record = await self.store.get_run(run_id)
            if record is None:  # not written yet: the group commit will insert it with our lease
                continue
            if record.lease_owner and record.lease_owner != self.owner:
                self._runs.discard(run_id)
                self._on_lost(run_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
