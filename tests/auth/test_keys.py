"""API keys: generation, scopes, the key manager and the authenticator, on every store."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentspec.auth.base import (
    ALL_SCOPES,
    SCOPE_ADMIN,
    SCOPE_INVOKE,
    SCOPE_RUNS,
    SCOPE_SESSIONS,
    Authenticator,
    Principal,
)
from agentspec.auth.keys import (
    PREFIX_LENGTH,
    KeyAuthenticator,
    KeyManager,
    KeyNotFound,
    generate_key,
    hash_secret,
    is_well_formed,
    new_key_id,
    parse_duration,
    parse_scopes,
)
from agentspec.exceptions import StoreError, UsageError
from agentspec.store.base import UNSET, ApiKeyRecord, Store, Unset
from agentspec.store.memory import MemoryStore
from agentspec.store.sql import SQLStore

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingStore(MemoryStore):
    """A memory store that counts API key reads and writes, and can fail writes."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.updates: list[dict[str, Any]] = []
        self.fail_updates = False

    async def get_api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        self.lookups += 1
        await asyncio.sleep(0)  # let concurrent requests interleave, as a real store would
        return await super().get_api_key_by_prefix(prefix)

    async def update_api_key(
        self,
        key_id: str,
        *,
        revoked_at: float | None | Unset = UNSET,
        last_used_at: float | None | Unset = UNSET,
        name: str | Unset = UNSET,
    ) -> ApiKeyRecord | None:
        changes = {"revoked_at": revoked_at, "last_used_at": last_used_at, "name": name}
        self.updates.append({k: v for k, v in changes.items() if v is not UNSET})
        await asyncio.sleep(0)
        if self.fail_updates:
            raise StoreError("database is locked")
        return await super().update_api_key(
            key_id, revoked_at=revoked_at, last_used_at=last_used_at, name=name
        )

    def touches(self) -> int:
        return sum(1 for update in self.updates if "last_used_at" in update)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = (
        MemoryStore() if request.param == "memory" else SQLStore(f"sqlite:///{tmp_path / 'k.db'}")
    )
    await backend.setup()
    yield backend
    await backend.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counting() -> CountingStore:
    return CountingStore()


# secrets, scopes and durations -----------------------------------------------------------
def test_generate_key() -> None:
    secret, prefix = generate_key()
    assert secret.startswith("ask_") and len(secret) == 4 + 43
    assert prefix == secret[:PREFIX_LENGTH] == secret[:12]
    assert is_well_formed(secret)
    assert len({generate_key()[0] for _ in range(100)}) == 100
    assert len({generate_key()[1] for _ in range(100)}) == 100


def test_new_key_id() -> None:
    key_id = new_key_id()
    assert key_id.startswith("key_") and len(key_id) == 16
    int(key_id[4:], 16)


def test_hash_secret_is_hex_sha256() -> None:
    secret, _ = generate_key()
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert len(hash_secret(secret)) == 64 and hash_secret(secret) != hash_secret(secret + "x")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ask_",
        "ask_short",
        "ASK_" + "a" * 43,
        "sk-" + "a" * 43,
        "Bearer ask_" + "a" * 43,
        "ask_" + "a" * 42 + " ",
        "ask_" + "a" * 42 + "\n",
        "ask_" + "a" * 42 + "é",
        "ask_" + "a" * 42 + "=",
        "ask_" + "a" * 5000,
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert not is_well_formed(token)


def test_parse_scopes() -> None:
    assert parse_scopes([SCOPE_RUNS, SCOPE_INVOKE, SCOPE_RUNS]) == (SCOPE_INVOKE, SCOPE_RUNS)
    assert parse_scopes(["admin"]) == tuple(sorted(ALL_SCOPES))
    assert parse_scopes(["runs:read,agents:invoke", " sessions:write "]) == (
        SCOPE_INVOKE, SCOPE_RUNS, SCOPE_SESSIONS
    )  # fmt: skip
    assert parse_scopes(["admin", SCOPE_RUNS]) == tuple(sorted(ALL_SCOPES))


@pytest.mark.parametrize("scopes", [["agents:write"], ["runs:read", "root"], ["Admin"]])
def test_unknown_scope_lists_the_valid_ones(scopes: list[str]) -> None:
    with pytest.raises(UsageError, match="unknown scope") as caught:
        parse_scopes(scopes)
    for name in (*ALL_SCOPES, "admin"):
        assert name in str(caught.value)


@pytest.mark.parametrize("scopes", [[], [""], [" , "]])
def test_no_scope(scopes: list[str]) -> None:
    with pytest.raises(UsageError, match="at least one scope"):
        parse_scopes(scopes)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600), ("2w", 1209600),
     ("1.5h", 5400), (" 7D ", 604800)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-1d", "3x", "1 day", "1e3s", "inf"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="30d"):
        parse_duration(text)


# the manager ------------------------------------------------------------------------------
async def test_create_stores_only_the_hash(store: Store, clock: Clock) -> None:
    manager = KeyManager(store, clock=clock)
    record, secret = await manager.create("ci", ["agents:invoke", "runs:read"], tenant="acme")
    assert record == ApiKeyRecord(
        id=record.id, name="ci", prefix=secret[:12], secret_hash=hash_secret(secret),
        scopes=(SCOPE_INVOKE, SCOPE_RUNS), created_at=T0, tenant="acme",
    )  # fmt: skip
    assert record.id.startswith("key_") and record.status(T0) == "active"
    assert await store.get_api_key(record.id) == record
    assert secret not in repr(record)


async def test_the_secret_never_reaches_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    store = SQLStore(f"sqlite:///{path}")
    await store.setup()
    record, secret = await KeyManager(store).create("ci", ["admin"])
    await store.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
    db.close()
    assert len(rows) == 1
    assert record.secret_hash in rows[0] and record.prefix in rows[0]
    assert not any(secret in str(value) for value in rows[0])
    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("k.db"))
    assert secret.encode() not in dump and secret[PREFIX_LENGTH:].encode() not in dump


async def test_create_validates(store: Store) -> None:
    manager = KeyManager(store)
    with pytest.raises(UsageError, match="unknown scope"):
        await manager.create("ci", ["everything"])
    with pytest.raises(UsageError, match="name"):
        await manager.create("  ", ["admin"])
    with pytest.raises(UsageError, match="name"):
        await manager.create("x" * 201, ["admin"])
    with pytest.raises(UsageError, match="control"):
        await manager.create("a\nb", ["admin"])
    with pytest.raises(UsageError, match="tenant"):
        await manager.create("ci", ["admin"], tenant="")
    for bad in (0, -5, float("inf"), float("nan")):
        with pytest.raises(UsageError, match="expires_in"):
            await manager.create("ci", ["admin"], expires_in=bad)
    assert await manager.list(include_revoked=True) == []


async def test_admin_expands_to_every_scope(store: Store) -> None:
    record, _ = await KeyManager(store).create("root", ["admin"])
    assert set(record.scopes) == ALL_SCOPES
    assert "admin" not in record.scopes


async def test_create_with_expiry(store: Store, clock: Clock) -> None:
    record, _ = await KeyManager(store, clock=clock).create("tmp", ["runs:read"], expires_in=60)
    assert record.expires_at == T0 + 60
    assert record.status(T0 + 59.9) == "active" and record.status(T0 + 60) == "expired"


async def test_list_and_get(store: Store, clock: Clock) -> None:
    manager = KeyManager(store, clock=clock)
    first, _ = await manager.create("one", ["runs:read"])
    clock.advance(1)
    second, _ = await manager.create("two", ["runs:read"], tenant="acme")
    clock.advance(1)
    third, _ = await manager.create("three", ["runs:read"])
    await manager.revoke(first.id)
    assert [k.id for k in await manager.list()] == [third.id, second.id]
    assert [k.id for k in await manager.list(include_revoked=True)] == [
        third.id, second.id, first.id
    ]  # fmt: skip
    assert [k.id for k in await manager.list(tenant="acme")] == [second.id]
    assert await manager.get(second.id) == second
    assert await manager.get(second.id, tenant="acme") == second
    with pytest.raises(KeyNotFound, match="key_nope"):
        await manager.get("key_nope")
    with pytest.raises(KeyNotFound):
        await manager.get(second.id, tenant="default")
    assert KeyNotFound.code == "not_found"


async def test_revoke(store: Store, clock: Clock) -> None:
    manager = KeyManager(store, clock=clock)
    record, secret = await manager.create("ci", ["admin"])
    clock.advance(10)
    revoked = await manager.revoke(record.id)
    assert revoked.revoked_at == T0 + 10 and revoked.status(T0 + 10) == "revoked"
    clock.advance(10)
    again = await manager.revoke(record.id)  # idempotent: keeps the first revocation time
    assert again.revoked_at == T0 + 10
    assert await KeyAuthenticator(store, clock=clock).authenticate(secret) is None
    with pytest.raises(KeyNotFound):
        await manager.revoke("key_nope")


async def test_revoke_is_tenant_scoped(store: Store) -> None:
    manager = KeyManager(store)
    record, secret = await manager.create("ci", ["admin"], tenant="acme")
    with pytest.raises(KeyNotFound):
        await manager.revoke(record.id, tenant="globex")
    assert await KeyAuthenticator(store).authenticate(secret) is not None
    await manager.revoke(record.id, tenant="acme")
    assert await KeyAuthenticator(store).authenticate(secret) is None


async def test_rotate(store: Store, clock: Clock) -> None:
    manager = KeyManager(store, clock=clock)
    auth = KeyAuthenticator(store, clock=clock)
    old, old_secret = await manager.create("ci", ["agents:invoke"], tenant="acme", expires_in=3600)
    clock.advance(600)
    new, new_secret = await manager.rotate(old.id)
    assert new.id != old.id and new_secret != old_secret and new.prefix != old.prefix
    assert (new.name, new.scopes, new.tenant) == ("ci", (SCOPE_INVOKE,), "acme")
    assert (new.created_at, new.expires_at) == (T0 + 600, T0 + 600 + 3600)  # same lifetime
    assert new.revoked_at is None
    stored_old = await manager.get(old.id)
    assert stored_old.revoked_at == T0 + 600
    assert await auth.authenticate(old_secret) is None
    principal = await auth.authenticate(new_secret)
    assert principal == Principal(new.id, "ci", frozenset({SCOPE_INVOKE}), "acme")
    with pytest.raises(UsageError, match="revoked"):
        await manager.rotate(old.id)
    with pytest.raises(KeyNotFound):
        await manager.rotate("key_nope")
    with pytest.raises(KeyNotFound):
        await manager.rotate(new.id, tenant="default")


async def test_rotate_a_key_that_never_expires(store: Store) -> None:
    manager = KeyManager(store)
    old, _ = await manager.create("ci", ["runs:read"])
    new, _ = await manager.rotate(old.id)
    assert new.expires_at is None


async def test_a_failed_rotation_leaves_no_live_new_key(counting: CountingStore) -> None:
    manager = KeyManager(counting)
    old, old_secret = await manager.create("ci", ["runs:read"])

    original = counting.update_api_key
    calls = 0

    async def flaky(key_id: str, **changes: Any) -> ApiKeyRecord | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("database is locked")
        return await original(key_id, **changes)

    counting.update_api_key = flaky  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="locked"):
        await manager.rotate(old.id)
    keys = await counting.list_api_keys(include_revoked=True)
    assert len(keys) == 2
    assert [k.id for k in keys if k.revoked_at is None] == [old.id]
    assert await KeyAuthenticator(counting).authenticate(old_secret) is not None


async def test_audit_hook_is_called_once_per_change(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, str]] = []

    def audit(self: KeyManager, action: str, record: ApiKeyRecord, *, replaced: str = "") -> None:
        seen.append((action, record.id, replaced))

    monkeypatch.setattr(KeyManager, "_audit", audit)
    manager = KeyManager(store)
    first, _ = await manager.create("ci", ["admin"])
    second, _ = await manager.rotate(first.id)
    await manager.revoke(second.id)
    await manager.revoke(second.id)  # already revoked: nothing happened
    await manager.list()
    with pytest.raises(UsageError):
        await manager.create("bad", ["nope"])
    assert seen == [("create", first.id, ""), ("rotate", second.id, first.id),
                    ("revoke", second.id, "")]  # fmt: skip


# the authenticator ------------------------------------------------------------------------
async def test_authenticate(store: Store) -> None:
    manager = KeyManager(store)
    record, secret = await manager.create("ci", ["agents:invoke", "runs:read"], tenant="acme")
    auth: Authenticator = KeyAuthenticator(store)
    principal = await auth.authenticate(secret)
    assert principal == Principal(
        key_id=record.id, name="ci", scopes=frozenset({SCOPE_INVOKE, SCOPE_RUNS}), tenant="acme"
    )
    assert principal.allows(SCOPE_INVOKE) and not principal.allows(SCOPE_ADMIN)
    assert secret not in repr(principal)


async def test_unknown_and_wrong_secrets(store: Store) -> None:
    _, secret = await KeyManager(store).create("ci", ["admin"])
    auth = KeyAuthenticator(store)
    other, _ = generate_key()
    assert await auth.authenticate(other) is None
    same_prefix = secret[:PREFIX_LENGTH] + other[PREFIX_LENGTH:]  # right prefix, wrong secret
    assert await auth.authenticate(same_prefix) is None
    assert await auth.authenticate(secret[:-1]) is None
    assert await auth.authenticate(secret + "A") is None
    assert await auth.authenticate(secret) is not None
    assert await auth.authenticate(same_prefix) is None  # also once the right one is cached


@pytest.mark.parametrize(
    "token", ["", "ask_", "Bearer x", "ask_" + "a" * 42 + "é", "ask_" + "a" * 5000, "\x00" * 47]
)
async def test_malformed_tokens_do_not_reach_the_store(counting: CountingStore, token: str) -> None:
    assert await KeyAuthenticator(counting).authenticate(token) is None
    assert counting.lookups == 0


async def test_the_hash_comparison_is_constant_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = await KeyManager(store).create("ci", ["admin"])
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    auth = KeyAuthenticator(store)
    assert await auth.authenticate(secret) is not None
    assert calls == [(hash_secret(secret), hash_secret(secret))]
    wrong = secret[:PREFIX_LENGTH] + generate_key()[0][PREFIX_LENGTH:]
    assert await auth.authenticate(wrong) is None
    assert len(calls) == 2 and calls[1][0] == hash_secret(wrong)


async def test_expired_keys_are_refused_even_when_cached(store: Store, clock: Clock) -> None:
    _, secret = await KeyManager(store, clock=clock).create("tmp", ["admin"], expires_in=10)
    auth = KeyAuthenticator(store, clock=clock, cache_ttl=60)
    assert await auth.authenticate(secret) is not None
    clock.advance(9.99)
    assert await auth.authenticate(secret) is not None  # from the cache
    clock.advance(0.01)
    assert await auth.authenticate(secret) is None
    assert await KeyAuthenticator(store, clock=clock).authenticate(secret) is None


async def test_positive_lookups_are_cached_for_a_few_seconds(
    counting: CountingStore, clock: Clock
) -> None:
    _, secret = await KeyManager(counting, clock=clock).create("ci", ["admin"])
    counting.lookups = 0
    auth = KeyAuthenticator(counting, clock=clock, cache_ttl=5)
    for _ in range(10):
        assert await auth.authenticate(secret) is not None
    assert counting.lookups == 1
    clock.advance(4.9)
    assert await auth.authenticate(secret) is not None
    assert counting.lookups == 1
    clock.advance(0.2)
    assert await auth.authenticate(secret) is not None
    assert counting.lookups == 2


async def test_negative_lookups_are_not_cached(counting: CountingStore) -> None:
    auth = KeyAuthenticator(counting)
    secret, _ = generate_key()
    assert await auth.authenticate(secret) is None
    assert await auth.authenticate(secret) is None
    assert counting.lookups == 2


async def test_cache_ttl_zero_disables_the_cache(counting: CountingStore) -> None:
    _, secret = await KeyManager(counting).create("ci", ["admin"])
    counting.lookups = 0
    auth = KeyAuthenticator(counting, cache_ttl=0)
    for _ in range(3):
        assert await auth.authenticate(secret) is not None
    assert counting.lookups == 3


async def test_the_cache_is_bounded(counting: CountingStore, clock: Clock) -> None:
    manager = KeyManager(counting, clock=clock)
    secrets = [(await manager.create(f"k{i}", ["admin"]))[1] for i in range(5)]
    auth = KeyAuthenticator(counting, clock=clock, cache_size=2)
    for secret in secrets:
        assert await auth.authenticate(secret) is not None
    assert len(auth._cache) == 2 and len(auth._cached_hash) == 2
    assert len(auth._touched) <= 2
    before = counting.lookups
    assert await auth.authenticate(secrets[-1]) is not None  # most recent: cached
    assert counting.lookups == before
    assert await auth.authenticate(secrets[0]) is not None  # evicted: looked up again
    assert counting.lookups == before + 1


async def test_revoking_through_the_manager_invalidates_the_cache(
    counting: CountingStore, clock: Clock
) -> None:
    auth = KeyAuthenticator(counting, clock=clock, cache_ttl=3600)
    manager = KeyManager(counting, authenticator=auth, clock=clock)
    record, secret = await manager.create("ci", ["admin"])
    other, other_secret = await manager.create("other", ["admin"])
    assert await auth.authenticate(secret) is not None
    assert await auth.authenticate(other_secret) is not None
    await manager.revoke(record.id)
    assert await auth.authenticate(secret) is None
    assert await auth.authenticate(other_secret) is not None  # others stay cached
    lookups = counting.lookups
    assert await auth.authenticate(other_secret) is not None
    assert counting.lookups == lookups


async def test_rotating_through_the_manager_invalidates_the_cache(
    store: Store, clock: Clock
) -> None:
    auth = KeyAuthenticator(store, clock=clock, cache_ttl=3600)
    manager = KeyManager(store, authenticator=auth, clock=clock)
    record, secret = await manager.create("ci", ["admin"])
    assert await auth.authenticate(secret) is not None
    _, new_secret = await manager.rotate(record.id)
    assert await auth.authenticate(secret) is None
    assert await auth.authenticate(new_secret) is not None


async def test_revocation_elsewhere_takes_effect_within_the_ttl(store: Store, clock: Clock) -> None:
    auth = KeyAuthenticator(store, clock=clock, cache_ttl=5)
    record, secret = await KeyManager(store, clock=clock).create("ci", ["admin"])
    assert await auth.authenticate(secret) is not None
    await KeyManager(store, clock=clock).revoke(record.id)  # e.g. the CLI, another process
    assert await auth.authenticate(secret) is not None  # still cached
    clock.advance(5)
    assert await auth.authenticate(secret) is None
    # and once known revoked here, revoking again through a wired manager keeps it refused
    manager = KeyManager(store, authenticator=auth, clock=clock)
    await manager.revoke(record.id)
    assert await auth.authenticate(secret) is None


async def test_last_used_is_written_at_most_once_a_minute(
    counting: CountingStore, clock: Clock
) -> None:
    record, secret = await KeyManager(counting, clock=clock).create("ci", ["admin"])
    auth = KeyAuthenticator(counting, clock=clock, cache_ttl=5)
    assert await auth.authenticate(secret) is not None
    assert counting.touches() == 1
    stored = await counting.get_api_key(record.id)
    assert stored is not None and stored.last_used_at == T0
    for _ in range(59):
        clock.advance(1)  # past the cache TTL: lookups go to the store again
        assert await auth.authenticate(secret) is not None
    assert counting.touches() == 1
    clock.advance(1)
    assert await auth.authenticate(secret) is not None
    assert counting.touches() == 2
    stored = await counting.get_api_key(record.id)
    assert stored is not None and stored.last_used_at == T0 + 60
    # a fresh process reads last_used_at from the store and does not write again
    fresh = KeyAuthenticator(counting, clock=clock)
    clock.advance(30)
    assert await fresh.authenticate(secret) is not None
    assert counting.touches() == 2


async def test_concurrent_requests_write_last_used_once(
    counting: CountingStore, clock: Clock
) -> None:
    _, secret = await KeyManager(counting, clock=clock).create("ci", ["admin"])
    auth = KeyAuthenticator(counting, clock=clock)
    found = await asyncio.gather(*(auth.authenticate(secret) for _ in range(50)))
    assert all(principal is not None for principal in found)
    assert counting.touches() == 1


async def test_last_used_is_written_on_sql_stores_too(tmp_path: Path, clock: Clock) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'k.db'}")
    await store.setup()
    record, secret = await KeyManager(store, clock=clock).create("ci", ["admin"])
    assert await KeyAuthenticator(store, clock=clock).authenticate(secret) is not None
    stored = await store.get_api_key(record.id)
    assert stored is not None and stored.last_used_at == T0
    await store.close()


async def test_a_failing_last_used_write_does_not_fail_the_request(
    counting: CountingStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    record, secret = await KeyManager(counting, clock=clock).create("ci", ["admin"])
    counting.fail_updates = True
    auth = KeyAuthenticator(counting, clock=clock)
    assert await auth.authenticate(secret) is not None
    assert record.id in caplog.text and "locked" in caplog.text
    assert secret not in caplog.text


async def test_a_failing_lookup_is_a_store_error(
    counting: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(prefix: str) -> ApiKeyRecord | None:
        raise StoreError("database is locked")

    monkeypatch.setattr(counting, "get_api_key_by_prefix", broken)
    with pytest.raises(StoreError):
        await KeyAuthenticator(counting).authenticate(generate_key()[0])
