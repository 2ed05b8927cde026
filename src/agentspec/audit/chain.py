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
import itertools
import json
import operator
import os
import sqlite3
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

    def __init__(self, count: int = 0, prev: str = GENESIS) -> None:
        """Start empty, or after ``count`` good entries of which the last has hash ``prev``."""
        self._count = count
        self._prev = prev
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


async def verify_store(
    store: Store, *, page_size: int = 20_000, workers: int | None = None
) -> VerifyResult:
    """Verify the whole audit log of ``store``, streamed in pages of ``page_size`` rows
    (:meth:`~agentspec.store.base.Store.audit_pages`; the SQL store reads the next page while
    this one is checked).

    A long log in a SQLite file (with the store's ``fast_path`` on) is first checked by
    ``workers`` processes running :func:`verify_sqlite_file` on consecutive ranges (default:
    one per idle CPU, at most 4, when the log has :data:`PARALLEL_MIN_ENTRIES` entries and
    two or more CPUs are idle; ``1`` runs it on a thread, ``0`` never); from the first page
    they cannot vouch for, the log is checked entry by entry as above, so a bad entry is
    always reported by the exact check.
    """
    path = getattr(store, "sqlite_path", None)
    count, prev, done = 0, GENESIS, False
    if path is not None and getattr(store, "fast_path", False) and workers != 0:
        try:
            count, prev, done = await _verify_sqlite_ranges(os.fspath(path), page_size, workers)
        except (sqlite3.Error, OSError):  # cannot read it this way (locked ...)
            count, prev, done = 0, GENESIS, False
    if done:
        return VerifyResult(True, count, last_hash=prev)
    pages = store.audit_pages(count, page_size=page_size)
    return await verify_pages(pages, ChainVerifier(count, prev))


_SOURCE_ROOT: Final = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The directory holding this ``agentspec`` package (the workers import the same one)."""
PARALLEL_MIN_ENTRIES: Final = 100_000
"""Logs at least this long are verified by several processes: one per idle CPU (by the load
average), at most 4, and only if that makes two or more."""
_WORKER: Final = (
    "import json, sys\n"
    "from agentspec.audit.chain import verify_sqlite_file\n"
    "path, size, after, upto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])\n"
    "print(json.dumps(verify_sqlite_file(path, size, after, upto if upto >= 0 else None)))\n"
)


async def _verify_sqlite_ranges(
    path: str, page_size: int, workers: int | None
) -> tuple[int, str, bool]:
    """:func:`verify_sqlite_file` over consecutive ``seq`` ranges in ``workers`` processes
    (``None``: see :func:`verify_store`), or on a thread (``1``); results as for that
    function, ``(0, GENESIS, False)`` when it is not worth it.

    Ranges are joined in order: the first range that is not vouched for in full ends the
    fast check there (the caller goes on exactly from that point).
    """
    import asyncio
    import sys

    if workers == 1:
        return await asyncio.to_thread(verify_sqlite_file, path, page_size)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        last = db.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()[0]
    if not isinstance(last, int) or last < 2:
        return 0, GENESIS, False
    if workers is None:
        if last < PARALLEL_MIN_ENTRIES:
            return 0, GENESIS, False
        cpus = os.cpu_count() or 1
        idle = cpus - (os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)
        # on one core the exact check, which reads and hashes at once, is faster; and on a
        # busy machine workers only add their start-up cost
        workers = min(int(idle + 0.5), 4, last // max(1, PARALLEL_MIN_ENTRIES // 2))
        if workers < 2:
            return 0, GENESIS, False
    workers = min(workers, last)
    bounds = [last * i // workers for i in range(workers)] + [-1]  # the last range is open
    paths = [_SOURCE_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this very agentspec
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            path,
            str(page_size),
            str(after),
            str(upto),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        for after, upto in itertools.pairwise(bounds)
    ]
    outputs = [await proc.communicate() for proc in procs]
    if any(proc.returncode for proc in procs):
        return await asyncio.to_thread(verify_sqlite_file, path, page_size)
    count, prev = 0, GENESIS
    for after, (stdout, _) in zip(bounds, outputs, strict=False):
        got, last_hash, done = json.loads(stdout)
        if got:
            count, prev = after + got, last_hash
        if not done:
            return count, prev, False
    return count, prev, True


_FAST_SELECT: Final = (
    "SELECT prev_hash, actor, data, id, kind, seq, subject, tenant, ts, hash "
    "FROM audit_log ORDER BY seq"
)
_FAST_LINE: Final = (
    b'%s\n{"actor":"%s","data":%s,"id":"%s","kind":"%s","seq":%a,"subject":"%s",'
    b'"tenant":"%s","ts":%a}%.0s'
)
"""``prev_hash + "\n" + canonical`` of a :data:`_FAST_SELECT` row whose text needs no JSON
escaping (``%a`` of an ``int`` is its decimal form; anything else does not match)."""
_CONTROLS: Final = bytes(range(32))
_LINE_QUOTES: Final = _FAST_LINE.count(b'"')
_LINE_CONTROLS: Final = sum(map(_FAST_LINE.count, (bytes([c]) for c in _CONTROLS)))


def _controls(text: bytes) -> int:
    """How many ASCII control characters ``text`` holds."""
    return len(text) - len(text.translate(None, _CONTROLS))


_DIGEST: Final = operator.methodcaller("digest")


def verify_sqlite_file(
    path: str | os.PathLike[str],
    page_size: int = 20_000,
    after: int = 0,
    upto: int | None = None,
) -> tuple[int, str, bool]:
    """Verify a SQLite audit log quickly, in one read transaction, a page at a time.

    Rows are read as bytes (no UTF-8 decoding per column) and each page is checked with a
    few whole-page operations: ``seq`` runs on, every ``prev_hash`` is the hash before it,
    no text field needs JSON escaping (so the canonical line is the fields spliced in
    verbatim), the page is valid UTF-8, and the concatenated SHA-256 digests of the lines
    equal the concatenated stored hashes (each 64 hex digits). This is the chain definition
    of this module, restricted to entries whose text needs no escaping.

    Args:
        path: The database file.
        page_size: Rows per page.
        after: Check the entries with ``seq`` above this only (their predecessor's stored
            hash is taken as given: whoever checks that entry vouches for it).
        upto: ... and at most this one (``None``: to the end; then ``done`` also requires
            that no entry is missing before ``upto``).

    Returns:
        ``(count, last_hash, done)``: the entries vouched for (from ``after``), the hash of
        the last of them, and whether that is the whole range. When not done, the entry after ``count`` needs
        the exact check of :class:`ChainVerifier` (it may be bad, or need escaping).
    """
    db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True, check_same_thread=False)
    try:
        db.text_factory = bytes
        db.execute("BEGIN")  # one snapshot
        prev = GENESIS.encode()
        if after:
            row = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (after,)).fetchone()
            if row is None or not isinstance(row[0], bytes):
                return 0, GENESIS, False
            prev = row[0]
        bounds = "seq > ?" + ("" if upto is None else " AND seq <= ?")
        query = _FAST_SELECT.replace("ORDER BY", f"WHERE {bounds} ORDER BY")
        cursor = db.execute(query, (after,) if upto is None else (after, upto))
        line = _FAST_LINE.__mod__
        seq_of, hash_of = operator.itemgetter(5), operator.itemgetter(9)
        prev_of, data_of = operator.itemgetter(0), operator.itemgetter(2)
        count = 0
        while rows := cursor.fetchmany(page_size):
            n = len(rows)
            try:
                hashes = list(map(hash_of, rows))
                prevs = list(map(prev_of, rows))
                if (
                    list(map(seq_of, rows)) != list(range(after + count + 1, after + count + n + 1))
                    or set(map(len, hashes)) != {64}
                    or set(map(len, prevs)) != {64}
                    or b"".join(prevs) != prev + b"".join(hashes[:-1])
                ):
                    break
                lines = list(map(line, rows))
                text = b"".join(lines)
                data = b"".join(map(data_of, rows))
                # Beyond the template's own, a line's quotes, backslashes and control
                # characters can only come from its data (hashes are hex, seq and ts ints):
                # then no text field needs escaping, and the line is the canonical one.
                if (
                    text.count(b'"') != _LINE_QUOTES * n + data.count(b'"')
                    or text.count(b"\\") != data.count(b"\\")
                    or _controls(text) != _LINE_CONTROLS * n + _controls(data)
                ):
                    break
                if not text.isascii():
                    text.decode()  # valid UTF-8, as the exact check requires
                stored = bytes.fromhex(b"".join(hashes).decode("ascii"))
            except (TypeError, ValueError):  # a column of another type, bad hex or UTF-8
                break
            if b"".join(map(_DIGEST, map(sha256, lines))) != stored:
                break
            count += n
            prev = hashes[-1]
        else:
            complete = upto is None or count == upto - after
            return count, prev.decode(), complete
        return count, prev.decode(), False
    finally:
        db.close()


async def verify_pages(
    pages: AsyncIterable[Sequence[Sequence[Any]]], verifier: ChainVerifier | None = None
) -> VerifyResult:
    """Verify a log streamed as pages of rows (see :meth:`Store.audit_pages`), from the
    start or, given a ``verifier`` that has checked the entries before them, from there."""
    verifier = verifier or ChainVerifier()
    async with contextlib.AsyncExitStack() as stack:
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            stack.push_async_callback(aclose)
        async for page in pages:
            if not verifier.feed(page):
                break
    return verifier.result
