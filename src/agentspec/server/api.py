"""What the HTTP endpoints share: server state, request bodies, auth and rate-limit dependencies.

The endpoints live in :mod:`agentspec.server.api_agents` (health, agents, sessions) and
:mod:`agentspec.server.api_runs` (stored and live runs);
:func:`agentspec.server.app.api_router` combines them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from agentspec.audit.recorder import AuditRecorder
from agentspec.auth.base import DEV_PRINCIPAL, Authenticator, Principal
from agentspec.auth.failures import AuthFailureLimiter
from agentspec.auth.keys import PREFIX_LENGTH, is_well_formed
from agentspec.auth.ratelimit import RateDecision, RateLimiter
from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.run import RunHandle
from agentspec.engine.runtime import Runtime
from agentspec.exceptions import StoreError
from agentspec.ir.suggest import suggest
from agentspec.server.errors import ApiError
from agentspec.server.middleware import add_response_header
from agentspec.server.settings import ServerSettings

logger = logging.getLogger("agentspec.server")

MAX_TOKEN_LENGTH: Final = 512
ACTIVE_SESSION_SECONDS: Final = 1800.0
"""A session counts as active in ``GET /v1/agents`` for this long after its last use."""
KEEP_FINISHED_SECONDS: Final = 2.0
"""How long the in-memory log of a finished run stays: its store writes land well before (a
run awaits them before it returns), and a follower that misses it polls the store anyway."""


def iso(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC (``2025-01-31T12:00:00.123Z``)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------- state


class RunObserver:
    """A runtime listener: per-agent counters, and the live log of every run in progress.

    Live logs let ``GET /v1/runs/{id}/events`` follow a run that is still running, without
    waiting for the store: a subscriber gets the log so far and then every new event, with no
    gap (both happen synchronously on the event loop).
    """

    def __init__(self) -> None:
        self.invocations: Counter[str] = Counter()
        self._sessions: dict[str, tuple[str, float]] = {}
        self._live: dict[str, list[Event]] = {}
        self._subscribers: dict[str, list[asyncio.Queue[Event]]] = {}
        self._tenants: dict[str, str] = {}
        """The tenant of each run started through this server, while its live log is kept."""

    def __call__(self, event: Event) -> None:
        try:
            if event.type == ev.RUN_STARTED:
                agent = event.data.get("agent", "")
                self.invocations[agent] += 1
                if event.data.get("session_id"):
                    self.touch_session(event.data["session_id"], agent)
                self._live[event.run_id] = []
            log = self._live.get(event.run_id)
            if log is None:
                return
            log.append(event)
            for queue in self._subscribers.get(event.run_id, ()):
                queue.put_nowait(event)
            if event.type in ev.TERMINAL:
                asyncio.get_running_loop().call_later(
                    KEEP_FINISHED_SECONDS, self._expire, event.run_id
                )
        except Exception:  # an observer must never break a run
            logger.exception("run observer failed on %s", event.type)

    def live(self, run_id: str, tenant: str | None = None) -> list[Event] | None:
        """A copy of the in-memory log of a run of this process (recent ones only); with
        ``tenant``, only if the run belongs to it."""
        log = self._live.get(run_id)
        if log is None or (tenant is not None and self.tenant(run_id) != tenant):
            return None
        return list(log)

    def own(self, run_id: str, tenant: str) -> None:
        """Record the tenant of a run this server starts (before its first event)."""
        self._tenants[run_id] = tenant

    def disown(self, run_id: str) -> None:
        """The run's task ended: forget its tenant now if it has no live log (else when the
        live log expires)."""
        if run_id not in self._live:
            self._tenants.pop(run_id, None)

    def _expire(self, run_id: str) -> None:
        self._live.pop(run_id, None)
        self._tenants.pop(run_id, None)

    def tenant(self, run_id: str) -> str:
        """The tenant of a live run (``default`` for runs not started through the server)."""
        return self._tenants.get(run_id, "default")

    def subscribe(
        self, run_id: str, tenant: str | None = None
    ) -> tuple[list[Event], asyncio.Queue[Event]] | None:
        """The log so far and a queue of the events to come, or ``None`` if not live here
        (or, with ``tenant``, not that tenant's)."""
        log = self._live.get(run_id)
        if log is None or (tenant is not None and self.tenant(run_id) != tenant):
            return None
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(run_id, []).append(queue)
        return list(log), queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event]) -> None:
        """Stop delivering events of ``run_id`` to ``queue``."""
        queues = self._subscribers.get(run_id)
        if queues is not None:
            with contextlib.suppress(ValueError):
                queues.remove(queue)
            if not queues:
                del self._subscribers[run_id]

    def touch_session(self, session_id: str, agent: str) -> None:
        """Record that ``session_id`` (of ``agent``) was just used."""
        self._sessions[session_id] = (agent, time.monotonic())

    def drop_session(self, session_id: str) -> None:
        """Forget a deleted session."""
        self._sessions.pop(session_id, None)

    def active_sessions(self) -> Counter[str]:
        """Sessions used in the last :data:`ACTIVE_SESSION_SECONDS`, by agent."""
        horizon = time.monotonic() - ACTIVE_SESSION_SECONDS
        for session_id in [s for s, (_, seen) in self._sessions.items() if seen < horizon]:
            del self._sessions[session_id]
        return Counter(agent for agent, _ in self._sessions.values())


class RunTracker:
    """Runs started through the API: who started them, and draining them at shutdown."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[RunHandle, str]] = {}

    def add(self, handle: RunHandle, owner: str) -> None:
        """Track a started run until its task ends; ``owner`` is the starting key's id."""
        assert handle.task is not None
        run_id = handle.run_id
        self._runs[run_id] = (handle, owner)
        handle.task.add_done_callback(lambda _: self._runs.pop(run_id, None))

    def get(self, run_id: str) -> tuple[RunHandle, str] | None:
        """The handle and owner of a run in flight, if this process started it."""
        return self._runs.get(run_id)

    def __len__(self) -> int:
        return len(self._runs)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the runs in flight, then cancel the rest.

        A cancelled run still ends its log with ``run.failed`` (``cancelled``).
        """
        tasks = [handle.task for handle, _ in self._runs.values() if handle.task is not None]
        if not tasks:
            return
        logger.info("waiting up to %gs for %d run(s) in flight", grace, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, grace))
        if pending:
            logger.warning("cancelling %d run(s) still in flight after %gs", len(pending), grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


@dataclass(slots=True)
class ServerState:
    """Everything the endpoints need, on ``app.state.server``."""

    runtime: Runtime
    settings: ServerSettings
    authenticator: Authenticator | None
    limiter: RateLimiter
    observer: RunObserver = field(default_factory=RunObserver)
    runs: RunTracker = field(default_factory=RunTracker)
    started_at: float = field(default_factory=time.monotonic)
    started: bool = False
    accepting: bool = True
    metrics: Any = None
    """The app's :class:`~agentspec.telemetry.metrics.Metrics` (set by ``create_app``)."""
    auth_failures: AuthFailureLimiter | None = None
    """Blocks addresses that fail authentication too often (``None``: no limit)."""
    audit: AuditRecorder | None = None
    """Records authentication failures (``None``: not recorded)."""

    def start_run(
        self,
        agent: str,
        message: str,
        principal: Principal,
        *,
        session_id: str | None = None,
        variables: dict[str, str] | None = None,
    ) -> RunHandle:
        """Start a run in the background (it outlives the request) and track it.

        The run belongs to the caller's tenant; it is drained at shutdown.

        Raises:
            ApiError: 503 when the server is shutting down.
        """
        if not self.accepting:
            raise ApiError(503, "the server is shutting down", headers={"Retry-After": "5"})
        tenant = principal.tenant
        handle = self.runtime.start(
            agent, message, session_id=session_id, variables=variables, tenant=tenant
        )
        observer = self.observer
        observer.own(handle.run_id, tenant)
        self.runs.add(handle, principal.key_id)
        assert handle.task is not None
        handle.task.add_done_callback(lambda _: observer.disown(handle.run_id))
        return handle


def server_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    state: ServerState = request.app.state.server
    return state


# ---------------------------------------------------------------------------- request bodies

_SESSION_ID = Field(
    default=None,
    min_length=1,
    max_length=256,
    pattern=r"^[^\x00-\x1f\x7f]+$",
    description="Continue (or start) this session; omit for a stateless run.",
)


class InvokeRequest(BaseModel):
    """Body of ``POST /v1/agents/{name}/invoke`` and ``/stream``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "What is 12 + 30?"},
                {"message": "And times 2?", "variables": {"user": "Ada"}, "session_id": "sess_1"},
            ]
        },
    )

    message: str = Field(min_length=1, description="The user's message.")
    variables: dict[str, str] | None = Field(default=None, description="Prompt variables.")
    session_id: str | None = _SESSION_ID


class SessionMessageRequest(BaseModel):
    """Body of ``POST /v1/agents/{name}/sessions/{id}``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "What did I just ask?"}]}
    )

    message: str = Field(min_length=1, description="The user's message.")
    variables: dict[str, str] | None = Field(default=None, description="Prompt variables.")


class CreateSessionRequest(BaseModel):
    """Body of ``POST /v1/agents/{name}/sessions`` (optional)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"metadata": {"user": "u-42"}}]}
    )

    metadata: dict[str, Any] | None = Field(default=None, description="Stored with the session.")


async def require_json(request: Request) -> None:
    """400 unless a request with a body declares ``Content-Type: application/json``."""
    headers = request.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    ctype = headers.get("content-type")
    if not has_body and ctype is None:
        return
    mime = (ctype or "").split(";")[0].strip().lower()
    if mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        return
    problem = f"expected application/json, got {ctype!r}" if ctype else "missing"
    raise ApiError(
        400,
        f"the request body must be JSON with Content-Type: application/json ({problem})",
        details={"errors": [{"field": "header.content-type", "problem": problem}]},
    )


# ---------------------------------------------------------------------------- auth, rate limits


def _token(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorized("unsupported Authorization header: use 'Bearer <key>'")
        return credentials.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="agentspec"'})


async def authenticate(request: Request) -> Principal:
    """The caller: :data:`DEV_PRINCIPAL` when auth is off, else the owner of the API key.

    A client address that failed too often (``settings.auth_failure_limit``) is refused before
    its key is looked at. Every failure is written to the audit log (``auth.failed``, with
    the key's public prefix at most, never the secret).

    Raises:
        ApiError: 401 ``unauthorized`` for a missing, malformed, unknown or revoked key; 429
            ``rate_limited`` (with ``Retry-After``) for an address that failed too often.
    """
    state = server_state(request)
    if not state.settings.auth_enabled:
        return DEV_PRINCIPAL
    failures = state.auth_failures
    address = request.client.host if request.client is not None else "unknown"
    if failures is not None:
        wait = failures.blocked(address)
        if wait:
            raise _too_many_failures(state, wait)
    token: str | None = None
    try:
        token = _token(request)
        if token is None:
            raise _unauthorized(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'"
            )
        principal = None
        if len(token) <= MAX_TOKEN_LENGTH and state.authenticator is not None:
            principal = await state.authenticator.authenticate(token)
        if principal is None:
            raise _unauthorized("invalid or revoked API key")
        return principal
    except ApiError as exc:
        if exc.status_code != 401:
            raise
        await _audit_auth_failure(state, request, address, token, exc.message)
        if failures is not None:
            wait = await failures.failed(address)
            if wait:
                raise _too_many_failures(state, wait) from None
        raise


def _too_many_failures(state: ServerState, wait: float) -> ApiError:
    if state.metrics is not None:
        state.metrics.rate_limited("auth_failures")
    retry_after = max(1, math.ceil(wait))
    return ApiError(
        429,
        f"too many failed authentication attempts from this address; retry in {retry_after}s",
        details={"scope": "auth_failures", "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


async def _audit_auth_failure(
    state: ServerState, request: Request, address: str, token: str | None, reason: str
) -> None:
    await record_auth_failure(state.audit, address, request.method, request.url.path, token, reason)


async def record_auth_failure(
    recorder: AuditRecorder | None,
    address: str,
    method: str,
    path: str,
    token: str | None,
    reason: str,
) -> None:
    """Append an ``auth.failed`` entry: address, method, route, reason and, for a token shaped
    like one of our keys, its public prefix (never more of the secret). Never raises for a
    store failure (logged): a refused request must not become a 500."""
    if recorder is None:
        return
    prefix = token[:PREFIX_LENGTH] if token is not None and is_well_formed(token) else ""
    data = {
        "address": address,
        "method": method,
        "path": path,
        "reason": reason,
        "key_prefix": prefix,
    }
    try:
        await recorder.record("auth.failed", prefix or address, data, actor="ip:" + address)
    except StoreError as exc:
        logger.error("audit: could not record an authentication failure: %s", exc)


def _rate_headers(decision: RateDecision) -> None:
    reset = decision.reset_after if math.isfinite(decision.reset_after) else 86400.0
    add_response_header("X-RateLimit-Limit", str(decision.limit))
    add_response_header("X-RateLimit-Remaining", str(max(0, decision.remaining)))
    add_response_header("X-RateLimit-Reset", str(math.ceil(reset)))


async def _limit(state: ServerState, principal: Principal, agent: str | None) -> None:
    settings, limiter = state.settings, state.limiter
    checks = [("key", "key:" + principal.key_id, settings.key_rate)]
    if agent is not None:
        checks.append(("agent", "agent:" + agent, settings.agent_rate))
    shown: RateDecision | None = None
    for scope, key, limit in checks:
        if limit is None:
            continue
        decision = await limiter.hit(key, limit)
        if shown is None or not decision.allowed or decision.remaining < shown.remaining:
            shown = decision
        if not decision.allowed:
            if state.metrics is not None:
                state.metrics.rate_limited(scope)
            _rate_headers(decision)
            wait = decision.retry_after if math.isfinite(decision.retry_after) else 86400.0
            retry_after = max(1, math.ceil(wait))
            what = "this API key" if scope == "key" else f'agent "{agent}"'
            raise ApiError(
                429,
                f"rate limit exceeded for {what}; retry in {retry_after}s",
                details={"scope": scope, "retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )
    if shown is not None:
        _rate_headers(shown)


def unknown_agent(state: ServerState, name: str) -> ApiError:
    """404 ``not_found`` for an agent name, with a "did you mean" hint."""
    hint = suggest(name, state.runtime.package.agents)
    return ApiError(404, f'unknown agent "{name}"' + (f" ({hint})" if hint else ""))


Guard = Callable[[Request], Awaitable[Principal]]


def guard(scope: str | None = None, *, agent: bool = False) -> Guard:
    """A dependency: authenticate, check ``scope``, check the agent exists, apply rate limits.

    Rate limits: the caller's key bucket (``settings.key_rate``) and, for agent routes, the
    agent's bucket (``settings.agent_rate``). ``X-RateLimit-*`` headers go on the response
    (the most constrained bucket); 429 ``rate_limited`` with ``Retry-After`` when empty.
    """

    async def dependency(request: Request) -> Principal:
        state = server_state(request)
        principal = await authenticate(request)
        if scope is not None and not principal.allows(scope):
            raise ApiError(
                403,
                f"this API key lacks the {scope!r} scope",
                details={"required_scope": scope},
            )
        name: str | None = None
        if agent:
            name = request.path_params["name"]
            if name not in state.runtime.package.agents:
                raise unknown_agent(state, name)
        await _limit(state, principal, name)
        return principal

    return dependency
