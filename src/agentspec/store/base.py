"""The store port: runs with their event logs, sessions with their messages, and API keys.

Backends (one file each): :mod:`agentspec.store.memory` (tests, benchmarks) and
:mod:`agentspec.store.sql` (SQLAlchemy async: SQLite by default, PostgreSQL later), sharing one
schema and one Alembic migration history. Every backend must pass
``tests/store/conformance.py``.

Writes arrive as a :class:`WriteBatch` so a backend can make many runs' events durable in one
transaction (group commit). A batch is applied atomically and in order: new runs, then
events, then run updates, then sessions (upserted: insert, or update ``updated_at``,
``message_count`` and ``metadata`` of an existing one), then messages, then audit entries
(chained onto the audit log's tail inside the transaction).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

from agentspec.engine.events import Event

RunStatus = Literal["running", "completed", "failed", "cancelled", "waiting"]
RUN_STATUSES: tuple[str, ...] = ("running", "completed", "failed", "cancelled", "waiting")


@dataclass(slots=True)
class RunRecord:
    id: str
    agent: str
    package: str
    ir_hash: str
    status: RunStatus = "running"
    session_id: str = ""
    input: str = ""
    output: str = ""
    error: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    parent_run_id: str = ""
    tenant: str = "default"
    lease_owner: str = ""
    """The process driving the run (see :mod:`agentspec.engine.lease`); empty: nobody."""
    lease_expires: float = 0.0
    """Epoch seconds at which the lease lapses unless its owner renews it."""


@dataclass(slots=True)
class RunUpdate:
    """The final (or intermediate) state of a run, derived from its events."""

    run_id: str
    status: RunStatus
    updated_at: float
    output: str = ""
    error: str = ""
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class SessionRecord:
    id: str
    agent: str
    created_at: float
    updated_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    message_count: int = 0
    tenant: str = "default"


@dataclass(slots=True)
class MessageRecord:
    """A stored session message. ``message`` is ``agentspec.models.base.Message.to_dict()``."""

    session_id: str
    seq: int
    message: dict[str, Any]
    run_id: str = ""
    created_at: float = 0.0


@dataclass(slots=True)
class AuditRecord:
    """An entry of the append-only, hash-chained audit log (see :mod:`agentspec.audit.chain`).

    A new entry is built with ``seq=0`` and empty ``prev_hash`` / ``hash``: the store assigns
    them when it appends the entry (:meth:`Store.append_audit`, or a :class:`WriteBatch`'s
    ``audit``), inside the transaction, from the log's current tail.

    Attributes:
        id: Unique id (``aud_`` and hex digits).
        ts: Epoch microseconds (an integer: see :mod:`agentspec.audit.chain`).
        kind: What happened: ``run.started``, ``tool.call``, ``key.created``, ``auth.failed``...
        actor: Who did it (``agent:NAME``, ``cli``, a key id ...).
        subject: What it was done to (a run id, a key id ...).
        data: The canonical JSON text of the payload
            (:func:`agentspec.audit.chain.canonical_json`).
        tenant: The tenant it belongs to.
        seq: Position in the chain, 1, 2, 3 ... (assigned on append).
        prev_hash: The previous entry's hash (assigned on append).
        hash: SHA-256 over ``prev_hash`` and the canonical entry (assigned on append).
    """

    id: str
    ts: int
    kind: str
    actor: str
    subject: str
    data: str
    tenant: str = "default"
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def entry(self) -> tuple[str, str, int, str, str, str, str]:
        """``(tenant, id, ts, kind, actor, subject, data)``: what the chain hashes besides
        ``seq``."""
        return (self.tenant, self.id, self.ts, self.kind, self.actor, self.subject, self.data)

    def row(self) -> tuple[int, str, str, int, str, str, str, str, str, str]:
        """The entry in ``audit_log`` column order (see :data:`agentspec.audit.chain.AuditRow`)."""
        return (
            self.seq, self.tenant, self.id, self.ts, self.kind, self.actor, self.subject,
            self.data, self.prev_hash, self.hash,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        """The record of a row in ``audit_log`` column order."""
        seq, tenant, id_, ts, kind, actor, subject, data, prev_hash, hashed = row
        return cls(id_, ts, kind, actor, subject, data, tenant, seq, prev_hash, hashed)


@dataclass(slots=True)
class WriteBatch:
    runs: list[RunRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    run_updates: list[RunUpdate] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    """Audit entries to append (chained by the store, in order) in the same transaction."""

    def __bool__(self) -> bool:
        return bool(
            self.runs
            or self.events
            or self.run_updates
            or self.sessions
            or self.messages
            or self.audit
        )

    def extend(self, other: WriteBatch) -> None:
        self.runs.extend(other.runs)
        self.events.extend(other.events)
        self.run_updates.extend(other.run_updates)
        self.sessions.extend(other.sessions)
        self.messages.extend(other.messages)
        self.audit.extend(other.audit)


@dataclass(slots=True)
class RunPage:
    runs: list[RunRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key. The secret itself is never stored, only its hash and its prefix.

    Attributes:
        id: The public key id (``key_`` and 12 hex digits): what lists, logs and
            :class:`~agentspec.auth.base.Principal` show.
        name: A label for humans ("ci", "alice's laptop").
        prefix: The first characters of the secret (:data:`agentspec.auth.keys.PREFIX_LENGTH`),
            unique across keys: how a presented secret finds its row.
        secret_hash: Hex SHA-256 of the full secret (see :func:`agentspec.auth.keys.hash_secret`).
        scopes: The scopes the key grants, sorted.
        created_at: Epoch seconds.
        tenant: The tenant every request made with the key belongs to.
        last_used_at: When the key last authenticated a request (updated at most about once a
            minute), or ``None`` if never.
        revoked_at: When the key was revoked, or ``None`` while it is not.
        expires_at: When the key stops working, or ``None`` if it does not expire.
    """

    id: str
    name: str
    prefix: str
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: float
    tenant: str = "default"
    last_used_at: float | None = None
    revoked_at: float | None = None
    expires_at: float | None = None

    def status(self, now: float) -> Literal["active", "revoked", "expired"]:
        """``revoked`` (wins over expiry), ``expired`` (at or after ``expires_at``) or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


class Unset(Enum):
    """Type of :data:`UNSET`."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET
"""Default of :meth:`Store.update_api_key` arguments: leave that column as it is."""


class Store(ABC):
    """Durable state. All methods raise :class:`agentspec.exceptions.StoreError` on failure."""

    url: str = ""

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Create or migrate the schema. Idempotent."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically. Events must be durable when this returns."""

    # runs ---------------------------------------------------------------------------
    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
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
        """Newest first. ``cursor`` is opaque, taken from a previous page's ``next_cursor``.
        Only ``tenant``'s runs if given."""

    @abstractmethod
    async def get_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of a run with ``seq > after``, in order."""

    # leases (engine/lease.py) --------------------------------------------------------
    @abstractmethod
    async def acquire_lease(
        self, run_id: str, owner: str, expires_at: float, *, now: float, steal_from: str = ""
    ) -> bool:
        """Atomically take the lease of an unfinished (``running`` or ``waiting``) run.

        Succeeds, setting ``lease_owner`` and ``lease_expires``, when the lease is free, has
        expired (``lease_expires < now``), is already ``owner``'s (a renewal) or is held by
        ``steal_from`` (a process known to be dead). One conditional update: of two processes
        racing for a run, exactly one wins.

        Returns:
            Whether ``owner`` now holds the lease.
        """

    @abstractmethod
    async def child_runs(self, parent_run_id: str) -> list[RunRecord]:
        """Runs started by ``parent_run_id`` (``RunRecord.parent_run_id``), oldest first."""

    @abstractmethod
    async def renew_leases(self, owner: str, expires_at: float) -> int:
        """Extend every lease ``owner`` holds on an unfinished run; return how many."""

    @abstractmethod
    async def release_lease(self, run_id: str, owner: str) -> bool:
        """Give up ``owner``'s lease on ``run_id``; return whether it held it."""

    # sessions -------------------------------------------------------------------------
    @abstractmethod
    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    @abstractmethod
    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100, tenant: str | None = None
    ) -> list[SessionRecord]:
        """Most recently updated first; only ``tenant``'s sessions if given."""

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its messages. Returns whether it existed."""

    @abstractmethod
    async def get_messages(
        self, session_id: str, *, last: int | None = None
    ) -> list[MessageRecord]:
        """Messages in order; with ``last``, only the final ``last`` of them."""

    # API keys ---------------------------------------------------------------------------
    @abstractmethod
    async def create_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key. Raises :class:`~agentspec.exceptions.StoreError` (and stores
        nothing) if a key with the same ``id`` or ``prefix`` exists."""

    @abstractmethod
    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this public id, revoked or not."""

    @abstractmethod
    async def get_api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        """The key whose secret starts with ``prefix``, revoked or not."""

    @abstractmethod
    async def list_api_keys(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKeyRecord]:
        """Newest first (ties by id, descending); only ``tenant``'s keys if given. Revoked keys
        only with ``include_revoked``; expired keys are always listed."""

    @abstractmethod
    async def update_api_key(
        self,
        key_id: str,
        *,
        revoked_at: float | None | Unset = UNSET,
        last_used_at: float | None | Unset = UNSET,
        name: str | Unset = UNSET,
    ) -> ApiKeyRecord | None:
        """Set the given columns (arguments left :data:`UNSET` are unchanged).

        Returns:
            The key as updated, or ``None`` if there is no key ``key_id``.
        """

    # audit log --------------------------------------------------------------------------
    @abstractmethod
    async def append_audit(self, records: Sequence[AuditRecord]) -> None:
        """Append entries to the audit log, in order, in one transaction.

        The store assigns each record's ``seq``, ``prev_hash`` and ``hash`` from the log's tail
        *inside* the transaction (:func:`agentspec.audit.chain.chain_rows`), so a failed write
        leaves no gap and concurrent writers on one database cannot fork the chain. The given
        records are updated with the assigned values.
        """

    @abstractmethod
    async def audit_tail(self) -> AuditRecord | None:
        """The last entry of the audit log, or ``None`` if it is empty."""

    @abstractmethod
    def audit_pages(
        self, after_seq: int = 0, *, since_ts: int | None = None, page_size: int = 10_000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Entries with ``seq > after_seq`` (and ``ts >= since_ts``, epoch microseconds), in
        ``seq`` order, as
        pages of rows in ``audit_log`` column order (:data:`agentspec.audit.chain.AuditRow`).
        Rows, not records: verification streams hundreds of thousands per second."""

    async def iter_audit(
        self, after_seq: int = 0, *, since_ts: int | None = None, page_size: int = 10_000
    ) -> AsyncIterator[AuditRecord]:
        """Like :meth:`audit_pages`, one :class:`AuditRecord` at a time."""
        async for page in self.audit_pages(after_seq, since_ts=since_ts, page_size=page_size):
            for row in page:
                yield AuditRecord.from_row(row)
