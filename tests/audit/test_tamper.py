"""Tampering with the audit log directly in the SQLite file is caught at the exact entry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import agentspec
from agentspec.audit.chain import VerifyResult, verify_pages, verify_store
from agentspec.audit.recorder import AuditRecorder
from agentspec.engine.runtime import Runtime
from agentspec.store.sql import SQLStore

SCRIPT = [
    {"when": {"last": "user"}, "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"when": {"last": "tool"}, "text": "sum={{tool_result}}"},
]
RUNS = 5  # 4 entries each


@agentspec.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    """A SQLite file whose audit log holds the entries of RUNS runs and one key change."""
    path = tmp_path / "audit.db"
    store = SQLStore(f"sqlite:///{path}")
    agent = agentspec.Agent(
        "calc", instructions="You add.", model={"provider": "scripted", "script": SCRIPT},
        tools=[add],
    )  # fmt: skip
    async with Runtime(agent.to_package(), store=store, functions={"add": add}) as runtime:
        recorder = AuditRecorder(store)
        recorder.attach(runtime)
        for i in range(RUNS):
            await runtime.run("calc", f"question {i}")
        await recorder.record("config.changed", "agentspec.yaml", {"ir_hash": runtime.ir_hash})
        # text that needs JSON escaping
        await recorder.record("auth.failed", 'ask_"x"\\', {"k": "é"}, actor="ünïcode\x01")
    return path


async def check(path: Path, page_size: int = 7) -> VerifyResult:
    """Verify on the fast path and through SQLAlchemy, whole-store and paged: all agree."""
    results = []
    for fast_path in (True, False):
        store = SQLStore(f"sqlite:///{path}")
        store.fast_path = fast_path
        await store.setup()
        try:
            results.append(await verify_store(store, page_size=page_size))
            results.append(await verify_pages(store.audit_pages(page_size=page_size)))
        finally:
            await store.close()
    assert all(result == results[0] for result in results), results
    return results[0]


def ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        found = [row[0] for row in db.execute("SELECT id FROM audit_log ORDER BY seq")]
    db.close()
    return found


def tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as db:
        for sql, params in statements:
            assert db.execute(sql, params).rowcount == 1
    db.close()


async def test_untouched_log_verifies(log: Path) -> None:
    result = await check(log)
    assert result.ok and result.count == RUNS * 4 + 2


async def test_edited_data(log: Path) -> None:
    before = ids(log)
    tamper(log, ("UPDATE audit_log SET data = ? WHERE seq = 7", ('{"outcome":"ok"}',)))
    result = await check(log)
    assert (result.ok, result.bad_index, result.bad_id) == (False, 6, before[6])
    assert "hash does not match" in result.reason


@pytest.mark.parametrize("column", ["kind", "actor", "subject", "tenant", "id"])
async def test_edited_columns(log: Path, column: str) -> None:
    tamper(log, (f"UPDATE audit_log SET {column} = {column} || 'x' WHERE seq = 3", ()))
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (2, ids(log)[2])


async def test_edited_timestamp(log: Path) -> None:
    tamper(log, ("UPDATE audit_log SET ts = ts + 1 WHERE seq = 12", ()))
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (11, ids(log)[11])


async def test_deleted_entry(log: Path) -> None:
    before = ids(log)
    tamper(log, ("DELETE FROM audit_log WHERE seq = 9", ()))
    result = await check(log)
    # the first bad entry is the one after the gap, now at index 8
    assert (result.ok, result.bad_index, result.bad_id) == (False, 8, before[9])
    assert "expected seq 9, found 10" in result.reason


async def test_reordered_entries(log: Path) -> None:
    before = ids(log)
    tamper(
        log,
        ("UPDATE audit_log SET seq = -1 WHERE seq = 5", ()),
        ("UPDATE audit_log SET seq = 5 WHERE seq = 14", ()),
        ("UPDATE audit_log SET seq = 14 WHERE seq = -1", ()),
    )
    result = await check(log)
    # index 4 now holds the entry that was at index 13
    assert (result.ok, result.bad_index, result.bad_id) == (False, 4, before[13])
    assert "prev_hash" in result.reason


async def test_forged_hash(log: Path) -> None:
    tamper(log, ("UPDATE audit_log SET hash = ? WHERE seq = 20", ("f" * 64,)))
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (19, ids(log)[19])


async def test_inserted_entry(log: Path) -> None:
    with sqlite3.connect(log) as db:  # shift entries 3.. up by one and forge a new entry 3
        row = db.execute("SELECT * FROM audit_log WHERE seq = 2").fetchone()
        db.execute("UPDATE audit_log SET seq = -seq WHERE seq >= 3")
        db.execute("UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0")
        db.execute(
            "INSERT INTO audit_log (seq, tenant, id, ts, kind, actor, subject, data, prev_hash, "
            "hash) VALUES (3, ?, 'aud_forged', ?, ?, ?, ?, ?, ?, ?)",
            (row[1], row[3], row[4], row[5], row[6], row[7], row[9], row[9]),
        )
    db.close()
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (2, "aud_forged")


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", 'agent:calc"'), ("subject", "run\\x"), ("kind", "tool.call\n"), ("ts", 1.5),
     ("data", b"{}"), ("tenant", "d\u00e9fault")],
)  # fmt: skip
async def test_edits_that_need_escaping_or_change_types(
    log: Path, column: str, value: object
) -> None:
    tamper(log, (f"UPDATE audit_log SET {column} = ? WHERE seq = 6", (value,)))
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (5, ids(log)[5])


async def test_edited_escaped_entry(log: Path) -> None:
    last = len(ids(log))
    tamper(log, ("UPDATE audit_log SET actor = 'unicode' WHERE seq = ?", (last,)))
    result = await check(log)
    assert (result.bad_index, result.bad_id) == (last - 1, ids(log)[-1])
