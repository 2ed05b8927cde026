"""Audit-log benchmark (issue 4): verify throughput of the hash chain streamed from SQLite.

Writes N chained entries (default 300,000) into a fresh SQLite file store with
``Store.append_audit`` (the fast path, 10,000 entries per transaction, payloads shaped like
the recorder's ``tool.call`` entries), then times ``verify_store(store)``:
reading every row from the database and recomputing every hash (on SQLite: bytes, whole-page
checks, one worker process per CPU for long logs), and for comparison the exact row-by-row
check every store supports (``verify_pages``, what ``verify_store`` did before). Prints
entries/s for the append and both verifications (best of 3, wall clock; the machine may be
shared, so also CPU seconds of this process); the target is verify >= 200,000 entries/s.

Usage: python benchmarks/audit.py [--quick] [--entries N] [--workers N]

``--workers N`` forces N verification processes (``1``: the bytes path on one thread, ``0``:
the exact check only); by default ``verify_store`` uses one per idle CPU, judged by the load
average, and none at all on a busy machine.
Exit code 0, or 1 if the chain does not verify or the verify target is missed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from agentspec.audit.chain import canonical_json, digest, micros, verify_pages, verify_store
from agentspec.store.base import AuditRecord
from agentspec.store.sql import SQLStore

TARGET = 200_000.0
APPEND_BATCH = 10_000


def _workers(argv: list[str]) -> int | None:
    return int(argv[argv.index("--workers") + 1]) if "--workers" in argv else None


def _entries(argv: list[str]) -> int:
    if "--entries" in argv:
        return int(argv[argv.index("--entries") + 1])
    return 30_000 if "--quick" in argv else 300_000


def _record(i: int, ts: int) -> AuditRecord:
    payload = {
        "name": "add",
        "call_id": f"call_{i % 7}",
        "turn": 1 + i % 5,
        "arguments_sha256": digest({"a": i, "b": 3}),
    }
    return AuditRecord(
        f"aud_{i:020x}", ts + i * 1000, "tool.call", "agent:assistant",
        f"run_{i // 5:020x}", canonical_json(payload),
    )  # fmt: skip


async def main(count: int, workers: int | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLStore(f"sqlite:///{Path(tmp) / 'audit.db'}")
        await store.setup()
        try:
            now = micros(time.time())
            started = time.perf_counter()
            for first in range(0, count, APPEND_BATCH):
                last = min(first + APPEND_BATCH, count)
                await store.append_audit([_record(i, now) for i in range(first, last)])
            append_s = time.perf_counter() - started

            best = exact_best = float("inf")
            result = exact = None
            for _ in range(3):
                started = time.perf_counter()
                result = await verify_store(store, workers=workers)
                best = min(best, time.perf_counter() - started)
                started = time.perf_counter()
                exact = await verify_pages(store.audit_pages(page_size=20_000))
                exact_best = min(exact_best, time.perf_counter() - started)
        finally:
            await store.close()
    assert result is not None and exact is not None
    assert (exact.ok, exact.count, exact.last_hash) == (result.ok, result.count, result.last_hash)
    rate = result.count / best
    print(f"entries:          {count:,}")
    print(f"append:           {count / append_s:,.0f} entries/s ({append_s:.2f} s)")
    mode = "auto" if workers is None else f"{workers} worker(s)"
    print(
        f"verify (best of 3, {mode}): {rate:,.0f} entries/s ({best:.3f} s), target >= {TARGET:,.0f}"
    )
    print(f"exact row by row:   {exact.count / exact_best:,.0f} entries/s ({exact_best:.3f} s)")
    print(f"chain:            {'OK' if result.ok else 'BROKEN: ' + result.reason}")
    return 0 if result.ok and result.count == count and rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_entries(sys.argv), _workers(sys.argv))))
