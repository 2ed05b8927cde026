"""Run and session storage: the :class:`Store` port, its backends and :func:`open_store`."""

from __future__ import annotations

import os
from pathlib import Path

from agentspec.exceptions import UsageError
from agentspec.store.base import (
    MessageRecord,
    RunPage,
    RunRecord,
    RunUpdate,
    SessionRecord,
    Store,
    WriteBatch,
)
from agentspec.store.memory import MemoryStore

__all__ = [
    "MemoryStore",
    "MessageRecord",
    "RunPage",
    "RunRecord",
    "RunUpdate",
    "SessionRecord",
    "Store",
    "WriteBatch",
    "open_store",
]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _busy_timeout() -> float:
    """``$AGENTSPEC_SQLITE_BUSY_TIMEOUT`` seconds (default 5): how long a write waits for a lock."""
    raw = os.environ.get("AGENTSPEC_SQLITE_BUSY_TIMEOUT", "")
    try:
        return max(0.0, float(raw)) if raw else 5.0
    except ValueError:
        raise UsageError(
            f"AGENTSPEC_SQLITE_BUSY_TIMEOUT={raw!r}: give a number of seconds"
        ) from None


def open_store(url: str) -> Store:
    """Create (but do not set up) the store for ``url``.

    Args:
        url: ``memory`` (or ``memory://``); a SQLAlchemy-style ``sqlite:///path/to.db``,
            ``sqlite:///:memory:`` or ``postgresql://user:password@host/database`` URL; or a
            bare file path ending in ``.db``, ``.sqlite`` or ``.sqlite3``.

    Returns:
        The store. Call ``await store.setup()`` before using it.

    Raises:
        UsageError: ``url`` is none of the supported forms.
        MissingDependency: A PostgreSQL URL was given but asyncpg is not installed.
    """
    if url in ("memory", "memory://"):
        return MemoryStore()
    if "://" not in url and url.endswith(_SQLITE_SUFFIXES):
        url = f"sqlite:///{Path(url).expanduser()}"
    if url.startswith(("sqlite", "postgres")):
        from agentspec.store.sql import SQLStore

        return SQLStore(url, busy_timeout=_busy_timeout())
    raise UsageError(
        f"unsupported store {url!r}: use 'memory', a SQLite file path (x.db), "
        "sqlite:///path/to.db, sqlite:///:memory: or postgresql://user:password@host/database"
    )
