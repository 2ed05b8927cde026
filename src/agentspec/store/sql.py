"""The SQL store: SQLAlchemy Core over asyncio, SQLite (aiosqlite) now, PostgreSQL later.

All backends share :mod:`agentspec.store.schema` and one Alembic history, applied by
:meth:`SQLStore.setup`. Writes are serialized per store and applied in one transaction per
:class:`~agentspec.store.base.WriteBatch`. On SQLite the whole batch runs as a single call on
aiosqlite's worker thread through a dedicated connection (one thread hop per batch instead of
one per statement); every other path uses SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    event,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement, Executable, Insert

from agentspec.engine.events import Event
from agentspec.exceptions import MissingDependency, StoreError, UsageError
from agentspec.store.base import (
    MessageRecord,
    RunPage,
    RunRecord,
    SessionRecord,
    Store,
    WriteBatch,
)
from agentspec.store.schema import (
    EVENT_COLUMNS,
    MESSAGE_COLUMNS,
    RUN_COLUMNS,
    RUN_UPDATE_ORDER,
    SCHEMA_REVISION,
    SESSION_COLUMNS,
    SESSION_UPSERT_COLUMNS,
    BatchRows,
    dumps,
    event_record,
    loads,
    message_record,
    run_events,
    run_record,
    runs,
    session_messages,
    session_record,
    sessions,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_WAL_AUTOCHECKPOINT_PAGES = 10_000
"""~40 MB of WAL between checkpoints (SQLite's default is 1,000 pages): hot pages are copied
back once per checkpoint instead of ten times, which cuts mean write latency by about a third."""

_INSERT_RUNS = insert(runs)
_INSERT_EVENTS = insert(run_events)
_INSERT_MESSAGES = insert(session_messages)
_UPDATE_RUNS = update(runs).where(runs.c.id == bindparam("run_id"))


def _upsert_sessions(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` of the mutable session columns."""
    stmt: Any = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(sessions)
    return cast(
        Insert,
        stmt.on_conflict_do_update(
            index_elements=[sessions.c.id],
            set_={name: stmt.excluded[name] for name in SESSION_UPSERT_COLUMNS},
        ),
    )


def _sqlite_text(stmt: ClauseElement, order: Sequence[str]) -> str:
    """Compile ``stmt`` for sqlite3 with ``?`` placeholders bound in ``order``."""
    from sqlalchemy.dialects.sqlite import dialect

    compiled = stmt.compile(dialect=dialect(paramstyle="qmark"), column_keys=list(order))
    positions = tuple(getattr(compiled, "positiontup", None) or ())
    if positions != tuple(order):
        raise RuntimeError(f"unexpected parameter order {positions} in {compiled}")
    return str(compiled)


class _SQLiteWriter:
    """Applies a whole batch in one call on the aiosqlite worker thread."""

    def __init__(self) -> None:
        self.insert_runs = _sqlite_text(_INSERT_RUNS, RUN_COLUMNS)
        self.insert_events = _sqlite_text(_INSERT_EVENTS, EVENT_COLUMNS)
        self.update_runs = _sqlite_text(_UPDATE_RUNS, RUN_UPDATE_ORDER)
        self.upsert_sessions = _sqlite_text(_upsert_sessions("sqlite"), SESSION_COLUMNS)
        self.insert_messages = _sqlite_text(_INSERT_MESSAGES, MESSAGE_COLUMNS)

    def apply(self, db: sqlite3.Connection, rows: BatchRows) -> None:
        if db.in_transaction:
            db.rollback()
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, values in (
                (self.insert_runs, rows.runs),
                (self.insert_events, rows.events),
                (self.update_runs, rows.run_updates),
                (self.upsert_sessions, rows.sessions),
                (self.insert_messages, rows.messages),
            ):
                if values:
                    db.executemany(sql, values)
            db.commit()
        except BaseException:
            db.rollback()
            raise


def _encode_cursor(run: RunRecord) -> str:
    return base64.urlsafe_b64encode(dumps([run.created_at, run.id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, run_id = loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at), str(run_id)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"invalid runs cursor {cursor!r}") from exc


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if revision is None else str(revision)


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
        fast_writes: On SQLite, apply each batch in a single call on aiosqlite's worker
            thread (the default). When false, or if aiosqlite lacks the hook, batches go
            through SQLAlchemy Core like on PostgreSQL.

    Raises:
        UsageError: The URL is not a supported SQLite or PostgreSQL URL.
        MissingDependency: A PostgreSQL URL was given but asyncpg is not installed.
    """

    fast_writes: bool = True

    def __init__(self, url: str, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self._url = _driver_url(url)
        self._busy_timeout = busy_timeout
        self._dialect = self._url.get_backend_name()
        self._path: Path | None = None
        self._lock = asyncio.Lock()
        self._read_lock: AbstractAsyncContextManager[Any] = nullcontext()
        options: dict[str, Any] = {}
        if self._dialect == "sqlite":
            database = self._url.database or ":memory:"
            if database == ":memory:":
                options["poolclass"] = StaticPool
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
        self._upsert_sessions = _upsert_sessions(self._dialect)
        self._writer_conn: AsyncConnection | None = None
        self._fast_write: Callable[[BatchRows], Awaitable[None]] | None = None

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
                async with self._engine.begin() as conn:
                    await conn.run_sync(_upgrade)
            except CommandError as exc:
                raise StoreError(
                    f"cannot migrate {self._where}: {exc} (was it created by a newer agentspec?)"
                ) from None

    async def close(self) -> None:
        """Close the write connection and dispose of the connection pool."""
        with self._errors("closing"):
            self._fast_write = None
            if self._writer_conn is not None:
                await self._writer_conn.close()
                self._writer_conn = None
            await self._engine.dispose()

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
                if self._writer_conn is None and self._dialect == "sqlite" and self.fast_writes:
                    await self._open_sqlite_writer()
                if self._fast_write is not None:
                    await self._fast_write(rows)
                    return
                async with self._engine.begin() as conn:
                    await self._write_core(conn, rows)

    async def _open_sqlite_writer(self) -> None:
        """Check out a connection for writes and, if aiosqlite allows, the one-hop path."""
        self._writer_conn = await self._engine.connect()
        driver: Any = (await self._writer_conn.get_raw_connection()).driver_connection
        execute = getattr(driver, "_execute", None)
        if callable(execute):
            self._fast_write = partial(execute, _SQLiteWriter().apply, driver._conn)
        else:
            self.fast_writes = False
            await self._writer_conn.close()
            self._writer_conn = None

    async def _write_core(self, conn: AsyncConnection, rows: BatchRows) -> None:
        for stmt, names, values in (
            (_INSERT_RUNS, RUN_COLUMNS, rows.runs),
            (_INSERT_EVENTS, EVENT_COLUMNS, rows.events),
            (_UPDATE_RUNS, RUN_UPDATE_ORDER, rows.run_updates),
            (self._upsert_sessions, SESSION_COLUMNS, rows.sessions),
            (_INSERT_MESSAGES, MESSAGE_COLUMNS, rows.messages),
        ):
            if values:
                await conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in values])

    async def _fetch(self, stmt: Executable) -> Sequence[Row[Any]]:
        async with self._read_lock:
            with self._errors("read"):
                async with self._engine.connect() as conn:
                    return (await conn.execute(stmt)).all()

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._fetch(select(runs).where(runs.c.id == run_id))
        return run_record(rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        session_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        stmt = select(runs)
        if agent is not None:
            stmt = stmt.where(runs.c.agent == agent)
        if status is not None:
            stmt = stmt.where(runs.c.status == status)
        if session_id is not None:
            stmt = stmt.where(runs.c.session_id == session_id)
        if cursor:
            created_at, run_id = _decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    runs.c.created_at < created_at,
                    and_(runs.c.created_at == created_at, runs.c.id < run_id),
                )
            )
        stmt = stmt.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit + 1)
        found = [run_record(row) for row in await self._fetch(stmt)]
        if len(found) > limit:
            return RunPage(found[:limit], _encode_cursor(found[limit - 1]) if limit else None)
        return RunPage(found, None)

    async def get_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        stmt = (
            select(run_events)
            .where(run_events.c.run_id == run_id, run_events.c.seq > after)
            .order_by(run_events.c.seq)
            .limit(limit)
        )
        return [event_record(row) for row in await self._fetch(stmt)]

    async def get_session(self, session_id: str) -> SessionRecord | None:
        rows = await self._fetch(select(sessions).where(sessions.c.id == session_id))
        return session_record(rows[0]) if rows else None

    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        stmt = select(sessions).order_by(sessions.c.updated_at.desc(), sessions.c.id.desc())
        if agent is not None:
            stmt = stmt.where(sessions.c.agent == agent)
        return [session_record(row) for row in await self._fetch(stmt.limit(limit))]

    async def delete_session(self, session_id: str) -> bool:
        async with self._lock:
            with self._errors("delete session"):
                async with self._engine.begin() as conn:
                    await conn.execute(
                        delete(session_messages).where(session_messages.c.session_id == session_id)
                    )
                    result = await conn.execute(delete(sessions).where(sessions.c.id == session_id))
                    return bool(result.rowcount)

    async def get_messages(
        self, session_id: str, *, last: int | None = None
    ) -> list[MessageRecord]:
        stmt = select(session_messages).where(session_messages.c.session_id == session_id)
        if last:
            stmt = stmt.order_by(session_messages.c.seq.desc()).limit(last)
        else:
            stmt = stmt.order_by(session_messages.c.seq)
        messages = [message_record(row) for row in await self._fetch(stmt)]
        if last:
            messages.reverse()
        return messages

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
