"""The audit log: an append-only, hash-chained record of what happened.

- :mod:`agentspec.audit.chain`: canonical form, entry hashes, :func:`verify`.
- :mod:`agentspec.audit.recorder`: :class:`AuditRecorder`, which turns run events, key changes
  and other security-relevant actions into entries.
- ``agentspec audit verify`` / ``agentspec audit export`` (:mod:`agentspec.cli.audit`).

Entries live in the store (``audit_log`` table, :class:`agentspec.store.base.AuditRecord`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentspec.audit.chain import (
    GENESIS,
    VerifyResult,
    canonical_entry,
    canonical_json,
    digest,
    entry_hash,
    verify,
    verify_pages,
    verify_store,
)

if TYPE_CHECKING:
    from agentspec.audit.recorder import AuditRecorder


def __getattr__(name: str) -> Any:
    # lazily: the recorder imports the engine, while the store imports this package's chain
    if name == "AuditRecorder":
        from agentspec.audit.recorder import AuditRecorder

        return AuditRecorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GENESIS",
    "AuditRecorder",
    "VerifyResult",
    "canonical_entry",
    "canonical_json",
    "digest",
    "entry_hash",
    "verify",
    "verify_pages",
    "verify_store",
]
