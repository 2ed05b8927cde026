"""The hash chain of the audit log: canonical form, entry hashes and verification.

Every entry's ``hash`` is the SHA-256 over the previous entry's hash and the entry's canonical
JSON, so editing, deleting, inserting or reordering any stored entry breaks the chain from
that entry on.

Byte layout (the exact input of SHA-256, UTF-8 encoded)::

    prev_hash + "\\n" + canonical

- ``prev_hash``: the previous entry's ``hash`` as 64 lower-case hex digits; for the first entry
  (``seq`` 1) it is :data:`GENESIS` (64 ``0`` characters).
- ``canonical``: ``json.dumps(entry, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` of the object with the keys ``actor, data, id, kind, seq, subject,
  tenant, ts`` (everything but ``prev_hash`` and ``hash``), where ``data`` is the entry's
  payload. The stored ``data`` column already holds the canonical JSON of the payload, so the
  canonical entry is built by splicing that text in verbatim (:func:`canonical_entry`); a
  ``data`` column rewritten into an equivalent but different text therefore counts as edited.
- ``hash``: the lower-case hex digest.

Example: the first entry ``seq=1, id="aud_1", ts=1.5, tenant="default", kind="run.started",
actor="agent:a", subject="run_1", data={}`` hashes
``"0"*64 + "\\n" + '{"actor":"agent:a","data":{},"id":"aud_1","kind":"run.started","seq":1,'
'"subject":"run_1","tenant":"default","ts":1.5}'`` (``ts`` in Python's shortest ``repr``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from agentspec.store.base import Store

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first entry."""

_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_quote: Any = encode_basestring
"""``json.dumps`` of a ``str`` with ``ensure_ascii=False`` (the C implementation)."""


def micros(seconds: float) -> int:
    """Epoch seconds as the integer microseconds of an entry's ``ts``."""
    return round(seconds * 1_000_000)


def new_audit_id() -> str:
    """A new entry id: ``aud_`` and 20 hex digits."""
    return "aud_" + os.urandom(10).hex()


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""
    return _CANONICAL.encode(value)


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value`` (e.g. a tool call's arguments)."""
    return sha256(canonical_json(value).encode()).hexdigest()


def canonical_entry(
    seq: int, id: str, ts: int, tenant: str, kind: str, actor: str, subject: str, data: str
) -> str:
    """The canonical JSON of an entry whose payload's canonical JSON is ``data``."""
    return (
        f'{{"actor":{_quote(actor)},"data":{data},"id":{_quote(id)},"kind":{_quote(kind)},'
        f'"seq":{int(seq)},"subject":{_quote(subject)},"tenant":{_quote(tenant)},'
        f'"ts":{int(ts)}}}'
    )


def entry_hash(prev_hash: str, canonical: str) -> str:
    """SHA-256 hex of ``prev_hash + "\\n" + canonical`` (UTF-8)."""
    return sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


AuditRow = tuple[int, str, str, int, str, str, str, str, str, str]
"""An entry in column order: ``seq, tenant, id, ts, kind, actor, subject, data, prev_hash,
hash`` (the ``audit_log`` table's order)."""


def chain_rows(
    entries: Iterable[tuple[str, str, int, str, str, str, str]], last_seq: int, last_hash: str
) -> list[AuditRow]:
    """Chain new entries onto a log whose last entry has ``last_seq`` and ``last_hash``.

    Args:
        entries: ``(tenant, id, ts, kind, actor, subject, data)`` in append order, ``data``
            the canonical JSON of the payload.
        last_seq: The tail's ``seq`` (0 for an empty log).
        last_hash: The tail's ``hash`` (:data:`GENESIS` for an empty log).

    Returns:
        The rows to insert, in order, with ``seq``, ``prev_hash`` and ``hash`` filled in.
    """
    rows: list[AuditRow] = []
    seq, prev = last_seq, last_hash
    for tenant, id_, ts, kind, actor, subject, data in entries:
        seq += 1
        ts = int(ts)
        line = canonical_entry(seq, id_, ts, tenant, kind, actor, subject, data)
        hashed = sha256(f"{prev}\n{line}".encode()).hexdigest()
        rows.append((seq, tenant, id_, ts, kind, actor, subject, data, prev, hashed))
        prev = hashed
    return rows


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes:
        ok: Whether every entry checked out.
        count: Entries checked (up to and including the bad one).
        bad_index: 0-based position, in ``seq`` order, of the first bad entry (``-1`` if ok).
        bad_id: That entry's id (``""`` if ok).
        reason: What is wrong with it (``""`` if ok).
        last_hash: The hash of the last good entry (:data:`GENESIS` for an empty log): keep it
            elsewhere to detect a later rewrite of the whole tail.
    """

    ok: bool
    count: int
    bad_index: int = -1
    bad_id: str = ""
    reason: str = ""
    last_hash: str = GENESIS


class ChainVerifier:
    """Incremental verification: feed rows in ``seq`` order, then read :attr:`result`.

    Each entry must have ``seq`` one more than the previous (the first: 1), ``prev_hash`` equal
    to the previous entry's ``hash`` and ``hash`` equal to :func:`entry_hash` recomputed from
    its fields. The first violation stops verification.
    """

    __slots__ = ("_bad", "_count", "_prev")

    def __init__(self) -> None:
        self._count = 0
        self._prev = GENESIS
        self._bad: VerifyResult | None = None

    def feed(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Check rows in :data:`AuditRow` order; return ``False`` once a bad entry was found."""
        if self._bad is not None:
            return False
        quote = _quote
        prev = self._prev
        expected = self._count + 1
        for seq, tenant, id_, ts, kind, actor, subject, data, prev_hash, hashed in rows:
            problem = ""
            if seq != expected:
                problem = f"expected seq {expected}, found {seq} (entries deleted or inserted?)"
            elif prev_hash != prev:
                problem = "prev_hash does not match the previous entry (reordered or deleted?)"
            elif (
                hashed
                != sha256(
                    f'{prev}\n{{"actor":{quote(actor)},"data":{data},"id":{quote(id_)},'
                    f'"kind":{quote(kind)},"seq":{seq},"subject":{quote(subject)},'
                    f'"tenant":{quote(tenant)},"ts":{ts}}}'.encode()
                ).hexdigest()
            ):
                problem = "hash does not match the entry's contents (edited?)"
            if problem:
                self._count = expected
                self._bad = VerifyResult(False, expected, expected - 1, str(id_), problem, prev)
                return False
            prev = hashed
            expected += 1
        self._prev = prev
        self._count = expected - 1
        return True

    @property
    def result(self) -> VerifyResult:
        """The verdict on everything fed so far."""
        if self._bad is not None:
            return self._bad
        return VerifyResult(True, self._count, last_hash=self._prev)


def verify(rows: Iterable[Sequence[Any]]) -> VerifyResult:
    """Verify a whole log given as rows (or :class:`~agentspec.store.base.AuditRecord` tuples
    via :meth:`~agentspec.store.base.AuditRecord.row`) in ``seq`` order."""
    verifier = ChainVerifier()
    verifier.feed(list(rows))
    return verifier.result


async def verify_store(store: Store, *, page_size: int = 20_000) -> VerifyResult:
    """Verify the whole audit log of ``store``, streamed in pages of ``page_size`` rows
    (:meth:`~agentspec.store.base.Store.audit_pages`; the SQL store reads the next page while
    this one is checked)."""
    return await verify_pages(store.audit_pages(page_size=page_size))


async def verify_pages(pages: AsyncIterable[Sequence[Sequence[Any]]]) -> VerifyResult:
    """Verify a log streamed as pages of rows (see :meth:`Store.audit_pages`)."""
    verifier = ChainVerifier()
    async with contextlib.AsyncExitStack() as stack:
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            stack.push_async_callback(aclose)
        async for page in pages:
            if not verifier.feed(page):
                break
    return verifier.result
