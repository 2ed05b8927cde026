"""In-memory store for tests and benchmarks. Nothing survives the process.

Events of a finished run are kept as one ``marshal`` blob (decoded on read): a finished run then
costs the garbage collector nothing, and stored events no longer share objects with the
caller's.
"""

from __future__ import annotations

import base64
import dataclasses
import marshal
from bisect import bisect_left, bisect_right, insort
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentspec.audit.chain import GENESIS, AuditRow, chain_rows
from agentspec.engine.events import Event
from agentspec.exceptions import StoreError, UsageError
from agentspec.store.base import (
    UNSET,
    ApiKeyRecord,
    AuditRecord,
    MessageRecord,
    RunPage,
    RunRecord,
    SessionRecord,
    Store,
    Unset,
    WriteBatch,
)


class MemoryStore(Store):
    url = "memory://"

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._order: list[str] = []
        self._events: dict[str, list[Event]] = {}
        self._frozen: dict[str, bytes] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._messages: dict[str, list[MessageRecord]] = {}
        self._api_keys: dict[str, ApiKeyRecord] = {}
        self._api_key_ids: dict[str, str] = {}
        """Key id by prefix."""
        self._audit: list[AuditRow] = []
        self._audit_ids: set[str] = set()

    def _check(self, batch: WriteBatch) -> None:
        """Refuse the whole batch if any key would clash, like a database transaction."""
        new_runs = {run.id for run in batch.runs}
        if len(new_runs) != len(batch.runs) or any(r in self._runs for r in new_runs):
            raise StoreError("cannot store the batch: a run id already exists")
        last: dict[str, int] = {}
        events = batch.events
        i, count = 0, len(events)
        while i < count:  # events come in runs of the same run_id: check each group at once
            run_id = events[i].run_id
            previous = last.get(run_id)
            if previous is None:
                existing = self._events.get(run_id)
                if existing is None and run_id in self._frozen:
                    existing = self._thaw(run_id)
                if existing is None and run_id not in new_runs:
                    raise StoreError(
                        f"cannot store event {events[i].seq} of run {run_id!r}: no such run"
                    )
                previous = existing[-1].seq if existing else 0
            while i < count and events[i].run_id == run_id:
                seq = events[i].seq
                if seq <= previous:  # out of order: look for a real duplicate
                    same = [e for e in events if e.run_id == run_id and e.seq == seq]
                    if len(same) > 1 or self._has_event(run_id, seq):
                        raise StoreError(
                            f"cannot store the batch: event {seq} of run {run_id!r} already exists"
                        )
                else:
                    previous = seq
                i += 1
            last[run_id] = previous
        new_sessions = {session.id for session in batch.sessions}
        seen = set()
        for message in batch.messages:
            key = (message.session_id, message.seq)
            if message.session_id not in self._sessions and message.session_id not in new_sessions:
                raise StoreError(f"cannot store message {key}: session does not exist")
            stored = self._messages.get(message.session_id, [])
            if key in seen or any(m.seq == message.seq for m in stored[-len(batch.messages) - 1 :]):
                raise StoreError(f"cannot store the batch: message {key} already exists")
            seen.add(key)
        ids = {record.id for record in batch.audit}
        if len(ids) != len(batch.audit) or not ids.isdisjoint(self._audit_ids):
            raise StoreError("cannot store the batch: an audit entry id already exists")

    def _thaw(self, run_id: str) -> list[Event]:
        """Make a finished run's events live objects again (a finished run got more events)."""
        frozen = self._frozen.pop(run_id, None)
        if frozen is not None:
            self._events[run_id] = [Event(run_id, *row) for row in marshal.loads(frozen)]
        return self._events.setdefault(run_id, [])

    def _freeze(self, run_id: str) -> None:
        events = self._events.pop(run_id, None)
        if events:
            self._frozen[run_id] = marshal.dumps(
                [(e.seq, e.ts, e.type, e.data, e.trace_id) for e in events]
            )

    def _has_event(self, run_id: str, seq: int) -> bool:
        if run_id in self._frozen:
            self._thaw(run_id)
        events = self._events.get(run_id)
        if not events:
            return False
        index = bisect_left(events, seq, key=lambda e: e.seq)
        return index < len(events) and events[index].seq == seq

    async def write(self, batch: WriteBatch) -> None:
        self._check(batch)
        for run in batch.runs:
            if run.id not in self._runs:
                self._order.append(run.id)
            self._runs[run.id] = run
            self._events.setdefault(run.id, [])
        stored: list[Event] | None = None
        current = ""
        for event in batch.events:
            if event.run_id != current or stored is None:
                current = event.run_id
                stored = self._events.get(current) or self._thaw(current)
            if stored and stored[-1].seq > event.seq:
                insort(stored, event, key=lambda e: e.seq)
            else:
                stored.append(event)
        for update in batch.run_updates:
            record = self._runs.get(update.run_id)
            if record is None:
                continue
            record.status = update.status
            record.updated_at = update.updated_at
            record.output = update.output
            record.error = update.error
            record.turns = update.turns
            record.input_tokens = update.input_tokens
            record.output_tokens = update.output_tokens
            record.cache_read_tokens = update.cache_read_tokens
            record.cache_write_tokens = update.cache_write_tokens
            if update.status in ("completed", "failed", "cancelled"):
                self._freeze(update.run_id)
        for session in batch.sessions:
            existing = self._sessions.get(session.id)
            if existing is None:
                self._sessions[session.id] = session
                self._messages.setdefault(session.id, [])
            else:
                existing.updated_at = session.updated_at
                existing.message_count = session.message_count
                existing.metadata = session.metadata
        for message in batch.messages:
            self._messages.setdefault(message.session_id, []).append(message)
        if batch.audit:
            self._append_audit(batch.audit)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

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
        start = len(self._order)
        if cursor:
            try:
                start = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except ValueError:
                raise UsageError(
                    f"invalid cursor {cursor!r}: use a next_cursor from a previous page"
                ) from None
        found: list[RunRecord] = []
        index = start - 1
        while index >= 0 and len(found) < limit:
            run = self._runs[self._order[index]]
            if (
                (agent is None or run.agent == agent)
                and (status is None or run.status == status)
                and (session_id is None or run.session_id == session_id)
                and (tenant is None or run.tenant == tenant)
            ):
                found.append(run)
            index -= 1
        more = index >= 0 and len(found) == limit
        next_cursor = base64.urlsafe_b64encode(str(index + 1).encode()).decode() if more else None
        return RunPage(found, next_cursor)

    async def get_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        frozen = self._frozen.get(run_id)
        if frozen is not None:
            events = [Event(run_id, *row) for row in marshal.loads(frozen)]
        else:
            events = self._events.get(run_id, [])
        start = bisect_right(events, after, key=lambda e: e.seq) if after else 0
        end = None if limit is None else start + limit
        return events[start:end]

    async def acquire_lease(
        self, run_id: str, owner: str, expires_at: float, *, now: float, steal_from: str = ""
    ) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.status not in ("running", "waiting"):
            return False
        held = run.lease_owner
        if held and held != owner and held != steal_from and run.lease_expires >= now:
            return False
        run.lease_owner, run.lease_expires = owner, expires_at
        return True

    async def child_runs(self, parent_run_id: str) -> list[RunRecord]:
        return [
            self._runs[run_id]
            for run_id in self._order
            if self._runs[run_id].parent_run_id == parent_run_id
        ]

    async def renew_leases(self, owner: str, expires_at: float) -> int:
        count = 0
        for run in self._runs.values():
            if run.lease_owner == owner and run.status in ("running", "waiting"):
                run.lease_expires = expires_at
                count += 1
        return count

    async def release_lease(self, run_id: str, owner: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.lease_owner != owner:
            return False
        run.lease_owner, run.lease_expires = "", 0.0
        return True

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100, tenant: str | None = None
    ) -> list[SessionRecord]:
        sessions = [
            s
            for s in self._sessions.values()
            if (agent is None or s.agent == agent) and (tenant is None or s.tenant == tenant)
        ]
        sessions.sort(key=lambda s: s.updated_at, reverse=True)
        return sessions[:limit]

    async def delete_session(self, session_id: str) -> bool:
        self._messages.pop(session_id, None)
        return self._sessions.pop(session_id, None) is not None

    async def get_messages(
        self, session_id: str, *, last: int | None = None
    ) -> list[MessageRecord]:
        messages = self._messages.get(session_id, [])
        return list(messages[-last:] if last else messages)

    async def create_api_key(self, record: ApiKeyRecord) -> None:
        if record.id in self._api_keys:
            raise StoreError(f"cannot store API key {record.id!r}: the id already exists")
        if record.prefix in self._api_key_ids:
            raise StoreError(f"cannot store API key {record.id!r}: the prefix already exists")
        self._api_keys[record.id] = record
        self._api_key_ids[record.prefix] = record.id

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._api_keys.get(key_id)

    async def get_api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        key_id = self._api_key_ids.get(prefix)
        return None if key_id is None else self._api_keys[key_id]

    async def list_api_keys(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> list[ApiKeyRecord]:
        keys = [
            key
            for key in self._api_keys.values()
            if (tenant is None or key.tenant == tenant)
            and (include_revoked or key.revoked_at is None)
        ]
        keys.sort(key=lambda key: (key.created_at, key.id), reverse=True)
        return keys

    async def update_api_key(
        self,
        key_id: str,
        *,
        revoked_at: float | None | Unset = UNSET,
        last_used_at: float | None | Unset = UNSET,
        name: str | Unset = UNSET,
    ) -> ApiKeyRecord | None:
        record = self._api_keys.get(key_id)
        if record is None:
            return None
        record = dataclasses.replace(
            record,
            name=record.name if isinstance(name, Unset) else name,
            revoked_at=record.revoked_at if isinstance(revoked_at, Unset) else revoked_at,
            last_used_at=record.last_used_at if isinstance(last_used_at, Unset) else last_used_at,
        )
        self._api_keys[key_id] = record
        return record

    # audit log --------------------------------------------------------------------------
    def _append_audit(self, records: Sequence[AuditRecord]) -> None:
        tail = self._audit[-1] if self._audit else None
        rows = chain_rows(
            (r.entry() for r in records),
            tail[0] if tail else 0,
            tail[9] if tail else GENESIS,
        )
        for record, row in zip(records, rows, strict=True):
            record.seq, record.ts, record.prev_hash, record.hash = row[0], row[3], row[8], row[9]
            self._audit_ids.add(record.id)
        self._audit.extend(rows)

    async def append_audit(self, records: Sequence[AuditRecord]) -> None:
        ids = {record.id for record in records}
        if len(ids) != len(records) or not ids.isdisjoint(self._audit_ids):
            raise StoreError("cannot append to the audit log: an entry id already exists")
        self._append_audit(records)

    async def audit_tail(self) -> AuditRecord | None:
        return AuditRecord.from_row(self._audit[-1]) if self._audit else None

    async def audit_pages(
        self, after_seq: int = 0, *, since_ts: int | None = None, page_size: int = 10_000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        start = bisect_right(self._audit, after_seq, key=lambda row: row[0])
        page_size = max(1, page_size)
        while start < len(self._audit):
            page: list[tuple[Any, ...]] = list(self._audit[start : start + page_size])
            start += len(page)
            if since_ts is not None:
                page = [row for row in page if row[3] >= since_ts]
            if page:
                yield page
