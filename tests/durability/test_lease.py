"""Lease owners: who may take a run before its lease expires."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from agentspec.engine.lease import acquire, new_owner, owner_is_dead
from agentspec.store.base import RunRecord, WriteBatch
from agentspec.store.memory import MemoryStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_ids_name_host_and_process() -> None:
    host, pid, nonce = new_owner().split(":")
    assert (host, int(pid)) == (socket.gethostname(), os.getpid()) and len(nonce) == 8
    assert new_owner() != new_owner()


def test_only_a_gone_process_of_this_host_is_dead() -> None:
    host = socket.gethostname()
    assert owner_is_dead(f"{host}:{_dead_pid()}:00")
    assert not owner_is_dead(f"{host}:{os.getpid()}:00")  # ourselves
    assert not owner_is_dead(f"{host}:1:00")  # alive (init)
    assert not owner_is_dead(f"another-host:{_dead_pid()}:00")  # cannot tell: alive
    assert not owner_is_dead("garbage")


async def test_acquire_takes_a_dead_local_owners_lease_early() -> None:
    store = MemoryStore()
    later = time.time() + 3600
    dead = f"{socket.gethostname()}:{_dead_pid()}:00"
    await store.write(
        WriteBatch(
            runs=[
                RunRecord("r1", "a", "p", "h", lease_owner=dead, lease_expires=later),
                RunRecord("r2", "a", "p", "h", lease_owner="far:1:00", lease_expires=later),
            ]
        )
    )
    assert await acquire(store, "r1", "me:1:00", 30.0)
    assert not await acquire(store, "r2", "me:1:00", 30.0)
    taken = await store.get_run("r1")
    assert taken is not None and taken.lease_owner == "me:1:00"
