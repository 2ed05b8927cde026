"""What the server needs from auth: who is calling (a :class:`Principal`) and what they may do.

Scopes:

- ``agents:invoke`` -- invoke and stream agents, run pipelines
- ``sessions:write`` -- create, continue and delete sessions
- ``runs:read`` -- list and inspect runs and their events (and cancel one's own)
- ``keys:admin`` -- create, list, revoke and rotate API keys

A key created with ``--scope admin`` gets every scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

SCOPE_INVOKE = "agents:invoke"
SCOPE_SESSIONS = "sessions:write"
SCOPE_RUNS = "runs:read"
SCOPE_ADMIN = "keys:admin"
ALL_SCOPES: frozenset[str] = frozenset({SCOPE_INVOKE, SCOPE_SESSIONS, SCOPE_RUNS, SCOPE_ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``key_id`` is the key's public id (never the secret)."""

    key_id: str
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    tenant: str = "default"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


DEV_PRINCIPAL = Principal("dev", "dev mode (auth off)", ALL_SCOPES)
"""Used for every request when auth is off (``agentspec serve --dev``)."""


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The principal for an API key, or ``None`` if the key is unknown or revoked."""
        ...
