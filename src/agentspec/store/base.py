"""The store port: runs with their event logs, and sessions with their messages.

Backends (one file each): :mod:`agentspec.store.memory` (tests, benchmarks) and
:mod:`agentspec.store.sql` (SQLAlchemy async: SQLite by default, PostgreSQL later), sharing one
schema and one Alembic migration history. Every backend must pass
``tests/store/conformance.py``.

Writes arrive as a :class:`WriteBatch` so a backend can make many runs' events durable in one
transaction (group commit). A batch is applied atomically and in order: new runs, then
events, then run updates, then sessions (upserted: insert, or update ``updated_at``,
``message_count`` and ``metadata`` of an existing one), then messages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

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
class WriteBatch:
    runs: list[RunRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    run_updates: list[RunUpdate] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.runs or self.events or self.run_updates or self.sessions or self.messages)

    def extend(self, other: WriteBatch) -> None:
        self.runs.extend(other.runs)
        self.events.extend(other.events)
        self.run_updates.extend(other.run_updates)
        self.sessions.extend(other.sessions)
        self.messages.extend(other.messages)


@dataclass(slots=True)
class RunPage:
    runs: list[RunRecord]
    next_cursor: str | None


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
    ) -> RunPage:
        """Newest first. ``cursor`` is opaque, taken from a previous page's ``next_cursor``."""

    @abstractmethod
    async def get_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of a run with ``seq > after``, in order."""

    # sessions -------------------------------------------------------------------------
    @abstractmethod
    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    @abstractmethod
    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        """Most recently updated first."""

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its messages. Returns whether it existed."""

    @abstractmethod
    async def get_messages(
        self, session_id: str, *, last: int | None = None
    ) -> list[MessageRecord]:
        """Messages in order; with ``last``, only the final ``last`` of them."""
