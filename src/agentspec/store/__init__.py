"""Run and session storage: the :class:`Store` port, its backends and :func:`open_store`."""

from __future__ import annotations

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
    if url.startswith(("sqlite", "postgres")):
        from agentspec.store.sql import SQLStore

        return SQLStore(url)
    if "://" not in url and url.endswith(_SQLITE_SUFFIXES):
        from agentspec.store.sql import SQLStore

        return SQLStore(f"sqlite:///{Path(url).expanduser()}")
    raise UsageError(
        f"unsupported store {url!r}: use 'memory', a SQLite file path (x.db), "
        "sqlite:///path/to.db, sqlite:///:memory: or postgresql://user:password@host/database"
    )
