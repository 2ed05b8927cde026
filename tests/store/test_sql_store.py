"""The SQL store: the conformance suite on every SQL backend, plus SQL-specific behaviour.

Backends are the ``backend`` fixture's params. ``sqlite-core`` is SQLite with the one-hop fast
path off, so SQLAlchemy executes every statement as it will on PostgreSQL. To add PostgreSQL,
add a param whose URL comes from an environment variable and that skips when it is unset.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from agentspec.exceptions import MissingDependency, StoreError, UsageError
from agentspec.store import MemoryStore, open_store
from agentspec.store import sql as sql_module
from agentspec.store._sqlite import SQLiteFastPath
from agentspec.store.base import RunUpdate, SessionRecord, Store, WriteBatch
from agentspec.store.schema import SCHEMA_REVISION, metadata
from agentspec.store.sql import MIGRATIONS_DIR, SQLStore

from .conformance import StoreConformance, make_events, make_key, make_message, make_run

BACKENDS = ["sqlite-file", "sqlite-memory", "sqlite-core"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bool]:
    """``(url, fast_path)`` of a fresh, empty database."""
    if request.param == "sqlite-memory":
        return "sqlite:///:memory:", True
    return f"sqlite:///{tmp_path / 'data' / 'store.db'}", request.param == "sqlite-file"


class TestSQLStore(StoreConformance):
    @pytest.fixture
    async def store(self, backend: tuple[str, bool]) -> AsyncIterator[Store]:
        url, fast_path = backend
        store = SQLStore(url)
        store.fast_path = fast_path
        await store.setup()
        yield store
        await store.close()

    async def test_events_need_their_run(self, store: Store) -> None:
        with pytest.raises(StoreError, match="rejected"):
            await store.write(WriteBatch(events=make_events("no-such-run", 1, 1)))

    async def test_messages_need_their_session(self, store: Store) -> None:
        with pytest.raises(StoreError, match="rejected"):
            await store.write(WriteBatch(messages=[make_message("no-such-session", 1)]))

    async def test_concurrent_writes_are_serialized(self, store: Store) -> None:
        batches = [
            WriteBatch(runs=[make_run(i)], events=make_events(f"run-{i:04d}", 1, 5))
            for i in range(20)
        ]
        await asyncio.gather(*(store.write(batch) for batch in batches))
        page = await store.list_runs(limit=100)
        assert len(page.runs) == 20
        assert all([len(await store.get_events(run.id)) == 5 for run in page.runs])

    async def test_payload_that_is_not_json(self, store: Store) -> None:
        event = make_events("run-0001", 1, 1)[0]
        event.data = {"when": object()}
        with pytest.raises(StoreError, match="not JSON"):
            await store.write(WriteBatch(runs=[make_run(1)], events=[event]))
        assert await store.get_run("run-0001") is None

    async def test_concurrent_reads(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(1)]))
        found = await asyncio.gather(*(store.get_run("run-0001") for _ in range(20)))
        assert all(run is not None and run.id == "run-0001" for run in found)

    async def test_invalid_cursor(self, store: Store) -> None:
        with pytest.raises(UsageError, match="cursor"):
            await store.list_runs(cursor="not-a-cursor")


def file_url(path: Path) -> str:
    return f"sqlite:///{path}"


async def test_fast_path_opens_once(tmp_path: Path) -> None:
    store = SQLStore(file_url(tmp_path / "x.db"))
    await store.setup()
    await asyncio.gather(*(store.get_run("x") for _ in range(10)))
    assert store._fast is not None and len(store._held) == 2
    await store.close()
    assert store._held == []


async def test_falls_back_to_sqlalchemy_without_the_aiosqlite_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SQLiteFastPath, "supported", staticmethod(lambda connection: False))
    store = SQLStore(file_url(tmp_path / "x.db"))
    await store.setup()
    await store.write(WriteBatch(runs=[make_run(1)], events=make_events("run-0001", 1, 2)))
    assert len(await store.get_events("run-0001")) == 2
    assert store.fast_path is False and store._fast is None and store._held == []
    await store.close()


# migrations ------------------------------------------------------------------------------
async def test_setup_is_idempotent(tmp_path: Path) -> None:
    store = SQLStore(file_url(tmp_path / "x.db"))
    await store.setup()
    await store.setup()
    await store.write(WriteBatch(runs=[make_run(1)]))
    await store.setup()
    assert await store.get_run("run-0001") is not None
    await store.close()


async def test_setup_skips_alembic_at_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLStore(file_url(tmp_path / "x.db"))
    await store.setup()
    await store.close()

    def fail(_conn: object) -> None:
        raise AssertionError("alembic ran on a database already at head")

    monkeypatch.setattr(sql_module, "_upgrade", fail)
    reopened = SQLStore(file_url(tmp_path / "x.db"))
    await reopened.setup()
    await reopened.close()


def test_schema_revision_is_the_alembic_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]


async def test_migrations_create_exactly_the_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    path = tmp_path / "x.db"
    store = SQLStore(file_url(path))
    await store.setup()
    await store.close()
    engine = create_engine(file_url(path))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        tables = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type='table'")
        without_rowid = {name for name, ddl in tables if "WITHOUT ROWID" in ddl}
    engine.dispose()
    assert without_rowid == {
        "runs", "run_events", "sessions", "session_messages", "api_keys", "audit_log",
    }  # fmt: skip
    assert without_rowid == set(metadata.tables)


def test_migrations_downgrade_to_base_and_back(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(file_url(tmp_path / "x.db"))
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        assert sorted(metadata.tables) and not any(
            conn.dialect.has_table(conn, name) for name in metadata.tables
        )
        command.upgrade(config, "head")
    engine.dispose()


def _alembic(conn: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


async def test_a_0001_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    from alembic import command

    path = tmp_path / "old.db"
    engine = create_engine(file_url(path))
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "0001")
    engine.dispose()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "api_keys" not in tables and "runs" in tables
        db.execute(
            "INSERT INTO runs VALUES "
            "('run-0001', 'acme', 'alpha', 'pkg', 'sha256:abc', 'completed', '', '', 'in', 'out', "
            "'', 1.0, 2.0, 1, 10, 20, 0, 0)"
        )
    db.close()

    store = SQLStore(file_url(path))
    await store.setup()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (SCHEMA_REVISION,)
        ]
    db.close()
    stored = await store.get_run("run-0001")
    assert stored is not None and (stored.tenant, stored.output) == ("acme", "out")
    key = make_key(1)
    await store.create_api_key(key)
    assert await store.get_api_key_by_prefix(key.prefix) == key
    await store.close()

    reopened = SQLStore(file_url(path))
    await reopened.setup()
    assert await reopened.get_api_key(key.id) == key
    await reopened.close()


def test_downgrade_to_0001_drops_only_api_keys(tmp_path: Path) -> None:
    from alembic import command

    engine = create_engine(file_url(tmp_path / "x.db"))
    with engine.begin() as conn:
        config = _alembic(conn)
        command.upgrade(config, "head")
        assert conn.dialect.has_table(conn, "api_keys")
        command.downgrade(config, "0001")
        assert not conn.dialect.has_table(conn, "api_keys")
        assert all(
            conn.dialect.has_table(conn, name)
            for name in ("runs", "run_events", "sessions", "session_messages")
        )
        indexes = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='index'")
        assert not [name for (name,) in indexes if "api_keys" in name]
    engine.dispose()


def test_downgrade_to_0002_drops_only_the_audit_log(tmp_path: Path) -> None:
    from alembic import command

    engine = create_engine(file_url(tmp_path / "x.db"))
    with engine.begin() as conn:
        config = _alembic(conn)
        command.upgrade(config, "head")
        assert conn.dialect.has_table(conn, "audit_log")
        command.downgrade(config, "0002")
        assert not conn.dialect.has_table(conn, "audit_log")
        assert conn.dialect.has_table(conn, "api_keys")
        indexes = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='index'")
        assert not [name for (name,) in indexes if "audit_log" in name]
    engine.dispose()


# persistence -----------------------------------------------------------------------------
async def test_reopening_a_file_keeps_the_data(tmp_path: Path) -> None:
    url = file_url(tmp_path / "nested" / "dirs" / "x.db")
    store = SQLStore(url)
    await store.setup()
    run = make_run(1)
    session = SessionRecord("s1", "alpha", 1.0, 2.0, {"k": "ü"}, 1)
    await store.write(
        WriteBatch(
            runs=[run], events=make_events(run.id, 1, 3),
            run_updates=[RunUpdate(run.id, "completed", 5.0, output="ok")],
            sessions=[session], messages=[make_message("s1", 1)],
        )
    )  # fmt: skip
    await store.close()

    reopened = SQLStore(url)
    await reopened.setup()
    stored = await reopened.get_run(run.id)
    assert stored is not None and (stored.status, stored.output) == ("completed", "ok")
    assert await reopened.get_events(run.id) == make_events(run.id, 1, 3)
    assert await reopened.get_session("s1") == session
    assert await reopened.get_messages("s1") == [make_message("s1", 1)]
    await reopened.close()


# errors ----------------------------------------------------------------------------------
async def test_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = SQLStore(file_url(path), busy_timeout=0.2)
    await store.setup()
    await store.write(WriteBatch(runs=[make_run(1)]))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked") as caught:
            await store.write(WriteBatch(runs=[make_run(2)]))
        assert time.monotonic() - started < 3
        assert str(path) in str(caught.value)
        with pytest.raises(StoreError, match="locked"):
            await store.delete_session("s1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.write(WriteBatch(runs=[make_run(2)]))
    assert await store.get_run("run-0002") is not None
    await store.close()


async def test_database_locked_while_opening(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("CREATE TABLE squatter (x)")
    store = SQLStore(file_url(path), busy_timeout=0.2)
    try:
        with pytest.raises(StoreError, match="locked") as caught:
            await store.setup()
        assert str(path) in str(caught.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()


async def test_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file, not a directory")
    path = blocker / "sub" / "x.db"
    store = SQLStore(file_url(path))
    with pytest.raises(StoreError) as caught:
        await store.setup()
    assert str(path) in str(caught.value)
    await store.close()


async def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"definitely not SQLite\x00\xff" * 200)
    store = SQLStore(file_url(path))
    with pytest.raises(StoreError, match="corrupt or not a SQLite database") as caught:
        await store.setup()
    assert str(path) in str(caught.value)
    with pytest.raises(StoreError, match="corrupt or not a SQLite database"):
        await store.get_run("run-0001")
    with pytest.raises(StoreError, match="corrupt or not a SQLite database"):
        await store.write(WriteBatch(runs=[make_run(1)]))
    await store.close()


async def test_schema_from_the_future(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = SQLStore(file_url(path))
    await store.setup()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()
    store = SQLStore(file_url(path))
    with pytest.raises(StoreError, match="newer agentspec"):
        await store.setup()
    await store.close()


# URLs and the factory --------------------------------------------------------------------
@pytest.mark.parametrize("url", ["mysql://host/db", "sqlite+pysqlite:///x.db", "::"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(UsageError):
        SQLStore(url)


@pytest.mark.skipif(importlib.util.find_spec("asyncpg") is not None, reason="asyncpg installed")
@pytest.mark.parametrize("url", ["postgresql://u:p@localhost/db", "postgres://localhost/db"])
def test_postgres_without_asyncpg(url: str) -> None:
    with pytest.raises(MissingDependency, match=r"agentspec\[postgres\]"):
        open_store(url)


async def test_aiosqlite_url(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    await store.setup()
    await store.write(WriteBatch(runs=[make_run(1)]))
    assert await store.get_run("run-0001") is not None
    await store.close()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory", MemoryStore),
        ("memory://", MemoryStore),
        ("sqlite:///:memory:", SQLStore),
        ("sqlite:///some/where.db", SQLStore),
        ("relative/path/x.db", SQLStore),
        ("/abs/x.sqlite", SQLStore),
    ],
)
def test_open_store(url: str, kind: type[Store]) -> None:
    assert type(open_store(url)) is kind


def test_open_store_bare_path_is_a_sqlite_file(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "x.db"))
    assert isinstance(store, SQLStore)
    assert store._path == tmp_path / "x.db"


@pytest.mark.parametrize("url", ["", "redis://x", "x.txt", "memory:///"])
def test_open_store_rejects_unknown_forms(url: str) -> None:
    with pytest.raises(UsageError, match="memory"):
        open_store(url)


def test_importing_the_store_package_does_not_import_sqlalchemy() -> None:
    code = "import sys, agentspec.store; assert 'sqlalchemy' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
