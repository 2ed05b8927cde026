"""One thread hop per operation for :class:`agentspec.store.sql.SQLStore` on SQLite.

aiosqlite runs every call on the connection's worker thread, and each call costs a round trip
between threads (50-100 µs on a small VM); SQLAlchemy's async layer adds several such calls
and its own overhead per statement (0.5-1 ms per query measured). Here a whole write batch
with its transaction, or a query with its fetch, is a single call. The SQL is compiled once
from the same SQLAlchemy Core statements the generic path executes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ClauseElement
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from agentspec.store.schema import (
    AUDIT_COLUMNS,
    DELETE_MESSAGES,
    DELETE_SESSION,
    EVENT_COLUMNS,
    INSERT_AUDIT,
    INSERT_EVENTS,
    INSERT_MESSAGES,
    INSERT_RUNS,
    MESSAGE_COLUMNS,
    RUN_COLUMNS,
    RUN_UPDATE_ORDER,
    SELECT_AUDIT_HEAD,
    SESSION_COLUMNS,
    UPDATE_RUNS,
    BatchRows,
    chain_audit,
)


def positional_sql(stmt: ClauseElement, order: Sequence[str]) -> str:
    """Compile ``stmt`` for sqlite3 with ``?`` placeholders bound in ``order``."""
    compiled = stmt.compile(dialect=sqlite_dialect(paramstyle="qmark"), column_keys=list(order))
    positions = tuple(getattr(compiled, "positiontup", None) or ())
    if positions != tuple(order):
        raise RuntimeError(f"unexpected parameter order {positions} in {compiled}")
    return str(compiled)


@lru_cache(maxsize=64)
def named_sql(stmt: ClauseElement) -> tuple[str, dict[str, Any]]:
    """Compile ``stmt`` with ``:name`` placeholders; also return its fixed parameters."""
    compiled = stmt.compile(dialect=sqlite_dialect(paramstyle="named"))
    return str(compiled), {k: v for k, v in compiled.params.items() if v is not None}


class SQLiteFastPath:
    """Writes on one aiosqlite connection, reads on another (the same one for ``:memory:``).

    Args:
        writer: The aiosqlite connection for writes. Its private ``_execute`` (which runs a
            function on the worker thread, as SQLAlchemy's own adapter does) must exist;
            check with :meth:`supported`.
        reader: The aiosqlite connection for queries.
        upsert_sessions: The dialect's session upsert statement.
    """

    def __init__(self, writer: Any, reader: Any, upsert_sessions: ClauseElement) -> None:
        self._writer = writer
        self._reader = reader
        self._insert_runs = positional_sql(INSERT_RUNS, RUN_COLUMNS)
        self._insert_events = positional_sql(INSERT_EVENTS, EVENT_COLUMNS)
        self._update_runs = positional_sql(UPDATE_RUNS, RUN_UPDATE_ORDER)
        self._upsert_sessions = positional_sql(upsert_sessions, SESSION_COLUMNS)
        self._insert_messages = positional_sql(INSERT_MESSAGES, MESSAGE_COLUMNS)
        self._delete_messages = positional_sql(DELETE_MESSAGES, ("session_id",))
        self._delete_session = positional_sql(DELETE_SESSION, ("session_id",))
        self._insert_audit = positional_sql(INSERT_AUDIT, AUDIT_COLUMNS)
        self._audit_head = str(
            SELECT_AUDIT_HEAD.compile(
                dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}
            )
        )

    @staticmethod
    def supported(connection: Any) -> bool:
        """Whether the aiosqlite ``connection`` has the hook this path needs."""
        return callable(getattr(connection, "_execute", None))

    async def write(self, rows: BatchRows) -> None:
        """Apply ``rows`` in one ``BEGIN IMMEDIATE`` transaction."""
        await self._writer._execute(self._apply, self._writer._conn, rows)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its messages; return whether the session existed."""
        deleted: bool = await self._writer._execute(self._delete, self._writer._conn, session_id)
        return deleted

    async def execute(self, stmt: ClauseElement, params: dict[str, Any]) -> int:
        """Run the write statement ``stmt`` in its own transaction; return its row count."""
        sql, fixed = named_sql(stmt)
        count: int = await self._writer._execute(
            self._execute_one, self._writer._conn, sql, {**fixed, **params}
        )
        return count

    async def select(self, stmt: ClauseElement, params: dict[str, Any]) -> list[Any]:
        """Rows of the query ``stmt`` as tuples."""
        sql, fixed = named_sql(stmt)
        rows: list[Any] = await self._reader.execute_fetchall(sql, {**fixed, **params})
        return rows

    def _apply(self, db: sqlite3.Connection, rows: BatchRows) -> None:
        self._begin(db)
        try:
            for sql, values in (
                (self._insert_runs, rows.runs),
                (self._insert_events, rows.events),
                (self._update_runs, rows.run_updates),
                (self._upsert_sessions, rows.sessions),
                (self._insert_messages, rows.messages),
            ):
                if values:
                    db.executemany(sql, values)
            if rows.audit:
                # chained inside the write lock (BEGIN IMMEDIATE): no other writer can interleave
                head = db.execute(self._audit_head).fetchone()
                db.executemany(self._insert_audit, chain_audit(rows.audit, head))
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def _delete(self, db: sqlite3.Connection, session_id: str) -> bool:
        self._begin(db)
        try:
            db.execute(self._delete_messages, (session_id,))
            existed = db.execute(self._delete_session, (session_id,)).rowcount > 0
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return existed

    def _execute_one(self, db: sqlite3.Connection, sql: str, params: dict[str, Any]) -> int:
        self._begin(db)
        try:
            count = db.execute(sql, params).rowcount
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return count

    @staticmethod
    def _begin(db: sqlite3.Connection) -> None:
        if db.in_transaction:
            db.rollback()
        db.execute("BEGIN IMMEDIATE")
