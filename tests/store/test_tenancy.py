"""Tenant filters of ``list_runs`` / ``list_sessions`` on every backend (memory, SQLite fast
path, SQLite through SQLAlchemy), and the runtime recording the tenant of what it creates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import agentspec
from agentspec.engine.runtime import Runtime
from agentspec.store.base import RunRecord, SessionRecord, Store, WriteBatch
from agentspec.store.memory import MemoryStore
from agentspec.store.sql import SQLStore

T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "sqlite-file", "sqlite-core"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    else:
        sql = SQLStore(f"sqlite:///{tmp_path / 'tenancy.db'}")
        sql.fast_path = request.param == "sqlite-file"
        backend = sql
    await backend.setup()
    yield backend
    await backend.close()


def _run(run_id: str, tenant: str, offset: float, agent: str = "a") -> RunRecord:
    return RunRecord(
        run_id, agent, "pkg", "sha256:x", "completed", created_at=T0 + offset,
        updated_at=T0 + offset, tenant=tenant,
    )  # fmt: skip


async def _seed(store: Store) -> None:
    runs = [
        _run("run_1", "default", 1),
        _run("run_2", "acme", 2),
        _run("run_3", "acme", 3, agent="b"),
        _run("run_4", "globex", 4),
        _run("run_5", "acme", 5),
    ]
    sessions = [
        SessionRecord("s_1", "a", T0 + 1, T0 + 1, tenant="default"),
        SessionRecord("s_2", "a", T0 + 2, T0 + 2, tenant="acme"),
        SessionRecord("s_3", "b", T0 + 3, T0 + 3, tenant="acme"),
    ]
    await store.write(WriteBatch(runs=runs, sessions=sessions))


async def test_list_runs_by_tenant(store: Store) -> None:
    await _seed(store)
    page = await store.list_runs(tenant="acme")
    assert [r.id for r in page.runs] == ["run_5", "run_3", "run_2"]
    assert all(r.tenant == "acme" for r in page.runs)
    assert [r.id for r in (await store.list_runs(tenant="globex")).runs] == ["run_4"]
    assert (await store.list_runs(tenant="nobody")).runs == []
    # without a tenant: every run, as before
    assert len((await store.list_runs()).runs) == 5


async def test_tenant_combines_with_other_filters_and_cursors(store: Store) -> None:
    await _seed(store)
    assert [r.id for r in (await store.list_runs(tenant="acme", agent="a")).runs] == [
        "run_5",
        "run_2",
    ]
    first = await store.list_runs(tenant="acme", limit=2)
    assert [r.id for r in first.runs] == ["run_5", "run_3"]
    assert first.next_cursor is not None
    second = await store.list_runs(tenant="acme", limit=2, cursor=first.next_cursor)
    assert [r.id for r in second.runs] == ["run_2"]
    assert second.next_cursor is None


async def test_list_sessions_by_tenant(store: Store) -> None:
    await _seed(store)
    assert [s.id for s in await store.list_sessions(tenant="acme")] == ["s_3", "s_2"]
    assert [s.id for s in await store.list_sessions(tenant="acme", agent="a")] == ["s_2"]
    assert [s.id for s in await store.list_sessions(tenant="default")] == ["s_1"]
    assert len(await store.list_sessions()) == 3
    assert (await store.get_session("s_2")) is not None
    assert (await store.get_session("s_2")).tenant == "acme"  # type: ignore[union-attr]


async def test_runtime_records_the_tenant(store: Store) -> None:
    agent = agentspec.Agent(
        "echo",
        instructions="Echo.",
        model={"provider": "scripted", "script": [{"when": {"last": "user"}, "text": "hi"}]},
    )
    async with Runtime(agent.to_package(), store=store) as runtime:
        plain = await runtime.run("echo", "x")
        scoped = await runtime.run("echo", "y", tenant="acme", session_id="sess_acme")
        handle = runtime.start("echo", "z", tenant="globex")
        started = await handle.result()
        created = await runtime.create_session("echo", tenant="acme")
        assert (await runtime.get_run(plain.run_id)).tenant == "default"  # type: ignore[union-attr]
        assert (await runtime.get_run(scoped.run_id)).tenant == "acme"  # type: ignore[union-attr]
        assert (await runtime.get_run(started.run_id)).tenant == "globex"  # type: ignore[union-attr]
        assert (await runtime.get_session("sess_acme")).tenant == "acme"  # type: ignore[union-attr]
        assert created.tenant == "acme"
        acme = await runtime.list_runs(tenant="acme")
        assert [r.id for r in acme.runs] == [scoped.run_id]
        sessions = await runtime.list_sessions(tenant="acme")
        assert {s.id for s in sessions} == {"sess_acme", created.id}
        # the context variable was reset: a later plain run is the default tenant's again
        again = await runtime.run("echo", "w")
        assert (await runtime.get_run(again.run_id)).tenant == "default"  # type: ignore[union-attr]
