"""The recorder on a real Runtime: what a run leaves in the audit log, and when it is durable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import agentspec
from agentspec.audit.chain import digest, verify
from agentspec.audit.recorder import AuditRecorder
from agentspec.auth.keys import KeyManager
from agentspec.engine.runtime import Runtime
from agentspec.exceptions import StoreError
from agentspec.store.base import AuditRecord, Store
from agentspec.store.memory import MemoryStore
from agentspec.store.sql import SQLStore

SCRIPT = [
    {"when": {"last": "user"}, "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"when": {"last": "tool"}, "text": "sum={{tool_result}}"},
]
RUN_KINDS = ["run.started", "tool.call", "tool.result", "run.completed"]


@agentspec.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@agentspec.tool
async def explode(a: int) -> int:
    """Always fails."""
    raise ValueError("boom")


def make_runtime(store: Store, script: list[dict[str, Any]] = SCRIPT, tool: Any = add) -> Runtime:
    agent = agentspec.Agent(
        "calc",
        instructions="You add.",
        model={"provider": "scripted", "script": script},
        tools=[tool],
    )
    return Runtime(agent.to_package(), store=store, functions={tool.name: tool})


async def entries(store: Store) -> list[AuditRecord]:
    return [record async for record in store.iter_audit()]


async def rows(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(row) async for page in store.audit_pages() for row in page]


@pytest.fixture
async def sql_store(tmp_path: Path) -> Any:
    store = SQLStore(f"sqlite:///{tmp_path / 'audit.db'}")
    await store.setup()
    yield store
    await store.close()


async def test_a_run_is_recorded_and_chained(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = SQLStore(f"sqlite:///{path}")
    runtime = make_runtime(store)
    await runtime.start_up()
    AuditRecorder(store).attach(runtime)
    result = await runtime.run("calc", "2+3?")
    assert result.output == "sum=5"
    # durable when the run returns: another connection sees every entry already
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT seq, kind, subject FROM audit_log ORDER BY seq").fetchall()
    db.close()
    assert stored == [(i + 1, kind, result.run_id) for i, kind in enumerate(RUN_KINDS)]
    records = await entries(store)
    started, call, outcome, completed = (json.loads(r.data) for r in records)
    assert {r.actor for r in records} == {"agent:calc"}
    assert started["agent"] == "calc" and "input" not in started
    assert started["input_sha256"] and started["ir_hash"] == runtime.ir_hash
    assert call == {
        "name": "add", "call_id": call["call_id"], "turn": 1,
        "arguments_sha256": digest({"a": 2, "b": 3}),
    }  # fmt: skip
    assert outcome["outcome"] == "ok" and outcome["call_id"] == call["call_id"]
    assert completed["turns"] == 2 and "output" not in completed
    events = await store.get_events(result.run_id)
    assert [r.ts for r in records] == [
        round(e.ts * 1_000_000) for e in events if e.type in RUN_KINDS
    ]
    assert verify(await rows(store)).ok
    await runtime.aclose()


async def test_a_failing_tool_and_run(sql_store: SQLStore) -> None:
    script = [
        {"when": {"last": "user"}, "tool_calls": [{"name": "explode", "arguments": {"a": 1}}]},
    ]
    async with make_runtime(sql_store, script, explode) as runtime:
        AuditRecorder(sql_store).attach(runtime)
        result = await runtime.run("calc", "go", raise_on_failure=False)
    assert result.status == "failed"
    records = await entries(sql_store)
    assert [r.kind for r in records] == ["run.started", "tool.call", "tool.result", "run.failed"]
    assert json.loads(records[2].data)["outcome"] == "error"
    failed = json.loads(records[3].data)
    assert failed["error"] == result.error and "message" not in failed
    assert "boom" not in "".join(r.data for r in records)


async def test_concurrent_runs_share_one_valid_chain(sql_store: SQLStore) -> None:
    async with make_runtime(sql_store) as runtime:
        AuditRecorder(sql_store).attach(runtime)
        results = await asyncio.gather(*(runtime.run("calc", f"{i}") for i in range(20)))
    records = await entries(sql_store)
    assert len(records) == 80 and [r.seq for r in records] == list(range(1, 81))
    for result in results:
        mine = [r.kind for r in records if r.subject == result.run_id]
        assert mine == RUN_KINDS
    assert verify(await rows(sql_store)).ok


async def test_the_memory_store_and_detach() -> None:
    store = MemoryStore()
    async with make_runtime(store) as runtime:
        detach = AuditRecorder(store).attach(runtime)
        await runtime.run("calc", "2+3?")
        detach()
        await runtime.run("calc", "2+3?")
    assert [r.kind for r in await entries(store)] == RUN_KINDS
    assert verify(await rows(store)).ok


async def test_as_a_plain_listener_it_writes_itself(sql_store: SQLStore) -> None:
    async with make_runtime(sql_store) as runtime:
        recorder = AuditRecorder(sql_store)
        runtime.add_listener(recorder)
        await runtime.run("calc", "2+3?")
        await recorder.flush()
        assert [r.kind for r in await entries(sql_store)] == RUN_KINDS
    assert recorder.dropped == 0


async def test_the_listener_never_raises() -> None:
    recorder = AuditRecorder(MemoryStore())
    from agentspec.engine.events import Event

    recorder(Event("run_x", 1, 1.0, "tool.call", {"name": "t", "arguments": {"x": object()}}))
    recorder(Event("run_x", 2, 1.0, "model.text", {"text": "ignored"}))
    assert recorder.dropped == 1
    await recorder.flush()
    assert await entries(recorder.store) == []


async def test_record_appends_at_once_after_the_tail(sql_store: SQLStore) -> None:
    async with make_runtime(sql_store) as runtime:
        recorder = AuditRecorder(sql_store, clock=lambda: 1_700_000_000.25)
        recorder.attach(runtime)
        await runtime.run("calc", "2+3?")
        entry = await recorder.record(
            "auth.failed", "ask_12345678", {"reason": "unknown key"}, actor="203.0.113.9"
        )
    assert (entry.seq, entry.ts, entry.kind) == (5, 1_700_000_000_250_000, "auth.failed")
    tail = await sql_store.audit_tail()
    assert tail is not None and tail.hash == entry.hash and tail.actor == "203.0.113.9"
    assert json.loads(tail.data) == {"reason": "unknown key"}
    assert verify(await rows(sql_store)).ok


async def test_key_changes_are_recorded(sql_store: SQLStore) -> None:
    manager = KeyManager(sql_store, actor="cli")
    first, secret = await manager.create("ci", ["runs:read"], tenant="acme")
    second, _ = await manager.rotate(first.id)
    await manager.revoke(second.id)
    await manager.revoke(second.id)  # already revoked: not recorded again
    records = await entries(sql_store)
    assert [(r.kind, r.subject, r.actor, r.tenant) for r in records] == [
        ("key.created", first.id, "cli", "acme"),
        ("key.rotated", second.id, "cli", "acme"),
        ("key.revoked", second.id, "cli", "acme"),
    ]
    assert json.loads(records[1].data)["replaced"] == first.id
    assert json.loads(records[0].data)["scopes"] == ["runs:read"]
    text = "".join(r.data for r in records)
    assert secret not in text and first.secret_hash not in text
    assert verify(await rows(sql_store)).ok


async def test_a_failed_audit_write_does_not_undo_a_key_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NoAudit(MemoryStore):
        async def append_audit(self, records: Any) -> None:
            raise StoreError("disk full")

    store = NoAudit()
    record, _ = await KeyManager(store).create("ci", ["admin"])
    assert await store.get_api_key(record.id) == record
    assert "could not record key.created" in caplog.text
