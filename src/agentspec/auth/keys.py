"""API keys: generating and hashing secrets, managing keys, authenticating requests.

A secret looks like ``ask_`` followed by 43 URL-safe characters (32 random bytes). It is shown
once, when the key is created or rotated; the store keeps only

- its first :data:`PREFIX_LENGTH` characters, the *prefix*: unique, indexed, and safe to show
  (it carries 48 of the secret's 256 random bits), so a presented secret finds its row in one
  indexed lookup, and people can tell their keys apart;
- :func:`hash_secret` of the whole secret, compared in constant time.

:class:`KeyManager` creates, lists, revokes and rotates keys (for ``agentspec keys`` and the
server's admin endpoints); :class:`KeyAuthenticator` is the
:class:`~agentspec.auth.base.Authenticator` the server uses on every request.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from agentspec.audit.chain import canonical_json, micros, new_audit_id
from agentspec.auth.base import ALL_SCOPES, Principal
from agentspec.exceptions import AgentspecError, StoreError, UsageError
from agentspec.store.base import ApiKeyRecord, AuditRecord, Store

if TYPE_CHECKING:
    from agentspec.audit.recorder import AuditRecorder

KEY_PREFIX = "ask_"
"""Every secret starts with this, so scanners and people can recognise a leaked key."""
SECRET_BYTES = 32
PREFIX_LENGTH = 12
"""Characters of the secret stored in clear as its lookup prefix: ``ask_`` and 8 random ones."""
ADMIN = "admin"
"""Not a scope but shorthand, when creating a key, for every scope in :data:`ALL_SCOPES`."""
MAX_NAME_LENGTH = 200

_TOKEN = re.compile(r"ask_[A-Za-z0-9_-]{32,200}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_ATTEMPTS = 5

KeyAction = Literal["create", "revoke", "rotate"]
_AUDIT_KINDS: dict[str, str] = {
    "create": "key.created",
    "revoke": "key.revoked",
    "rotate": "key.rotated",
}

log = logging.getLogger("agentspec.auth")


class KeyNotFound(AgentspecError):
    """No key has this id (or not in the caller's tenant)."""

    code = "not_found"


def generate_key() -> tuple[str, str]:
    """A new random secret and its lookup prefix (its first :data:`PREFIX_LENGTH` characters)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    return secret, secret[:PREFIX_LENGTH]


def new_key_id() -> str:
    """A new public key id: ``key_`` and 12 hex digits."""
    return "key_" + secrets.token_hex(6)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of ``secret``: what the store keeps instead of the secret.

    A fast hash is right here, unlike for passwords: the secret has 256 random bits, so no
    amount of hashing speed makes guessing it feasible, and no precomputed table covers that
    space (hence no salt either). Slow password hashes (bcrypt, scrypt, argon2) would only add
    tens of milliseconds of CPU to every authenticated request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def is_well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of a secret (checked before touching the store)."""
    return _TOKEN.fullmatch(token) is not None


def parse_scopes(names: Iterable[str]) -> tuple[str, ...]:
    """Validate scope names and return them sorted and deduplicated.

    Items may be comma-separated (``agents:invoke,runs:read``); ``admin`` expands to every
    scope.

    Raises:
        UsageError: No scope was given, or one is unknown (the message lists the valid ones).
    """
    found: set[str] = set()
    for item in names:
        for raw in item.split(","):
            name = raw.strip()
            if not name:
                continue
            if name == ADMIN:
                found.update(ALL_SCOPES)
            elif name in ALL_SCOPES:
                found.add(name)
            else:
                raise UsageError(f"unknown scope {name!r}: use {_valid_scopes()}")
    if not found:
        raise UsageError(f"give at least one scope: {_valid_scopes()}")
    return tuple(sorted(found))


def _valid_scopes() -> str:
    return ", ".join([*sorted(ALL_SCOPES), f"{ADMIN} (all of them)"])


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``30d``, ``12h``, ``90m``, ``3600s`` or ``2w``.

    Raises:
        UsageError: ``text`` is not a positive number followed by one of s, m, h, d, w.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]] if match else 0.0
    if not seconds > 0:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30d, 12h, 90m, 3600s or 2w")
    return seconds


def _check_text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise UsageError(f"the key {what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise UsageError(f"the key {what} is longer than {MAX_NAME_LENGTH} characters")
    if not value.isprintable():
        raise UsageError(f"the key {what} must not contain control characters")
    return value


class KeyManager:
    """Create, list, revoke and rotate API keys in a store.

    Args:
        store: A set-up store.
        authenticator: The authenticator serving requests in this process, if any: keys
            revoked (or rotated) through this manager stop working there at once. Elsewhere
            they stop within that authenticator's ``cache_ttl``.
        clock: Epoch seconds (injectable for tests).
        actor: Who makes the changes, as the audit log names them (``cli``, a key id ...).
        recorder: The audit recorder the entries go through (default: appended to
            ``store``'s audit log directly).

    Operations that take ``tenant`` act only on that tenant's keys (a key of another tenant is
    :class:`KeyNotFound`); without it they act on any key (the operator's CLI).

    Every change is appended to the store's audit log (``key.created``, ``key.revoked``,
    ``key.rotated``) once it is made. Should that append fail, the change stands (the caller
    would otherwise lose a new secret) and the failure is logged at ERROR level.
    """

    def __init__(
        self,
        store: Store,
        *,
        authenticator: KeyAuthenticator | None = None,
        clock: Callable[[], float] = time.time,
        actor: str = "system",
        recorder: AuditRecorder | None = None,
    ) -> None:
        self.store = store
        self._recorder = recorder
        self._authenticator = authenticator
        self._clock = clock
        self._actor = actor
        self._audit_queue: builtins.list[AuditRecord] = []

    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        tenant: str = "default",
        expires_in: float | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key.

        Args:
            name: A label for humans.
            scopes: Scope names (see :func:`parse_scopes`; ``admin`` means all).
            tenant: The tenant the key's requests belong to.
            expires_in: Seconds until the key stops working (``None``: never).

        Returns:
            The stored record and the secret. The secret cannot be recovered later.

        Raises:
            UsageError: A scope is unknown, the name or tenant is empty, or ``expires_in`` is
                not a positive number.
            StoreError: The store failed.
        """
        granted = parse_scopes(scopes)
        name = _check_text(name, "name")
        tenant = _check_text(tenant, "tenant")
        if expires_in is not None and not (0 < expires_in < math.inf):
            raise UsageError(f"expires_in must be a positive number of seconds, not {expires_in}")
        record, secret = await self._create(name, granted, tenant, expires_in)
        self._audit("create", record)
        await self._write_audit()
        return record, secret

    async def get(self, key_id: str, *, tenant: str | None = None) -> ApiKeyRecord:
        """The key ``key_id``, revoked or not.

        Raises:
            KeyNotFound: There is no such key (in ``tenant``).
        """
        record = await self.store.get_api_key(key_id)
        if record is None or (tenant is not None and record.tenant != tenant):
            raise KeyNotFound(f"no API key {key_id!r}")
        return record

    async def revoke(self, key_id: str, *, tenant: str | None = None) -> ApiKeyRecord:
        """Revoke a key: it stops authenticating. Revoking a revoked key changes nothing.

        Returns:
            The key as revoked (``revoked_at`` is when it first was).

        Raises:
            KeyNotFound: There is no such key (in ``tenant``).
        """
        record = await self.get(key_id, tenant=tenant)
        if record.revoked_at is not None:
            self._forget(key_id)  # perhaps revoked by another process while cached here
            return record
        revoked = await self._revoke(record)
        self._audit("revoke", revoked)
        await self._write_audit()
        return revoked

    async def rotate(self, key_id: str, *, tenant: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Replace a key by a new one with the same name, scopes and tenant, and revoke it.

        A key that expires gives the new key the same lifetime, counted from now.

        Returns:
            The new record and its secret.

        Raises:
            KeyNotFound: There is no such key (in ``tenant``).
            UsageError: The key is revoked (create a new one instead).
        """
        old = await self.get(key_id, tenant=tenant)
        if old.revoked_at is not None:
            raise UsageError(f"API key {key_id} is revoked; create a new key instead")
        lifetime = None if old.expires_at is None else max(old.expires_at - old.created_at, 1.0)
        new, secret = await self._create(old.name, old.scopes, old.tenant, lifetime)
        try:
            await self._revoke(old)
        except BaseException:
            # nobody will ever see the new secret: do not leave a live key behind
            try:
                await self.store.update_api_key(new.id, revoked_at=self._clock())
            except AgentspecError:
                log.warning("could not revoke API key %s after a failed rotation", new.id)
            raise
        self._audit("rotate", new, replaced=old.id)
        await self._write_audit()
        return new, secret

    async def list(
        self, *, tenant: str | None = None, include_revoked: bool = False
    ) -> builtins.list[ApiKeyRecord]:
        """Keys, newest first: ``tenant``'s only if given; revoked ones with
        ``include_revoked``."""
        return await self.store.list_api_keys(tenant=tenant, include_revoked=include_revoked)

    async def _create(
        self, name: str, scopes: tuple[str, ...], tenant: str, expires_in: float | None
    ) -> tuple[ApiKeyRecord, str]:
        for _ in range(_ATTEMPTS):
            secret, prefix = generate_key()
            key_id = new_key_id()
            if (
                await self.store.get_api_key_by_prefix(prefix) is None
                and await self.store.get_api_key(key_id) is None
            ):
                break
        else:  # pragma: no cover - 48 random bits each; only a broken RNG gets here
            raise StoreError("could not generate an unused API key id and prefix")
        now = self._clock()
        record = ApiKeyRecord(
            id=key_id,
            name=name,
            prefix=prefix,
            secret_hash=hash_secret(secret),
            scopes=scopes,
            created_at=now,
            tenant=tenant,
            expires_at=None if expires_in is None else now + expires_in,
        )
        await self.store.create_api_key(record)
        return record, secret

    async def _revoke(self, record: ApiKeyRecord) -> ApiKeyRecord:
        revoked = await self.store.update_api_key(record.id, revoked_at=self._clock())
        self._forget(record.id)
        if revoked is None:
            raise KeyNotFound(f"no API key {record.id!r}")
        return revoked

    def _forget(self, key_id: str) -> None:
        if self._authenticator is not None:
            self._authenticator.invalidate(key_id)

    def _audit(self, action: KeyAction, record: ApiKeyRecord, *, replaced: str = "") -> None:
        """The single place where key changes are reported.

        Called once per ``create``, ``revoke`` (not when the key already was) and ``rotate``
        (``record`` is the new key, ``replaced`` the old key's id). It queues an audit entry
        (name, tenant, scopes, prefix, expiry; never the secret or its hash), which the caller
        then writes with :meth:`_write_audit`.
        """
        data: dict[str, object] = {
            "name": record.name,
            "tenant": record.tenant,
            "scopes": list(record.scopes),
            "prefix": record.prefix,
            "expires_at": record.expires_at,
        }
        if replaced:
            data["replaced"] = replaced
        self._audit_queue.append(
            AuditRecord(
                new_audit_id(),
                micros(self._clock()),
                _AUDIT_KINDS[action],
                self._actor,
                record.id,
                canonical_json(data),
                record.tenant,
            )
        )

    async def _write_audit(self) -> None:
        """Append the queued audit entries; log (never raise) if the store fails."""
        if not self._audit_queue:
            return
        entries, self._audit_queue = self._audit_queue, []
        try:
            if self._recorder is not None:
                await self._recorder.append(entries)
            else:
                await self.store.append_audit(entries)
        except StoreError as exc:
            log.error(
                "audit: could not record %s: %s",
                ", ".join(f"{e.kind} {e.subject}" for e in entries),
                exc,
            )


class KeyAuthenticator:
    """The :class:`~agentspec.auth.base.Authenticator` for keys in a store.

    A presented token is checked for shape, looked up by its prefix, and its SHA-256 compared
    with the stored hash in constant time (:func:`hmac.compare_digest`). Revoked and expired
    keys are refused.

    Args:
        store: A set-up store.
        cache_ttl: Seconds a successful lookup is reused without asking the store (0: never).
            A key revoked by another process keeps working here for at most this long; one
            revoked through a :class:`KeyManager` given this authenticator stops at once.
            Expiry is checked on every request.
        cache_size: Most keys cached at once (least recently used are dropped first).
        touch_interval: ``last_used_at`` is written at most once per this many seconds per key,
            not on every request.
        clock: Epoch seconds (injectable for tests).
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_ttl: float = 5.0,
        cache_size: int = 1024,
        touch_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._cache_ttl = cache_ttl
        self._cache_size = max(1, cache_size)
        self._touch_interval = touch_interval
        self._clock = clock
        self._cache: OrderedDict[str, tuple[ApiKeyRecord, float]] = OrderedDict()
        """(record, cached at) by the hash of the secret."""
        self._cached_hash: dict[str, str] = {}
        """The cache entry's hash by key id, to invalidate it."""
        self._touched: OrderedDict[str, float] = OrderedDict()
        """When this process last wrote ``last_used_at``, by key id."""

    async def authenticate(self, token: str) -> Principal | None:
        """The principal for the secret ``token``, or ``None`` if it is malformed, unknown,
        revoked or expired.

        Raises:
            StoreError: The store failed while looking the key up.
        """
        if not is_well_formed(token):
            return None
        digest = hash_secret(token)
        now = self._clock()
        record = self._cached(digest, now)
        if record is None:
            found = await self.store.get_api_key_by_prefix(token[:PREFIX_LENGTH])
            if found is None or not hmac.compare_digest(digest, found.secret_hash):
                return None
            record = found
            if record.status(now) == "active" and self._cache_ttl > 0:
                self._remember(digest, record, now)
        if record.status(now) != "active":
            self.invalidate(record.id)
            return None
        await self._touch(record, now)
        return Principal(record.id, record.name, frozenset(record.scopes), record.tenant)

    def invalidate(self, key_id: str) -> None:
        """Forget the cached lookup of key ``key_id`` (after it was revoked or changed)."""
        digest = self._cached_hash.pop(key_id, None)
        if digest is not None:
            self._cache.pop(digest, None)

    def clear(self) -> None:
        """Forget every cached lookup."""
        self._cache.clear()
        self._cached_hash.clear()

    def _cached(self, digest: str, now: float) -> ApiKeyRecord | None:
        # Keyed by the hash of the whole secret: a hit proves the token, and the dict lookup
        # reveals nothing useful about the secret itself.
        entry = self._cache.get(digest)
        if entry is None:
            return None
        record, cached_at = entry
        if not 0 <= now - cached_at < self._cache_ttl:
            self.invalidate(record.id)
            return None
        self._cache.move_to_end(digest)
        return record

    def _remember(self, digest: str, record: ApiKeyRecord, now: float) -> None:
        self.invalidate(record.id)
        self._cache[digest] = (record, now)
        self._cached_hash[record.id] = digest
        while len(self._cache) > self._cache_size:
            _, (evicted, _) = self._cache.popitem(last=False)
            self._cached_hash.pop(evicted.id, None)

    async def _touch(self, record: ApiKeyRecord, now: float) -> None:
        last = max(record.last_used_at or -math.inf, self._touched.get(record.id, -math.inf))
        if now - last < self._touch_interval:
            return
        self._touched[record.id] = now  # before awaiting: concurrent requests do not write too
        self._touched.move_to_end(record.id)
        while len(self._touched) > self._cache_size:
            self._touched.popitem(last=False)
        try:
            await self.store.update_api_key(record.id, last_used_at=now)
        except StoreError as exc:  # bookkeeping only: never fail the request for it
            log.warning("could not record the use of API key %s: %s", record.id, exc)
