"""The SQL shared by every SQL backend (SQLite, PostgreSQL): tables, statements, row mapping.

This module describes the *current* schema; the Alembic history under
``agentspec/store/migrations/versions`` is what actually creates it, and a test checks that
the two agree. When adding a migration, update the tables here and bump
:data:`SCHEMA_REVISION` to the new head revision.

JSON payloads (event data, session metadata, messages) are stored as compact TEXT so that
the same schema works everywhere without dialect JSON types. On SQLite every table is
``WITHOUT ROWID`` (clustered on its primary key): one B-tree per table instead of two, which
makes commits write fewer pages; other dialects ignore the option.

Statements are SQLAlchemy Core with named bind parameters, built once (reads: once per
variant). Records become positional rows in table column order (:class:`BatchRows`); reads
select columns in record field order (``*_FIELDS``) and map back with the ``*_record``
functions, so rows from SQLAlchemy and raw sqlite3 tuples are handled alike.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from agentspec.audit.chain import GENESIS, AuditRow, chain_rows
from agentspec.engine.events import Event
from agentspec.store.base import (
    ApiKeyRecord,
    AuditRecord,
    MessageRecord,
    RunRecord,
    RunUpdate,
    SessionRecord,
    WriteBatch,
)

SCHEMA_REVISION = "0004"
"""The Alembic head revision this code expects; opening a database at it skips Alembic."""

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("agent", String, nullable=False),
    Column("package", String, nullable=False),
    Column("ir_hash", String, nullable=False),
    Column("status", String, nullable=False),
    Column("session_id", String, nullable=False),
    Column("parent_run_id", String, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("lease_owner", String, nullable=False, server_default=""),
    Column("lease_expires", Double, nullable=False, server_default="0"),
    Index("ix_runs_tenant_created", "tenant", "created_at"),
    Index("ix_runs_agent_created", "agent", "created_at"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_session", "session_id"),
    Index("ix_runs_parent", "parent_run_id"),
    sqlite_with_rowid=False,
)

run_events = Table(
    "run_events",
    metadata,
    Column(
        "run_id",
        String,
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_events_run"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Double, nullable=False),
    Column("type", String, nullable=False),
    Column("data", Text, nullable=False),
    Column("trace_id", String, nullable=False),
    sqlite_with_rowid=False,
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("agent", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("message_count", Integer, nullable=False),
    Index("ix_sessions_agent_updated", "agent", "updated_at"),
    sqlite_with_rowid=False,
)

session_messages = Table(
    "session_messages",
    metadata,
    Column(
        "session_id",
        String,
        ForeignKey("sessions.id", ondelete="CASCADE", name="fk_session_messages_session"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run_id", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("message", Text, nullable=False),
    sqlite_with_rowid=False,
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("prefix", String, nullable=False),
    Column("secret_hash", String, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("expires_at", Double, nullable=True),
    Index("ix_api_keys_prefix", "prefix", unique=True),
    Index("ix_api_keys_tenant_created", "tenant", "created_at"),
    sqlite_with_rowid=False,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("tenant", String, nullable=False),
    Column("id", String, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("kind", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("subject", String, nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
    Index("ix_audit_log_id", "id", unique=True),
    Index("ix_audit_log_ts", "ts"),
    sqlite_with_rowid=False,
)
"""The hash-chained audit log (:mod:`agentspec.audit.chain`): ``seq`` is the chain index."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


RUN_COLUMNS = tuple(column.name for column in runs.c)
EVENT_COLUMNS = tuple(column.name for column in run_events.c)
SESSION_COLUMNS = tuple(column.name for column in sessions.c)
MESSAGE_COLUMNS = tuple(column.name for column in session_messages.c)
AUDIT_COLUMNS = tuple(column.name for column in audit_log.c)
"""``seq, tenant, id, ts, kind, actor, subject, data, prev_hash, hash``: the order of
:data:`agentspec.audit.chain.AuditRow`."""
RUN_UPDATE_ORDER = (
    "status", "output", "error", "updated_at", "turns", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "run_id",
)  # fmt: skip
"""Parameter order of a run update row: the columns it sets, then the run id."""
SESSION_UPSERT_COLUMNS = ("updated_at", "message_count", "metadata")
"""The columns an upsert of an existing session changes."""

RUN_FIELDS = tuple(field.name for field in fields(RunRecord))
EVENT_FIELDS = ("run_id", "seq", "ts", "type", "data", "trace_id")
SESSION_FIELDS = ("id", "agent", "created_at", "updated_at", "metadata", "message_count", "tenant")
MESSAGE_FIELDS = ("session_id", "seq", "message", "run_id", "created_at")
API_KEY_FIELDS = tuple(field.name for field in fields(ApiKeyRecord))
"""Columns to select, in the order of the record's fields, for the ``*_record`` functions."""

INSERT_RUNS = insert(runs)
INSERT_EVENTS = insert(run_events)
INSERT_MESSAGES = insert(session_messages)
UPDATE_RUNS = update(runs).where(runs.c.id == bindparam("run_id"))
DELETE_MESSAGES = delete(session_messages).where(
    session_messages.c.session_id == bindparam("session_id")
)
DELETE_SESSION = delete(sessions).where(sessions.c.id == bindparam("session_id"))
INSERT_API_KEY = insert(api_keys)
"""Parameters: every column of ``api_keys`` (see :func:`api_key_params`)."""
INSERT_AUDIT = insert(audit_log)
"""Parameters: every column of ``audit_log``, in :data:`AUDIT_COLUMNS` order."""

_unfinished = or_(runs.c.status == "running", runs.c.status == "waiting")
ACQUIRE_LEASE = (
    update(runs)
    .where(
        runs.c.id == bindparam("run_id"),
        _unfinished,
        or_(
            runs.c.lease_owner == "",
            runs.c.lease_owner == bindparam("owner"),
            runs.c.lease_owner == bindparam("steal_from"),
            runs.c.lease_expires < bindparam("now", type_=Double),
        ),
    )
    .values(lease_owner=bindparam("owner"), lease_expires=bindparam("expires_at", type_=Double))
)
"""Take the lease of an unfinished run if it is free, expired, ours or ``steal_from``'s.
Parameters: ``run_id``, ``owner``, ``steal_from``, ``now``, ``expires_at``."""
RENEW_LEASES = (
    update(runs)
    .where(runs.c.lease_owner == bindparam("owner"), _unfinished)
    .values(lease_expires=bindparam("expires_at", type_=Double))
)
"""Extend every lease ``owner`` holds on an unfinished run. Parameters: ``owner``,
``expires_at``."""
RELEASE_LEASE = (
    update(runs)
    .where(runs.c.id == bindparam("run_id"), runs.c.lease_owner == bindparam("owner"))
    .values(lease_owner="", lease_expires=0.0)
)
"""Give a lease up. Parameters: ``run_id``, ``owner``."""


SELECT_AUDIT_HEAD = (
    select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
)
"""``(seq, hash)`` of the last entry: what a write chains onto (no parameters)."""


@cache
def select_audit_tail() -> Select[Any]:
    """The last entry of the audit log (no parameters)."""
    stmt = select(*(audit_log.c[f] for f in AUDIT_COLUMNS))
    return stmt.order_by(audit_log.c.seq.desc()).limit(1)


@cache
def select_audit_page(since_ts: bool) -> Select[Any]:
    """Entries after a ``seq``, in order. Parameters: ``after``, ``limit`` (and ``since_ts``)."""
    stmt = select(*(audit_log.c[f] for f in AUDIT_COLUMNS)).where(
        audit_log.c.seq > bindparam("after", type_=Integer)
    )
    if since_ts:
        stmt = stmt.where(audit_log.c.ts >= bindparam("since_ts", type_=BigInteger))
    return stmt.order_by(audit_log.c.seq).limit(_limit())


def upsert_sessions(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` of :data:`SESSION_UPSERT_COLUMNS`."""
    stmt: Any = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(sessions)
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[sessions.c.id],
        set_={name: stmt.excluded[name] for name in SESSION_UPSERT_COLUMNS},
    )
    return upsert


def _limit() -> Any:
    return bindparam("limit", type_=Integer)


@cache
def select_run() -> Select[Any]:
    """Parameters: ``id``."""
    return select(*(runs.c[f] for f in RUN_FIELDS)).where(runs.c.id == bindparam("id"))


@cache
def select_runs(agent: bool, status: bool, session_id: bool, cursor: bool) -> Select[Any]:
    """Newest first. Parameters: ``limit`` and, per flag, ``agent``, ``status``,
    ``session_id``, ``before`` and ``before_id`` (the cursor's ``created_at`` and ``id``)."""
    stmt = select(*(runs.c[f] for f in RUN_FIELDS))
    if agent:
        stmt = stmt.where(runs.c.agent == bindparam("agent"))
    if status:
        stmt = stmt.where(runs.c.status == bindparam("status"))
    if session_id:
        stmt = stmt.where(runs.c.session_id == bindparam("session_id"))
    if cursor:
        before = bindparam("before", type_=Double)
        older = and_(runs.c.created_at == before, runs.c.id < bindparam("before_id"))
        stmt = stmt.where(or_(runs.c.created_at < before, older))
    return stmt.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(_limit())


@cache
def select_child_runs() -> Select[Any]:
    """Runs of a parent, oldest first. Parameters: ``parent_run_id``."""
    stmt = select(*(runs.c[f] for f in RUN_FIELDS))
    stmt = stmt.where(runs.c.parent_run_id == bindparam("parent_run_id"))
    return stmt.order_by(runs.c.created_at, runs.c.id)


@cache
def select_events(limited: bool) -> Select[Any]:
    """Parameters: ``run_id``, ``after`` and, if ``limited``, ``limit``."""
    stmt = (
        select(*(run_events.c[f] for f in EVENT_FIELDS))
        .where(run_events.c.run_id == bindparam("run_id"), run_events.c.seq > bindparam("after"))
        .order_by(run_events.c.seq)
    )
    return stmt.limit(_limit()) if limited else stmt


@cache
def select_session() -> Select[Any]:
    """Parameters: ``id``."""
    return select(*(sessions.c[f] for f in SESSION_FIELDS)).where(sessions.c.id == bindparam("id"))


@cache
def select_sessions(agent: bool) -> Select[Any]:
    """Most recently updated first. Parameters: ``limit`` and, if ``agent``, ``agent``."""
    stmt = select(*(sessions.c[f] for f in SESSION_FIELDS))
    if agent:
        stmt = stmt.where(sessions.c.agent == bindparam("agent"))
    return stmt.order_by(sessions.c.updated_at.desc(), sessions.c.id.desc()).limit(_limit())


@cache
def select_messages(last: bool) -> Select[Any]:
    """In order, or with ``last`` newest first. Parameters: ``session_id`` (and ``limit``)."""
    stmt = select(*(session_messages.c[f] for f in MESSAGE_FIELDS)).where(
        session_messages.c.session_id == bindparam("session_id")
    )
    if last:
        return stmt.order_by(session_messages.c.seq.desc()).limit(_limit())
    return stmt.order_by(session_messages.c.seq)


@cache
def select_api_key(by_prefix: bool) -> Select[Any]:
    """Parameters: ``id``, or ``prefix`` if ``by_prefix``."""
    column = api_keys.c.prefix if by_prefix else api_keys.c.id
    stmt = select(*(api_keys.c[f] for f in API_KEY_FIELDS))
    return stmt.where(column == bindparam("prefix" if by_prefix else "id"))


@cache
def select_api_keys(tenant: bool, include_revoked: bool) -> Select[Any]:
    """Newest first. Parameters: ``tenant`` if ``tenant``."""
    stmt = select(*(api_keys.c[f] for f in API_KEY_FIELDS))
    if tenant:
        stmt = stmt.where(api_keys.c.tenant == bindparam("tenant"))
    if not include_revoked:
        stmt = stmt.where(api_keys.c.revoked_at.is_(None))
    return stmt.order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())


@cache
def update_api_key_columns(columns: tuple[str, ...]) -> Update:
    """Set ``columns`` of one key. Parameters: ``key_id`` and one per column."""
    return (
        update(api_keys)
        .where(api_keys.c.id == bindparam("key_id"))
        .values({name: bindparam(name, type_=api_keys.c[name].type) for name in columns})
    )


def api_key_params(record: ApiKeyRecord) -> dict[str, Any]:
    """The parameters of :data:`INSERT_API_KEY` for ``record``."""
    params = {name: getattr(record, name) for name in API_KEY_FIELDS}
    params["scopes"] = dumps(list(record.scopes))
    return params


class BatchRows:
    """A :class:`WriteBatch` as positional rows, in the column order of each table.

    A run update for a run inserted by the same batch is folded into the inserted row,
    which stores exactly what inserting and then updating would. Audit entries stay records
    until the transaction knows the tail of the chain (:func:`chain_audit`).
    """

    __slots__ = ("audit", "events", "messages", "run_updates", "runs", "sessions")

    def __init__(self, batch: WriteBatch) -> None:
        self.audit = batch.audit
        """Records, not rows: they are chained onto the tail inside the transaction."""
        updates = {u.run_id: u for u in batch.run_updates}
        self.runs = [_run_row(r, updates.pop(r.id, None)) for r in batch.runs]
        self.events = [
            (e.run_id, e.seq, e.ts, e.type, dumps(e.data), e.trace_id) for e in batch.events
        ]
        self.run_updates = [
            (u.status, u.output, u.error, u.updated_at, u.turns, u.input_tokens,
             u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.run_id)
            for u in updates.values()
        ]  # fmt: skip
        self.sessions = [
            (s.id, s.tenant, s.agent, s.created_at, s.updated_at, dumps(s.metadata),
             s.message_count)
            for s in batch.sessions
        ]  # fmt: skip
        self.messages = [
            (m.session_id, m.seq, m.run_id, m.created_at, dumps(m.message)) for m in batch.messages
        ]


def chain_audit(records: Sequence[AuditRecord], tail: Sequence[Any] | None) -> list[AuditRow]:
    """Rows for ``records`` chained onto ``tail`` (``(seq, hash)`` of the last entry, or
    ``None`` for an empty log); each record gets its ``seq``, ``prev_hash`` and ``hash``."""
    last_seq, last_hash = (int(tail[0]), str(tail[1])) if tail else (0, GENESIS)
    rows = chain_rows((r.entry() for r in records), last_seq, last_hash)
    for record, row in zip(records, rows, strict=True):
        record.seq, record.ts, record.prev_hash, record.hash = row[0], row[3], row[8], row[9]
    return rows


def _run_row(r: RunRecord, u: RunUpdate | None) -> tuple[Any, ...]:
    if u is None:
        return (
            r.id, r.tenant, r.agent, r.package, r.ir_hash, r.status, r.session_id,
            r.parent_run_id, r.input, r.output, r.error, r.created_at, r.updated_at, r.turns,
            r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens,
            r.lease_owner, r.lease_expires,
        )  # fmt: skip
    return (
        r.id, r.tenant, r.agent, r.package, r.ir_hash, u.status, r.session_id,
        r.parent_run_id, r.input, u.output, u.error, r.created_at, u.updated_at, u.turns,
        u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens,
        r.lease_owner, r.lease_expires,
    )  # fmt: skip


def run_record(row: Sequence[Any]) -> RunRecord:
    """The :class:`RunRecord` of a row of :data:`RUN_FIELDS`."""
    return RunRecord(*row)


def event_record(row: Sequence[Any]) -> Event:
    """The :class:`Event` of a row of :data:`EVENT_FIELDS`."""
    return Event(row[0], row[1], row[2], row[3], loads(row[4]), row[5])


def session_record(row: Sequence[Any]) -> SessionRecord:
    """The :class:`SessionRecord` of a row of :data:`SESSION_FIELDS`."""
    return SessionRecord(row[0], row[1], row[2], row[3], loads(row[4]), row[5], row[6])


def message_record(row: Sequence[Any]) -> MessageRecord:
    """The :class:`MessageRecord` of a row of :data:`MESSAGE_FIELDS`."""
    return MessageRecord(row[0], row[1], loads(row[2]), row[3], row[4])


def api_key_record(row: Sequence[Any]) -> ApiKeyRecord:
    """The :class:`ApiKeyRecord` of a row of :data:`API_KEY_FIELDS`."""
    values = list(row)
    values[API_KEY_FIELDS.index("scopes")] = tuple(loads(values[API_KEY_FIELDS.index("scopes")]))
    return ApiKeyRecord(*values)


def dumps(value: Any) -> str:
    """Serialize ``value`` to the compact JSON text stored in JSON columns.

    Same output as ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, without
    building a new encoder per call.
    """
    return _ENCODER.encode(value)


loads = json.loads
