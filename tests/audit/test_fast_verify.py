"""The fast SQLite verification (bytes, whole-page checks, worker processes) agrees with the
exact row-by-row check on every kind of tampering, wherever it happens."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from agentspec.audit import chain
from agentspec.audit.chain import VerifyResult, canonical_json, verify_pages, verify_store
from agentspec.store.base import AuditRecord
from agentspec.store.sql import SQLStore

ENTRIES = 60


def _record(i: int) -> AuditRecord:
    text = "é ünïcode" if i % 7 == 0 else "plain"
    payload = {"i": i, "text": text, "quote": 'say "hi"\\n' if i % 5 == 0 else ""}
    return AuditRecord(
        f"aud_{i:04d}", 1_700_000_000_000_000 + i, "tool.call", f"agent:{text}",
        f"run_{i // 4}", canonical_json(payload), "acme" if i % 3 else "default",
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "fast.db"

    async def fill() -> None:
        store = SQLStore(f"sqlite:///{path}")
        await store.setup()
        await store.append_audit([_record(i) for i in range(ENTRIES // 2)])
        await store.append_audit([_record(i) for i in range(ENTRIES // 2, ENTRIES)])
        await store.close()

    asyncio.run(fill())
    return path


async def _both(path: Path, workers: int) -> tuple[VerifyResult, VerifyResult]:
    store = SQLStore(f"sqlite:///{path}")
    await store.setup()
    try:
        fast = await verify_store(store, page_size=8, workers=workers)
        exact = await verify_pages(store.audit_pages(page_size=8))
        return fast, exact
    finally:
        await store.close()


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


TAMPER: dict[str, Callable[[int], list[str]]] = {
    "edit data": lambda s: [f"UPDATE audit_log SET data = '{{}}' WHERE seq = {s}"],
    "quote in actor": lambda s: [f"UPDATE audit_log SET actor = 'a\"b' WHERE seq = {s}"],
    "backslash in id": lambda s: [f"UPDATE audit_log SET id = 'x\\y' || seq WHERE seq = {s}"],
    "newline in kind": lambda s: [f"UPDATE audit_log SET kind = 'a' || char(10) WHERE seq = {s}"],
    "NUL in data": lambda s: [
        f"UPDATE audit_log SET data = data || char(0) || 'x' WHERE seq = {s}"
    ],
    "ts as real": lambda s: [f"UPDATE audit_log SET ts = ts + 0.5 WHERE seq = {s}"],
    "actor as integer": lambda s: [f"UPDATE audit_log SET actor = 5 WHERE seq = {s}"],
    "delete": lambda s: [f"DELETE FROM audit_log WHERE seq = {s}"],
    "prev_hash": lambda s: [
        f"UPDATE audit_log SET prev_hash = replace(prev_hash, substr(prev_hash, 1, 1), 'z') "
        f"WHERE seq = {s}"
    ],
    "shift a hash character into the next": lambda s: [
        f"UPDATE audit_log SET hash = substr(hash, 1, 63) WHERE seq = {s}",
        f"UPDATE audit_log SET hash = (SELECT substr(h, 64) FROM (SELECT hash AS h FROM "
        f"audit_log WHERE seq = {s - 1})) || hash WHERE seq = {s + 1}",
    ],
    "reorder": lambda s: [
        f"UPDATE audit_log SET seq = -1 WHERE seq = {s}",
        f"UPDATE audit_log SET seq = {s} WHERE seq = {s + 1}",
        f"UPDATE audit_log SET seq = {s + 1} WHERE seq = -1",
    ],
}


@pytest.mark.parametrize("workers", [1, 3], ids=["thread", "processes"])
@pytest.mark.parametrize("what", sorted(TAMPER))
def test_fast_and_exact_agree(db: Path, what: str, workers: int) -> None:
    fast, exact = asyncio.run(_both(db, workers))
    assert fast == exact and fast.ok and fast.count == ENTRIES
    for seq in (2, 17, 31, ENTRIES - 1):  # page and worker-range boundaries included
        _sql(db, *TAMPER[what](seq))
        fast, exact = asyncio.run(_both(db, workers))
        assert not exact.ok
        assert fast == exact, (what, seq)
        assert exact.bad_index <= seq - 1


def test_a_long_clean_log_is_vouched_for_by_the_workers(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "PARALLEL_MIN_ENTRIES", 10)
    monkeypatch.setattr(chain.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(chain.os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    count, last, done = asyncio.run(chain._verify_sqlite_ranges(str(db), 8, None))
    assert (count, done) == (ENTRIES, True)
    # a busy machine (or a short log) leaves it to the exact check
    monkeypatch.setattr(chain.os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    assert asyncio.run(chain._verify_sqlite_ranges(str(db), 8, None)) == (0, chain.GENESIS, False)
    exact = asyncio.run(_both(db, 0))[1]
    assert last == exact.last_hash
    # ranges: a clean middle range says so; the first bad one ends the fast check
    assert chain.verify_sqlite_file(db, 8, 20, 40)[::2] == (20, True)
    _sql(db, "UPDATE audit_log SET data = '{}' WHERE seq = 25")
    assert chain.verify_sqlite_file(db, 8, 20, 40)[::2] == (0, False)  # pages of 8: 21-28 fails
    assert chain.verify_sqlite_file(db, 8, 16, 40)[::2] == (8, False)
    assert chain.verify_sqlite_file(db, 8, 0, 20)[::2] == (20, True)
