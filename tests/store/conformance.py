"""The storage conformance suite: every :class:`~agentspec.store.base.Store` backend must pass it.

A backend's test module subclasses :class:`StoreConformance` and provides an async ``store``
fixture yielding a set-up, empty store (and closing it afterwards)::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        async def store(self):
            store = MyStore()
            await store.setup()
            yield store
            await store.close()

Runs are always created in ``created_at`` order (ties in ascending id order), the one ordering
on which every backend's "newest first" agrees.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentspec.audit.chain import GENESIS, canonical_json, verify
from agentspec.engine.events import Event
from agentspec.exceptions import StoreError
from agentspec.store.base import (
    ApiKeyRecord,
    AuditRecord,
    MessageRecord,
    RunRecord,
    RunUpdate,
    SessionRecord,
    Store,
    WriteBatch,
)

T0 = 1_700_000_000.123456


def make_run(index: int, **fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "id": f"run-{index:04d}",
        "agent": "alpha",
        "package": "pkg",
        "ir_hash": "sha256:abc",
        "created_at": T0 + index,
        "updated_at": T0 + index,
    }
    values.update(fields)
    return RunRecord(**values)


def make_events(run_id: str, first: int, last: int) -> list[Event]:
    return [
        Event(run_id, seq, T0 + seq / 1000, "model.text", {"turn": 1, "text": f"chunk {seq}"})
        for seq in range(first, last + 1)
    ]


def make_message(session_id: str, seq: int) -> MessageRecord:
    message = {"role": "user" if seq % 2 else "assistant", "content": [{"text": f"m{seq}"}]}
    return MessageRecord(session_id, seq, message, run_id="run-0001", created_at=T0 + seq)


def make_key(index: int, **fields: Any) -> ApiKeyRecord:
    values: dict[str, Any] = {
        "id": f"key_{index:012x}",
        "name": f"key {index}",
        "prefix": f"ask_{index:08d}",
        "secret_hash": f"{index:064x}",
        "scopes": ("agents:invoke", "runs:read"),
        "created_at": T0 + index,
    }
    values.update(fields)
    return ApiKeyRecord(**values)


def make_audit(index: int, **fields: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "id": f"aud_{index:020x}",
        "ts": 1_700_000_000_123_456 + index,
        "kind": "tool.call",
        "actor": "agent:alpha",
        "subject": "run-0001",
        "data": canonical_json({"name": "add", "n": index, "text": 'héllo \u2028 "q"'}),
    }
    values.update(fields)
    return AuditRecord(**values)


async def audit_rows(store: Store, **options: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) async for page in store.audit_pages(**options) for row in page]


async def all_run_ids(store: Store, limit: int, **filters: Any) -> tuple[list[str], int]:
    """Walk every page; return the run ids in order and the number of non-empty pages."""
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = await store.list_runs(limit=limit, cursor=cursor, **filters)
        assert len(page.runs) <= limit
        if page.runs:
            pages += 1
        ids.extend(run.id for run in page.runs)
        if page.next_cursor is None:
            return ids, pages
        assert pages < 100, "pagination does not terminate"
        cursor = page.next_cursor


class StoreConformance:
    """Behaviour every store must have. Subclasses provide the ``store`` fixture."""

    # runs and events -------------------------------------------------------------------
    async def test_write_and_get_run(self, store: Store) -> None:
        run = make_run(
            1, status="waiting", session_id="s-1", input="héllo", output="", error="",
            turns=3, input_tokens=2**40, output_tokens=7, cache_read_tokens=11,
            cache_write_tokens=13, parent_run_id="run-0000", tenant="acme",
        )  # fmt: skip
        await store.write(WriteBatch(runs=[run]))
        assert await store.get_run(run.id) == run
        assert await store.get_run("missing") is None

    async def test_empty_batch_is_a_no_op(self, store: Store) -> None:
        await store.write(WriteBatch())
        assert (await store.list_runs()).runs == []

    async def test_events_in_order_with_after_and_limit(self, store: Store) -> None:
        run = make_run(1)
        await store.write(WriteBatch(runs=[run], events=make_events(run.id, 1, 6)))
        await store.write(WriteBatch(events=make_events(run.id, 7, 10)))
        assert await store.get_events(run.id) == make_events(run.id, 1, 10)
        assert await store.get_events(run.id, after=7) == make_events(run.id, 8, 10)
        assert await store.get_events(run.id, after=3, limit=2) == make_events(run.id, 4, 5)
        assert await store.get_events(run.id, limit=1) == make_events(run.id, 1, 1)
        assert await store.get_events(run.id, after=10) == []
        assert await store.get_events("missing") == []

    async def test_batch_of_many_runs(self, store: Store) -> None:
        runs = [make_run(i) for i in range(1, 6)]
        events = [e for seq in range(1, 4) for run in runs for e in make_events(run.id, seq, seq)]
        await store.write(WriteBatch(runs=runs, events=events))
        for run in runs:
            assert await store.get_run(run.id) == run
            assert await store.get_events(run.id) == make_events(run.id, 1, 3)

    async def test_run_update_in_a_later_batch(self, store: Store) -> None:
        run = make_run(1)
        await store.write(WriteBatch(runs=[run]))
        update = RunUpdate(
            run.id, "completed", T0 + 50, output="done", turns=2, input_tokens=100,
            output_tokens=20, cache_read_tokens=5, cache_write_tokens=6,
        )  # fmt: skip
        await store.write(WriteBatch(run_updates=[update, RunUpdate("missing", "failed", T0)]))
        stored = await store.get_run(run.id)
        assert stored is not None
        assert (stored.status, stored.updated_at, stored.output, stored.error) == (
            "completed", T0 + 50, "done", ""
        )  # fmt: skip
        assert (stored.turns, stored.input_tokens, stored.output_tokens) == (2, 100, 20)
        assert (stored.cache_read_tokens, stored.cache_write_tokens) == (5, 6)
        assert (stored.created_at, stored.agent, stored.input) == (run.created_at, "alpha", "")
        assert await store.get_run("missing") is None

    async def test_run_update_in_the_same_batch(self, store: Store) -> None:
        run = make_run(1, input="question")
        updates = [
            RunUpdate(run.id, "waiting", T0 + 10, turns=1),
            RunUpdate(run.id, "failed", T0 + 20, error="timeout", turns=2, output_tokens=9),
        ]
        await store.write(
            WriteBatch(runs=[run], events=make_events(run.id, 1, 2), run_updates=updates)
        )
        stored = await store.get_run(run.id)
        assert stored is not None
        assert (stored.status, stored.updated_at, stored.error, stored.output) == (
            "failed", T0 + 20, "timeout", ""
        )  # fmt: skip
        assert (stored.turns, stored.output_tokens, stored.input) == (2, 9, "question")

    async def test_event_data_round_trips_exactly(self, store: Store) -> None:
        data: dict[str, Any] = {
            "text": 'naïve café — 日本語 🤖 "quoted" back\\slash\nnewline\ttab \u2028 \x00',
            "nested": {"list": [1, -2.5, 1e-300, 2**53 + 1, True, False, None, [], {}]},
            "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            "ordered": {"z": 1, "a": 2, "m": 3},
            "float": 0.1 + 0.2,
        }
        run = make_run(1)
        event = Event(run.id, 1, T0, "tool.result", data, trace_id="0af7651916cd43dd")
        await store.write(WriteBatch(runs=[run], events=[event]))
        (stored,) = await store.get_events(run.id)
        assert stored == event
        assert list(stored.data["ordered"]) == ["z", "a", "m"]

    # listing runs ----------------------------------------------------------------------
    async def test_list_runs_newest_first_with_filters(self, store: Store) -> None:
        runs = [
            make_run(1, agent="alpha", status="completed", session_id="s1"),
            make_run(2, agent="beta", status="failed", session_id="s1"),
            make_run(3, agent="alpha", status="running", session_id="s2"),
            make_run(4, agent="beta", status="completed", session_id=""),
            make_run(5, agent="alpha", status="completed", session_id="s1"),
        ]
        await store.write(WriteBatch(runs=runs))

        async def ids(**filters: Any) -> list[str]:
            page = await store.list_runs(**filters)
            assert page.next_cursor is None
            return [run.id for run in page.runs]

        assert await ids() == ["run-0005", "run-0004", "run-0003", "run-0002", "run-0001"]
        assert await ids(agent="alpha") == ["run-0005", "run-0003", "run-0001"]
        assert await ids(status="completed") == ["run-0005", "run-0004", "run-0001"]
        assert await ids(session_id="s1") == ["run-0005", "run-0002", "run-0001"]
        assert await ids(agent="alpha", status="completed", session_id="s1") == [
            "run-0005", "run-0001"
        ]  # fmt: skip
        assert await ids(agent="nobody") == []
        page = await store.list_runs(limit=2)
        assert [run.id for run in page.runs] == ["run-0005", "run-0004"]
        assert page.next_cursor is not None

    async def test_list_runs_cursor_pages_through_everything(self, store: Store) -> None:
        runs = [make_run(i, created_at=T0 + i // 3) for i in range(25)]  # ties of three
        await store.write(WriteBatch(runs=runs))
        expected = [run.id for run in reversed(runs)]
        ids, pages = await all_run_ids(store, limit=10)
        assert ids == expected
        assert pages == 3

    async def test_list_runs_cursor_with_a_filter(self, store: Store) -> None:
        runs = [make_run(i, agent="alpha" if i % 3 else "beta") for i in range(30)]
        await store.write(WriteBatch(runs=runs))
        ids, pages = await all_run_ids(store, limit=7, agent="alpha")
        assert ids == [run.id for run in reversed(runs) if run.agent == "alpha"]
        assert pages == 3
        assert len(set(ids)) == 20

    async def test_cursor_is_stable_when_newer_runs_arrive(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(i) for i in range(1, 6)]))
        first = await store.list_runs(limit=2)
        await store.write(WriteBatch(runs=[make_run(i) for i in range(6, 9)]))
        assert first.next_cursor is not None
        second = await store.list_runs(limit=2, cursor=first.next_cursor)
        assert [run.id for run in second.runs] == ["run-0003", "run-0002"]

    # sessions and messages -------------------------------------------------------------
    async def test_session_upsert(self, store: Store) -> None:
        session = SessionRecord("s1", "alpha", T0, T0, {"user": "ann"}, 0, tenant="acme")
        await store.write(WriteBatch(sessions=[session]))
        assert await store.get_session("s1") == session
        changed = SessionRecord("s1", "other", T0 + 99, T0 + 5, {"user": "bob", "n": [1]}, 4)
        await store.write(WriteBatch(sessions=[changed]))
        assert await store.get_session("s1") == SessionRecord(
            "s1", "alpha", T0, T0 + 5, {"user": "bob", "n": [1]}, 4, tenant="acme"
        )
        assert await store.get_session("missing") is None

    async def test_list_sessions(self, store: Store) -> None:
        sessions = [
            SessionRecord("s1", "alpha", T0, T0 + 3),
            SessionRecord("s2", "beta", T0, T0 + 1),
            SessionRecord("s3", "alpha", T0, T0 + 2),
        ]
        await store.write(WriteBatch(sessions=sessions))
        assert [s.id for s in await store.list_sessions()] == ["s1", "s3", "s2"]
        assert [s.id for s in await store.list_sessions(agent="alpha")] == ["s1", "s3"]
        assert [s.id for s in await store.list_sessions(limit=1)] == ["s1"]
        await store.write(WriteBatch(sessions=[SessionRecord("s2", "beta", T0, T0 + 9)]))
        assert [s.id for s in await store.list_sessions()] == ["s2", "s1", "s3"]

    async def test_messages_and_last_n(self, store: Store) -> None:
        session = SessionRecord("s1", "alpha", T0, T0, message_count=7)
        messages = [make_message("s1", seq) for seq in range(1, 8)]
        await store.write(WriteBatch(sessions=[session], messages=messages[:4]))
        await store.write(WriteBatch(sessions=[session], messages=messages[4:]))
        assert await store.get_messages("s1") == messages
        assert await store.get_messages("s1", last=3) == messages[4:]
        assert await store.get_messages("s1", last=1) == messages[6:]
        assert await store.get_messages("s1", last=100) == messages
        assert await store.get_messages("missing") == []

    async def test_delete_session_deletes_its_messages(self, store: Store) -> None:
        sessions = [SessionRecord("s1", "alpha", T0, T0), SessionRecord("s2", "alpha", T0, T0)]
        messages = [make_message("s1", 1), make_message("s1", 2), make_message("s2", 1)]
        await store.write(WriteBatch(sessions=sessions, messages=messages))
        assert await store.delete_session("s1") is True
        assert await store.get_session("s1") is None
        assert await store.get_messages("s1") == []
        assert await store.delete_session("s1") is False
        assert await store.get_messages("s2") == [make_message("s2", 1)]
        await store.write(WriteBatch(sessions=[SessionRecord("s1", "alpha", T0, T0 + 1)]))
        assert await store.get_messages("s1") == []

    async def test_everything_in_one_batch(self, store: Store) -> None:
        run = make_run(1, session_id="s1")
        batch = WriteBatch(
            runs=[run],
            events=make_events(run.id, 1, 3),
            run_updates=[RunUpdate(run.id, "completed", T0 + 9, output="42")],
            sessions=[SessionRecord("s1", "alpha", T0, T0 + 9, {"k": "v"}, 2)],
            messages=[make_message("s1", 1), make_message("s1", 2)],
        )
        await store.write(batch)
        stored = await store.get_run(run.id)
        assert stored is not None and (stored.status, stored.output) == ("completed", "42")
        assert len(await store.get_events(run.id)) == 3
        assert [run.id for run in (await store.list_runs(session_id="s1")).runs] == [run.id]
        assert len(await store.get_messages("s1")) == 2

    # atomicity -------------------------------------------------------------------------
    async def test_failed_batch_leaves_nothing(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(1)], events=make_events("run-0001", 1, 2)))
        bad = WriteBatch(
            runs=[make_run(2)],
            events=[*make_events("run-0002", 1, 3), *make_events("run-0002", 3, 3)],
            run_updates=[RunUpdate("run-0001", "failed", T0 + 9)],
            sessions=[SessionRecord("s1", "alpha", T0, T0)],
            messages=[make_message("s1", 1)],
        )
        with pytest.raises(StoreError):
            await store.write(bad)
        assert await store.get_run("run-0002") is None
        assert await store.get_events("run-0002") == []
        unchanged = await store.get_run("run-0001")
        assert unchanged is not None and unchanged.status == "running"
        assert await store.get_session("s1") is None
        assert await store.get_messages("s1") == []
        await store.write(WriteBatch(runs=[make_run(2)], events=make_events("run-0002", 1, 3)))
        assert len(await store.get_events("run-0002")) == 3

    # API keys --------------------------------------------------------------------------
    async def test_api_key_round_trips(self, store: Store) -> None:
        plain = make_key(1)
        full = make_key(
            2, name="ci — ünïcode", tenant="acme", scopes=("keys:admin",), last_used_at=T0 + 7,
            revoked_at=T0 + 8, expires_at=T0 + 86_400.5,
        )  # fmt: skip
        no_scopes = make_key(3, scopes=())
        for record in (plain, full, no_scopes):
            await store.create_api_key(record)
        for record in (plain, full, no_scopes):
            assert await store.get_api_key(record.id) == record
            assert await store.get_api_key_by_prefix(record.prefix) == record
        stored = await store.get_api_key(plain.id)
        assert stored is not None and stored.scopes == ("agents:invoke", "runs:read")
        assert (stored.tenant, stored.last_used_at, stored.revoked_at, stored.expires_at) == (
            "default", None, None, None
        )  # fmt: skip
        assert await store.get_api_key("key_missing") is None
        assert await store.get_api_key_by_prefix("ask_missing") is None
        assert await store.get_api_key_by_prefix(plain.prefix[:-1]) is None

    async def test_api_key_id_and_prefix_are_unique(self, store: Store) -> None:
        first = make_key(1)
        await store.create_api_key(first)
        with pytest.raises(StoreError):
            await store.create_api_key(make_key(1, prefix="ask_other000"))
        with pytest.raises(StoreError):
            await store.create_api_key(make_key(2, prefix=first.prefix))
        assert await store.list_api_keys(include_revoked=True) == [first]
        assert await store.get_api_key_by_prefix("ask_other000") is None
        await store.create_api_key(make_key(2))
        assert len(await store.list_api_keys()) == 2

    async def test_list_api_keys(self, store: Store) -> None:
        keys = [
            make_key(1, tenant="acme"),
            make_key(2, tenant="globex", revoked_at=T0 + 50),
            make_key(3, tenant="acme", expires_at=T0),  # expired, still listed
            make_key(4, tenant="acme", revoked_at=T0 + 60),
            make_key(5, created_at=T0 + 3),  # ties with key 3: the larger id first
        ]
        for record in keys:
            await store.create_api_key(record)

        async def ids(**filters: Any) -> list[int]:
            return [int(k.id[4:], 16) for k in await store.list_api_keys(**filters)]

        assert await ids() == [5, 3, 1]
        assert await ids(include_revoked=True) == [4, 5, 3, 2, 1]
        assert await ids(tenant="acme") == [3, 1]
        assert await ids(tenant="acme", include_revoked=True) == [4, 3, 1]
        assert await ids(tenant="globex") == []
        assert await ids(tenant="globex", include_revoked=True) == [2]
        assert await ids(tenant="nobody", include_revoked=True) == []

    async def test_update_api_key(self, store: Store) -> None:
        record = make_key(1, expires_at=T0 + 999)
        other = make_key(2)
        await store.create_api_key(record)
        await store.create_api_key(other)

        used = await store.update_api_key(record.id, last_used_at=T0 + 10)
        assert used == ApiKeyRecord(**{**_fields(record), "last_used_at": T0 + 10})
        assert await store.get_api_key(record.id) == used

        renamed = await store.update_api_key(record.id, name="renamed", revoked_at=T0 + 20)
        expected = {**_fields(record), "last_used_at": T0 + 10, "name": "renamed"}
        assert renamed == ApiKeyRecord(**{**expected, "revoked_at": T0 + 20})
        assert await store.get_api_key_by_prefix(record.prefix) == renamed
        assert await store.list_api_keys() == [other]

        cleared = await store.update_api_key(record.id, revoked_at=None, last_used_at=None)
        assert cleared == ApiKeyRecord(**{**_fields(record), "name": "renamed"})
        assert await store.update_api_key(record.id) == cleared
        assert await store.get_api_key(other.id) == other

        assert await store.update_api_key("key_missing", revoked_at=T0) is None
        assert await store.update_api_key("key_missing") is None
        assert await store.get_api_key("key_missing") is None

    async def test_api_keys_and_runs_do_not_interfere(self, store: Store) -> None:
        await store.create_api_key(make_key(1))
        await store.write(WriteBatch(runs=[make_run(1)], events=make_events("run-0001", 1, 2)))
        await store.update_api_key(make_key(1).id, last_used_at=T0 + 1)
        await store.write(WriteBatch(run_updates=[RunUpdate("run-0001", "completed", T0 + 2)]))
        stored = await store.get_run("run-0001")
        assert stored is not None and stored.status == "completed"
        key = await store.get_api_key(make_key(1).id)
        assert key is not None and key.last_used_at == T0 + 1

    # audit log -------------------------------------------------------------------------
    async def test_audit_append_chains_in_order(self, store: Store) -> None:
        assert await store.audit_tail() is None
        assert await audit_rows(store) == []
        first = [make_audit(1), make_audit(2, tenant="acme", kind="key.created")]
        await store.append_audit(first)
        assert [(r.seq, r.prev_hash) for r in first] == [(1, GENESIS), (2, first[0].hash)]
        await store.append_audit([make_audit(3)])
        rows = await audit_rows(store)
        assert [row[0] for row in rows] == [1, 2, 3]
        assert rows[1] == first[1].row()
        assert rows[2][8] == first[1].hash
        assert verify(rows).ok and verify(rows).count == 3
        tail = await store.audit_tail()
        assert tail is not None and (tail.seq, tail.id) == (3, make_audit(3).id)
        assert tail.hash == rows[2][9] == verify(rows).last_hash
        assert tail.data == make_audit(3).data and tail.ts == make_audit(3).ts

    async def test_audit_pages(self, store: Store) -> None:
        await store.append_audit([make_audit(i) for i in range(1, 8)])
        pages = [page async for page in store.audit_pages(page_size=3)]
        assert [[row[0] for row in page] for page in pages] == [[1, 2, 3], [4, 5, 6], [7]]
        assert [row[0] for row in await audit_rows(store, after_seq=5)] == [6, 7]
        assert [row[0] for row in await audit_rows(store, since_ts=make_audit(4).ts, page_size=2)] == [
            4, 5, 6, 7,
        ]  # fmt: skip
        records = [record async for record in store.iter_audit(after_seq=6)]
        assert [(r.seq, r.id) for r in records] == [(7, make_audit(7).id)]

    async def test_audit_rides_on_a_write_batch(self, store: Store) -> None:
        batch = WriteBatch(
            runs=[make_run(1)], events=make_events("run-0001", 1, 2), audit=[make_audit(1)]
        )
        await store.write(batch)
        await store.write(WriteBatch(audit=[make_audit(2), make_audit(3)]))
        rows = await audit_rows(store)
        assert [row[2] for row in rows] == [make_audit(i).id for i in (1, 2, 3)]
        assert verify(rows).ok

    async def test_failed_batch_leaves_no_audit_entry_and_no_gap(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(1)], audit=[make_audit(1)]))
        with pytest.raises(StoreError):
            await store.write(WriteBatch(runs=[make_run(1)], audit=[make_audit(2)]))
        with pytest.raises(StoreError):  # duplicate entry id
            await store.append_audit([make_audit(3), make_audit(1)])
        await store.append_audit([make_audit(4)])
        rows = await audit_rows(store)
        assert [(row[0], row[2]) for row in rows] == [(1, make_audit(1).id), (2, make_audit(4).id)]
        assert verify(rows).ok

    # leases (durability) ------------------------------------------------------------------
    async def test_lease_is_exclusive_until_it_expires(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(1, lease_owner="a", lease_expires=100.0)]))
        stored = await store.get_run("run-0001")
        assert stored is not None and (stored.lease_owner, stored.lease_expires) == ("a", 100.0)
        assert not await store.acquire_lease("run-0001", "b", 200.0, now=50.0)
        assert await store.acquire_lease("run-0001", "a", 150.0, now=50.0)  # a renewal
        assert await store.acquire_lease("run-0001", "b", 300.0, now=151.0)  # expired
        stored = await store.get_run("run-0001")
        assert stored is not None and (stored.lease_owner, stored.lease_expires) == ("b", 300.0)
        assert not await store.acquire_lease("run-0001", "a", 400.0, now=160.0)
        assert await store.acquire_lease("run-0001", "c", 400.0, now=160.0, steal_from="b")
        assert not await store.acquire_lease("no-such-run", "a", 1.0, now=0.0)

    async def test_lease_of_a_finished_run_cannot_be_taken(self, store: Store) -> None:
        await store.write(WriteBatch(runs=[make_run(1, status="completed")]))
        assert not await store.acquire_lease("run-0001", "a", 100.0, now=0.0)
        await store.write(WriteBatch(runs=[make_run(2, status="waiting")]))
        assert await store.acquire_lease("run-0002", "a", 100.0, now=0.0)

    async def test_renew_and_release_leases(self, store: Store) -> None:
        await store.write(
            WriteBatch(
                runs=[
                    make_run(1, lease_owner="a", lease_expires=10.0),
                    make_run(2, lease_owner="a", lease_expires=10.0),
                    make_run(3, lease_owner="b", lease_expires=10.0),
                    make_run(4, lease_owner="a", lease_expires=10.0, status="failed"),
                ]
            )
        )
        assert await store.renew_leases("a", 99.0) == 2
        leases = [await store.get_run(f"run-000{i}") for i in (1, 2, 3)]
        assert [(r.lease_owner, r.lease_expires) for r in leases if r] == [
            ("a", 99.0), ("a", 99.0), ("b", 10.0),
        ]  # fmt: skip
        assert not await store.release_lease("run-0001", "b")
        assert await store.release_lease("run-0001", "a")
        released = await store.get_run("run-0001")
        assert released is not None and (released.lease_owner, released.lease_expires) == ("", 0.0)
        assert await store.acquire_lease("run-0001", "b", 5.0, now=1.0)

    async def test_child_runs_oldest_first(self, store: Store) -> None:
        await store.write(
            WriteBatch(
                runs=[
                    make_run(1),
                    make_run(2, parent_run_id="run-0001"),
                    make_run(3),
                    make_run(4, parent_run_id="run-0001"),
                ]
            )
        )
        assert [r.id for r in await store.child_runs("run-0001")] == ["run-0002", "run-0004"]
        assert await store.child_runs("run-0003") == []

    async def test_only_one_of_many_concurrent_acquirers_wins(self, store: Store) -> None:
        import asyncio

        await store.write(WriteBatch(runs=[make_run(1)]))
        wins = await asyncio.gather(
            *(store.acquire_lease("run-0001", f"p{i}", 100.0, now=1.0) for i in range(8))
        )
        assert sum(wins) == 1


def _fields(record: ApiKeyRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
