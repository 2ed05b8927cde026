"""The SQL store: SQLAlchemy Core over asyncio, SQLite (aiosqlite) now, PostgreSQL later.

All backends share :mod:`agentspec.store.schema` and one Alembic history, applied by
:meth:`SQLStore.setup`. Writes are serialized per store and applied in one transaction per
:class:`~agentspec.store.base.WriteBatch`. On SQLite, every operation is one call on an
aiosqlite worker thread (:mod:`agentspec.store._sqlite`), running SQL compiled from the Core
statements of :mod:`agentspec.store.schema`; elsewhere SQLAlchemy executes those statements.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Insert, Select, Update, bindparam, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import StaticPool

from agentspec.engine.events import Event
from agentspec.exceptions import MissingDependency, StoreError, UsageError
from agentspec.store._sqlite import SQLiteFastPath
from agentspec.store.base import (
    UNSET,
    ApiKeyRecord,
    AuditRecord,
    MessageRecord,
    RunPage,
    RunRecord,
    SessionRecord,
    Store,
    Unset,
    WriteBatch,
)
from agentspec.store.schema import (
    ACQUIRE_LEASE,
    AUDIT_COLUMNS,
    DELETE_MESSAGES,
    DELETE_SESSION,
    EVENT_COLUMNS,
    INSERT_API_KEY,
    INSERT_AUDIT,
    INSERT_EVENTS,
    INSERT_MESSAGES,
    INSERT_RUNS,
    MESSAGE_COLUMNS,
    RELEASE_LEASE,
    RENEW_LEASES,
    RUN_COLUMNS,
    RUN_UPDATE_ORDER,
    SCHEMA_REVISION,
    SELECT_AUDIT_HEAD,
    SESSION_COLUMNS,
    UPDATE_RUNS,
    BatchRows,
    api_key_params,
    api_key_record,
    chain_audit,
    dumps,
    event_record,
    loads,
    message_record,
    run_record,
    select_api_key,
    select_api_keys,
    select_audit_page,
    select_audit_tail,
    select_child_runs,
    select_events,
    select_messages,
    select_run,
    select_runs,
    select_session,
    select_sessions,
    session_record,
    update_api_key_columns,
    upsert_sessions,
)
from agentspec.store.schema import runs as runs_table
from agentspec.store.schema import sessions as sessions_table

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_WAL_AUTOCHECKPOINT_PAGES = 10_000
"""~40 MB of WAL between checkpoints (SQLite's default is 1,000 pages): hot pages are copied
back once per checkpoint instead of ten times, which cuts mean write latency by about a third."""


def _encode_cursor(run: RunRecord) -> str:
    return base64.urlsafe_b64encode(dumps([run.created_at, run.id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, run_id = loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at), str(run_id)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"invalid runs cursor {cursor!r}") from exc


@cache
def _tenant_scoped(stmt: Select[Any], table: str) -> Select[Any]:
    """``stmt`` (a cached query on ``table``) restricted to the parameter ``tenant``."""
    column = (runs_table if table == "runs" else sessions_table).c.tenant
    return stmt.where(column == bindparam("tenant"))


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if revision is None else str(revision)


_MIGRATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    """One migration at a time per event loop: Alembic's ``op``/context proxies are
    process-global, so two stores migrating concurrently in one process would corrupt each
    other's migration context (``KeyError: 'script'``)."""
    loop = asyncio.get_running_loop()
    lock = _MIGRATION_LOCKS.get(loop)
    if lock is None:
        lock = _MIGRATION_LOCKS[loop] = asyncio.Lock()
    return lock


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7246171301)")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


class SQLStore(Store):
    """A :class:`~agentspec.store.base.Store` on a SQL database.

    Args:
        url: ``sqlite:///path/to.db``, ``sqlite:///:memory:``, ``sqlite+aiosqlite://...``
            or ``postgresql://user:pass@host/db`` (needs ``agentspec[postgres]``).
        busy_timeout: Seconds a SQLite write waits for another connection's lock before
            failing with "database is locked".

    Attributes:
        fast_path: On SQLite, run each operation as one call on an aiosqlite worker thread
            (the default). When false, or if aiosqlite lacks the hook, SQLAlchemy executes
            every statement, as on PostgreSQL.

    Raises:
        UsageError: The URL is not a supported SQLite or PostgreSQL URL.
        MissingDependency: A PostgreSQL URL was given but asyncpg is not installed.
    """

    fast_path: bool = True

    def __init__(self, url: str, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self._url = _driver_url(url)
        self._busy_timeout = busy_timeout
        self._dialect = self._url.get_backend_name()
        self._path: Path | None = None
        self._lock = asyncio.Lock()
        self._opening = asyncio.Lock()
        self._read_lock: AbstractAsyncContextManager[Any] = nullcontext()
        options: dict[str, Any] = {}
        if self._dialect == "sqlite":
            database = self._url.database or ":memory:"
            if database == ":memory:":
                options["poolclass"] = StaticPool
                # one shared connection: a query must not run inside a write's transaction
                self._read_lock = self._lock
            elif not database.startswith("file:"):
                self._path = Path(database).expanduser()
            options["connect_args"] = {"timeout": busy_timeout}
        self._where = _describe(self._url, self._path)
        try:
            self._engine = create_async_engine(self._url, **options)
        except ImportError as exc:
            if exc.name == "asyncpg":
                raise MissingDependency("asyncpg", "postgres", "the PostgreSQL store") from None
            raise
        if self._dialect == "sqlite":
            event.listen(self._engine.sync_engine, "connect", self._on_sqlite_connect)
        self._upsert_sessions = upsert_sessions(self._dialect)
        self._held: list[AsyncConnection] = []
        self._fast: SQLiteFastPath | None = None

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a file-backed SQLite store (``None`` otherwise)."""
        return self._path

    def _on_sqlite_connect(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    async def setup(self) -> None:
        """Create the database (and its directory) if needed and migrate it to the head."""
        with self._errors("opening"):
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            async with self._engine.connect() as conn:
                if await conn.run_sync(_current_revision) == SCHEMA_REVISION:
                    return
            from alembic.util import CommandError

            try:
                async with _migration_lock(), self._engine.begin() as conn:
                    await conn.run_sync(_upgrade)
            except CommandError as exc:
                raise StoreError(
                    f"cannot migrate {self._where}: {exc} (was it created by a newer agentspec?)"
                ) from None

    async def close(self) -> None:
        """Close the connections held for the fast path and dispose of the pool."""
        with self._errors("closing"):
            self._fast = None
            while self._held:
                await self._held.pop().close()
            await self._engine.dispose()

    async def _fast_path(self) -> SQLiteFastPath | None:
        """The SQLite fast path, set up on first use; ``None`` when SQLAlchemy executes."""
        if self._fast is None and self.fast_path and self._dialect == "sqlite":
            async with self._opening:
                if self._fast is None and self.fast_path:
                    held = [await self._engine.connect(), await self._engine.connect()]
                    self._held.extend(held)
                    writer, reader = [
                        (await c.get_raw_connection()).driver_connection for c in held
                    ]
                    if SQLiteFastPath.supported(writer):
                        self._fast = SQLiteFastPath(writer, reader, self._upsert_sessions)
                    else:
                        self.fast_path = False
                        for conn in held:
                            self._held.remove(conn)
                            await conn.close()
        return self._fast

    async def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` in one transaction; nothing of it is stored if any part fails."""
        if not batch:
            return
        try:
            rows = BatchRows(batch)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot store the batch: a payload is not JSON: {exc}") from exc
        async with self._lock:
            with self._errors("write"):
                fast = await self._fast_path()
                if fast is not None:
                    await fast.write(rows)
                    return
                async with self._engine.begin() as conn:
                    for stmt, names, values in (
                        (INSERT_RUNS, RUN_COLUMNS, rows.runs),
                        (INSERT_EVENTS, EVENT_COLUMNS, rows.events),
                        (UPDATE_RUNS, RUN_UPDATE_ORDER, rows.run_updates),
                        (self._upsert_sessions, SESSION_COLUMNS, rows.sessions),
                        (INSERT_MESSAGES, MESSAGE_COLUMNS, rows.messages),
                    ):
                        if values:
                            params = [dict(zip(names, row, strict=True)) for row in values]
                            await conn.execute(stmt, params)
                    if rows.audit:
                        await self._append_audit_core(conn, rows.audit)

    async def _append_audit_core(
        self, conn: AsyncConnection, records: Sequence[AuditRecord]
    ) -> None:
        """Chain ``records`` onto the tail and insert them, in the open transaction ``conn``."""
        if self._dialect == "postgresql":  # one chain writer at a time across processes
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7246171302)")
        head = (await conn.execute(SELECT_AUDIT_HEAD)).first()
        audit = chain_audit(records, None if head is None else tuple(head))
        params = [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in audit]
        await conn.execute(INSERT_AUDIT, params)

    # audit log -----------------------------------------------------------------------------
    async def append_audit(self, records: Sequence[AuditRecord]) -> None:
        """Append ``records`` in one transaction, chained onto the tail inside it."""
        await self.write(WriteBatch(audit=list(records)))

    async def audit_tail(self) -> AuditRecord | None:
        rows = await self._select(select_audit_tail(), {})
        return AuditRecord.from_row(tuple(rows[0])) if rows else None

    async def audit_pages(
        self, after_seq: int = 0, *, since_ts: int | None = None, page_size: int = 10_000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        params: dict[str, Any] = {"after": after_seq}
        if since_ts is not None:
            params["since_ts"] = since_ts
        async for page in self._pages(select_audit_page(since_ts is not None), params, page_size):
            yield page

    async def _pages(
        self, stmt: Select[Any], params: dict[str, Any], page_size: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Keyset pages of ``stmt`` (parameters ``after`` and ``limit``; ``seq`` first in each
        row). The next page is read, on the database's thread, while the caller handles this
        one."""
        limit = max(1, page_size)
        params = {**params, "limit": limit}
        loop = asyncio.get_running_loop()
        task: asyncio.Future[Sequence[Any]] | None = loop.create_task(self._select(stmt, params))
        try:
            while task is not None:
                rows = await task
                task = None
                if not rows:
                    return
                page = rows if isinstance(rows, list) else [tuple(row) for row in rows]
                if len(rows) == limit:
                    params = {**params, "after": page[-1][0]}
                    task = loop.create_task(self._select(stmt, params))
                yield page
        finally:
            if task is not None:  # the caller stopped early: let the read finish, unused
                with contextlib.suppress(Exception):
                    await task

    async def _select(self, stmt: Select[Any], params: dict[str, Any]) -> Sequence[Any]:
        with self._errors("read"):
            fast = await self._fast_path()
            if fast is not None:
                return await fast.select(stmt, params)
            async with self._read_lock, self._engine.connect() as conn:
                rows: Sequence[Any] = (await conn.execute(stmt, params)).all()
                return rows

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._select(select_run(), {"id": run_id})
        return run_record(rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        session_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        tenant: str | None = None,
    ) -> RunPage:
        params: dict[str, Any] = {"limit": limit + 1}
        if agent is not None:
            params["agent"] = agent
        if status is not None:
            params["status"] = status
        if session_id is not None:
            params["session_id"] = session_id
        if cursor:
            params["before"], params["before_id"] = _decode_cursor(cursor)
        stmt = select_runs(
            agent is not None, status is not None, session_id is not None, bool(cursor)
        )
        if tenant is not None:
            params["tenant"] = tenant
            stmt = _tenant_scoped(stmt, "runs")
        found = [run_record(row) for row in await self._select(stmt, params)]
        if len(found) > limit:
            return RunPage(found[:limit], _encode_cursor(found[limit - 1]) if limit else None)
        return RunPage(found, None)

    async def get_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        params = {"run_id": run_id, "after": after, "limit": limit}
        rows = await self._select(select_events(limit is not None), params)
        return [event_record(row) for row in rows]

    async def acquire_lease(
        self, run_id: str, owner: str, expires_at: float, *, now: float, steal_from: str = ""
    ) -> bool:
        params = {
            "run_id": run_id,
            "owner": owner,
            "steal_from": steal_from or owner,
            "now": now,
            "expires_at": expires_at,
        }
        return await self._execute(ACQUIRE_LEASE, params, "acquire run lease") == 1

    async def child_runs(self, parent_run_id: str) -> list[RunRecord]:
        rows = await self._select(select_child_runs(), {"parent_run_id": parent_run_id})
        return [run_record(row) for row in rows]

    async def renew_leases(self, owner: str, expires_at: float) -> int:
        params = {"owner": owner, "expires_at": expires_at}
        return await self._execute(RENEW_LEASES, params, "renew run leases")

    async def release_lease(self, run_id: str, owner: str) -> bool:
        params = {"run_id": run_id, "owner": owner}
        return await self._execute(RELEASE_LEASE, params, "release run lease") == 1

    async def get_session(self, session_id: str) -> SessionRecord | None:
        rows = await self._select(select_session(), {"id": session_id})
        return session_record(rows[0]) if rows else None

    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100, tenant: str | None = None
    ) -> list[SessionRecord]:
        params = {"agent": agent, "limit": limit, "tenant": tenant}
        stmt = select_sessions(agent is not None)
        if tenant is not None:
            stmt = _tenant_scoped(stmt, "sessions")
        rows = await self._select(stmt, params)
        return [session_record(row) for row in rows]

    async def delete_session(self, session_id: str) -> bool:
        async with self._lock:
            with self._errors("delete session"):
                fast = await self._fast_path()
                if fast is not None:
                    return await fast.delete_session(session_id)
                async with self._engine.begin() as conn:
                    await conn.execute(DELETE_MESSAGES, {"session_id": session_id})
                    result = await conn.execute(DELETE_SESSION, {"session_id": session_id})
                    return bool(result.rowcount)

    async def get_messages(
        self, session_id: str, *, last: int | None = None
    ) -> list[MessageRecord]:
        params = {"session_id": session_id, "limit": last}
        messages = [
            message_record(row) for row in await self._select(select_messages(bool(last)), params)
        ]
        if last:
            messages.reverse()
        return messages

    # API keys: rare writes, one statement each ------------------------------------------
    async def _execute(self, stmt: Insert | Update, params: dict[str, Any], action: str) -> int:
        """Run one write statement in its own transaction; return its row count."""
        async with self._lock:
            with self._errors(action):
                fast = await self._fast_path()
                if fast is not None:
                    return await fast.execute(stmt, params)
                async with self._engine.begin() as conn:
                    return int((await conn.execute(stmt, params)).rowcount)

    async def create_api_key(self, record: ApiKeyRecord) -> None:
        await self._execute(INSERT_API_KEY, api_key_params(record), "create API key")

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self._select(select_api_key(False), {"id": key_id})
        return api_key_record(rows[0]) if rows else None

    async def get_api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        rows = await self._select(select_api_key(True), {"prefix": prefix})
        return api_key_record(rows[0]) if rows else None

    async def list_api_keys(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKeyRecord]:
        stmt = select_api_keys(tenant is not None, include_revoked)
        rows = await self._select(stmt, {} if tenant is None else {"tenant": tenant})
        return [api_key_record(row) for row in rows]

    async def update_api_key(
        self,
        key_id: str,
        *,
        revoked_at: float | None | Unset = UNSET,
        last_used_at: float | None | Unset = UNSET,
        name: str | Unset = UNSET,
    ) -> ApiKeyRecord | None:
        changes: dict[str, Any] = {
            column: value
            for column, value in (
                ("revoked_at", revoked_at),
                ("last_used_at", last_used_at),
                ("name", name),
            )
            if value is not UNSET
        }
        if changes:
            stmt = update_api_key_columns(tuple(changes))
            if not await self._execute(stmt, {"key_id": key_id, **changes}, "update API key"):
                return None
        return await self.get_api_key(key_id)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            raise self._translate(exc, action) from exc

    def _translate(self, exc: BaseException, action: str) -> StoreError:
        orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = str(orig).strip() or type(orig).__name__
        low = text.lower()
        where = self._where
        if "database is locked" in low or "database table is locked" in low:
            message = (
                f"{where} is locked: another process or connection holds a lock on it and did "
                f"not release it within the {self._busy_timeout:g}s busy timeout"
            )
        elif "unable to open database file" in low:
            message = f"cannot open {where}: the file or its directory is missing or not writable"
        elif "readonly database" in low:
            message = f"{where} is read-only: make the file and its directory writable"
        elif "file is not a database" in low or "malformed" in low:
            message = f"{where} is unreadable: the file is corrupt or not a SQLite database"
        elif isinstance(exc, OSError) and self._path is not None:
            message = f"cannot create the directory of {where}: {exc.strerror or exc}"
        elif isinstance(orig, OSError) or (self._dialect != "sqlite" and "connect" in low):
            message = f"cannot reach {where}: {text}"
        elif isinstance(exc, IntegrityError) or isinstance(orig, sqlite3.IntegrityError):
            message = f"{action} rejected by {where}: {text}"
        else:
            message = f"{action} failed on {where}: {text}"
        return StoreError(message)


def _driver_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"invalid store URL {url!r}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise UsageError(
        f"unsupported store URL {url!r}: use sqlite:///path/to.db, sqlite:///:memory: "
        "or postgresql://user:password@host/database"
    )


def _describe(url: URL, path: Path | None) -> str:
    if url.get_backend_name() == "sqlite":
        if path is None and url.database in (None, "", ":memory:"):
            return "in-memory SQLite database"
        return f"SQLite database {path or url.database}"
    host = f"{url.host or 'localhost'}:{url.port or 5432}"
    return f"PostgreSQL database {url.database or ''!r} on {host}"
