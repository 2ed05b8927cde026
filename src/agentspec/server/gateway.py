"""The WebSocket JSON-RPC gateway at ``/ws`` (``CONTRACTS.md`` §2).

A connection goes: (on a non-loopback bind) the ``{"token": ...}`` frame, the hello frame
``{"ok": true, "version": ...}``, then requests ``{"id", "method", "params"?}`` answered by
``{"id", "result", "error"}`` replies, or, for ``chat.send``, by a stream of
``{"id", "event", "data"}`` frames that always ends with ``{"id", "event": "done"}``.

``chat.send`` routes the message with the package's bindings
(:func:`agentspec.engine.routing.resolve`) and runs the agent in the session
``{agent}:{channel}:{account}:{peer}``. Several ``chat.send`` may be in flight on one
connection; the runtime runs the messages of one session one at a time in arrival order,
and different sessions concurrently. When the client goes away its streams stop, and its
runs go on (or are cancelled, with ``ServerSettings.cancel_on_disconnect``).

Methods: ``ping``, ``status``, ``plugin.list``, ``chat.send``, ``chat.history``,
``session.list``, ``session.clear``.

Usage:
    ```python
    app.include_router(gateway_router(lambda: app.state.runtime, settings, authenticator))
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agentspec._version import __version__
from agentspec.audit.recorder import AuditRecorder
from agentspec.auth.base import (
    ALL_SCOPES,
    DEV_PRINCIPAL,
    SCOPE_INVOKE,
    SCOPE_SESSIONS,
    Authenticator,
    Principal,
)
from agentspec.auth.failures import AuthFailureLimiter
from agentspec.engine.routing import resolve, session_key
from agentspec.engine.run import RunHandle
from agentspec.engine.runtime import Runtime
from agentspec.exceptions import AgentspecError, UsageError
from agentspec.ir.suggest import suggest
from agentspec.server.api import record_auth_failure
from agentspec.server.gateway_frames import (
    Conversation,
    Frame,
    FrameError,
    Request,
    RequestId,
    StreamEncoder,
    conversation,
    decode_frame,
    parse_frame,
    reply,
    text_param,
)
from agentspec.server.gateway_sessions import SessionTable
from agentspec.server.settings import ServerSettings

log = logging.getLogger("agentspec.server.gateway")

AUTH_FAILED = {"error": "auth_failed", "code": 4001}
AUTH_CLOSE_CODE = 4001
AUTH_TIMEOUT = 10.0
"""Seconds a client on a non-loopback bind has to send its token frame."""
LOOPBACK_PRINCIPAL = Principal("loopback", "loopback client", ALL_SCOPES)
"""The caller on a loopback bind, where the contract asks for no token."""


class Gateway:
    """The ``/ws`` endpoint: one per app, shared by every connection."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        settings: ServerSettings,
        authenticator: Authenticator | None = None,
        *,
        auth_timeout: float = AUTH_TIMEOUT,
        start: StartRun | None = None,
        failures: AuthFailureLimiter | None = None,
        audit: AuditRecorder | None = None,
    ) -> None:
        """Args:
        runtime: returns the current runtime (called per request, so it may be swapped).
        start: starts a run for a caller (the server's, which records the caller's tenant,
            refuses runs while shutting down and drains them at shutdown); default: start
            it on the runtime in the caller's tenant.
        failures: limits failed token frames per client address, like the HTTP API's
            (a blocked address gets ``auth_failed`` without its token being checked).
        audit: records failed token frames (``auth.failed``, path ``/ws``).
        settings: ``host`` decides whether a token frame is required; ``auth_enabled``
            whether the token is checked; ``max_body_bytes`` caps a frame.
        authenticator: checks the token; without one, a required token always fails.
        auth_timeout: seconds to wait for the token frame.
        """
        self.runtime = runtime
        self.settings = settings
        self.authenticator = authenticator
        self.auth_timeout = auth_timeout
        self.sessions = SessionTable()
        self.start = start or self._start
        self.failures = failures
        self.audit = audit

    def _start(self, agent: str, message: str, principal: Principal, key: str) -> RunHandle:
        return self.runtime().start(agent, message, session_id=key, tenant=principal.tenant)

    async def serve(self, websocket: WebSocket) -> None:
        """Handle one WebSocket connection until the client leaves."""
        await websocket.accept()
        principal = await self._authenticate(websocket)
        if principal is None:
            return
        connection = _Connection(self, websocket, principal)
        try:
            await connection.send({"ok": True, "version": __version__})
            await connection.run()
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away
        finally:
            await connection.close()

    async def _authenticate(self, websocket: WebSocket) -> Principal | None:
        if self.settings.loopback:
            return LOOPBACK_PRINCIPAL
        try:
            async with asyncio.timeout(self.auth_timeout):
                message = await websocket.receive()
        except TimeoutError:
            message = {"type": "websocket.receive"}
        if message["type"] == "websocket.disconnect":
            return None
        try:
            token = decode_frame(message, self.settings.max_body_bytes).get("token")
        except FrameError:
            token = None
        principal: Principal | None = None
        address = websocket.client.host if websocket.client is not None else "unknown"
        blocked = self.failures is not None and self.failures.blocked(address) > 0
        if isinstance(token, str) and token and not blocked:
            principal = await self._check(token)
        if principal is None and not blocked and self.settings.auth_enabled:
            await self._failed(address, token if isinstance(token, str) else None)
        if principal is None:
            with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
                await websocket.send_json(AUTH_FAILED)
                await websocket.close(code=AUTH_CLOSE_CODE, reason="auth_failed")
        return principal

    async def _failed(self, address: str, token: str | None) -> None:
        reason = "invalid or revoked API key" if token else "missing or malformed token frame"
        await record_auth_failure(self.audit, address, "WEBSOCKET", "/ws", token, reason)
        if self.failures is not None:
            await self.failures.failed(address)

    async def _check(self, token: str) -> Principal | None:
        if not self.settings.auth_enabled:
            return DEV_PRINCIPAL
        if self.authenticator is None:
            return None
        try:
            return await self.authenticator.authenticate(token)
        except Exception:
            log.exception("the authenticator failed; refusing the connection")
            return None


Method = Callable[["_Connection", dict[str, Any]], Awaitable[Any]]
StartRun = Callable[[str, str, Principal, str], RunHandle]
"""``start(agent, message, principal, session_key)``: how the gateway starts a run."""


class _Connection:
    """One client: reads frames in order, answers them, owns its ``chat.send`` streams."""

    def __init__(self, gateway: Gateway, websocket: WebSocket, principal: Principal) -> None:
        self.gateway = gateway
        self.websocket = websocket
        self.principal = principal
        self._send_lock = asyncio.Lock()
        self._streams: dict[RequestId, tuple[asyncio.Task[None], RunHandle]] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        """The latest stream of each session: the next one starts sending when it ends."""

    async def send(self, frame: Frame) -> None:
        async with self._send_lock:
            await self.websocket.send_json(frame)

    async def run(self) -> None:
        limit = self.gateway.settings.max_body_bytes
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            request = parse_frame(message, limit)
            if isinstance(request, Request):
                await self.handle(request)
            else:
                await self.send(request)

    async def handle(self, request: Request) -> None:
        if request.method == "chat.send":
            await self.chat_send(request)
            return
        method = METHODS.get(request.method)
        if method is None:
            hint = suggest(request.method, [*METHODS, "chat.send"], close_only=True)
            text = f'unknown method "{request.method}"' + (f" ({hint})" if hint else "")
            await self.send(reply(request.id, error=text))
            return
        try:
            result = await method(self, request.params)
        except AgentspecError as exc:
            await self.send(reply(request.id, error=str(exc)))
        except Exception:
            log.exception("gateway method %s failed", request.method)
            await self.send(reply(request.id, error="internal error"))
        else:
            await self.send(reply(request.id, result))

    def require(self, scope: str) -> None:
        if not self.principal.allows(scope):
            raise UsageError(f"forbidden: the API key lacks the {scope} scope")

    async def chat_send(self, request: Request) -> None:
        """Route and start the run now (so arrival order is kept), then stream it in a task."""
        if request.id in self._streams:
            message = f'request "{request.id}" is already in flight; use a new id'
            await self.send(reply(request.id, error=message))
            return
        try:
            self.require(SCOPE_INVOKE)
            where = conversation(request.params)
            content = text_param(request.params, "content")
            runtime = self.gateway.runtime()
            agent, key = route(runtime, where)
            handle = self.gateway.start(agent, content, self.principal, key)
        except Exception as exc:
            if not isinstance(exc, AgentspecError):
                log.exception("chat.send could not start a run")
            text = str(exc) if isinstance(exc, AgentspecError) else "internal error"
            for frame in StreamEncoder(request.id).finish(text):
                await self.send(frame)
            return
        sessions = self.gateway.sessions
        sessions.begin(key, agent, where)
        if handle.task is not None:
            handle.task.add_done_callback(lambda _: sessions.end(key))
        previous = self._tails.get(key)
        task = asyncio.create_task(self._stream(request.id, handle, key, previous))
        self._streams[request.id] = (task, handle)
        self._tails[key] = task

    async def _stream(
        self,
        request_id: RequestId,
        handle: RunHandle,
        key: str,
        previous: asyncio.Task[None] | None,
    ) -> None:
        """Send a run's frames; those of a session's earlier message (its run ran first)
        are all sent before, so a client sees its ``done`` before the next answer starts."""
        encoder = StreamEncoder(request_id)
        try:
            if previous is not None:
                await asyncio.wait({previous})
            async for event in handle:
                for frame in encoder.feed(event):
                    await self.send(frame)
            if not encoder.done:
                for frame in encoder.finish(await _failure(handle)):
                    await self.send(frame)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away; the run goes on
        except Exception:
            log.exception("streaming run %s failed", handle.run_id)
        finally:
            self._streams.pop(request_id, None)
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def close(self) -> None:
        """Stop this connection's streams (and their runs, if the settings say so)."""
        cancel_runs = self.gateway.settings.cancel_on_disconnect
        streams = list(self._streams.values())
        for task, handle in streams:
            task.cancel()
            if cancel_runs:
                handle.cancel()
        for task, _ in streams:
            with contextlib.suppress(BaseException):
                await task


async def _failure(handle: RunHandle) -> str:
    """Why a run's events ended without ``run.completed`` / ``run.failed``."""
    try:
        result = await handle.result()
    except AgentspecError as exc:
        return str(exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("run %s failed outside its event log", handle.run_id)
        return "internal error"
    return result.error_message or result.error or "the run ended without a result"


# ------------------------------------------------------------------------ methods


async def _ping(connection: _Connection, params: dict[str, Any]) -> Any:
    return "pong"


async def _status(connection: _Connection, params: dict[str, Any]) -> Any:
    return {"version": __version__, "plugins": [], "sessions": len(connection.gateway.sessions)}


async def _plugin_list(connection: _Connection, params: dict[str, Any]) -> Any:
    return []


async def _session_list(connection: _Connection, params: dict[str, Any]) -> Any:
    connection.require(SCOPE_SESSIONS)
    return connection.gateway.sessions.listing()


def route(runtime: Runtime, where: Conversation) -> tuple[str, str]:
    """``(agent, session key)`` for a conversation, by the runtime package's bindings."""
    bindings = runtime.package.bindings
    agent = resolve(bindings, where.channel, where.account, where.peer, where.guild, where.team)
    return agent.agent, session_key(agent.agent, where.channel, where.account, where.peer)


async def _chat_history(connection: _Connection, params: dict[str, Any]) -> Any:
    connection.require(SCOPE_SESSIONS)
    runtime = connection.gateway.runtime()
    _, key = route(runtime, conversation(params))
    if not await _own_session(connection, runtime, key):
        return []
    return [message.to_dict() for message in await runtime.session_messages(key)]


async def _own_session(connection: _Connection, runtime: Runtime, key: str) -> bool:
    """Whether the session ``key`` does not exist or belongs to the caller's tenant."""
    record = await runtime.get_session(key)
    return record is None or record.tenant == connection.principal.tenant


async def _session_clear(connection: _Connection, params: dict[str, Any]) -> Any:
    """Delete the conversation's routed session and any other this gateway saw for it."""
    connection.require(SCOPE_SESSIONS)
    where = conversation(params)
    runtime = connection.gateway.runtime()
    table = connection.gateway.sessions
    keys = {s.key for s in table.find(where.channel, where.account, where.peer)}
    try:
        keys.add(route(runtime, where)[1])
    except UsageError:
        if not keys:
            raise
    keys = {key for key in keys if await _own_session(connection, runtime, key)}
    for key in sorted(keys):
        info = table.get(key)
        if info is not None and info.in_flight:
            raise UsageError(f"session {key} is busy: a message is being processed")
    cleared = []
    for key in sorted(keys):
        existed = await runtime.delete_session(key)
        if existed or table.get(key) is not None:
            cleared.append(key)
        table.drop(key)
    return {"cleared": cleared}


METHODS: dict[str, Method] = {
    "ping": _ping,
    "status": _status,
    "plugin.list": _plugin_list,
    "chat.history": _chat_history,
    "session.list": _session_list,
    "session.clear": _session_clear,
}
"""The non-streaming methods; ``chat.send`` streams and is handled apart."""


def gateway_router(
    runtime: Callable[[], Runtime],
    settings: ServerSettings,
    authenticator: Authenticator | None = None,
    *,
    path: str = "/ws",
    auth_timeout: float = AUTH_TIMEOUT,
    start: StartRun | None = None,
    failures: AuthFailureLimiter | None = None,
    audit: AuditRecorder | None = None,
) -> APIRouter:
    """An ``APIRouter`` serving the gateway at ``path`` (see :class:`Gateway` for the args)."""
    gateway = Gateway(
        runtime,
        settings,
        authenticator,
        auth_timeout=auth_timeout,
        start=start,
        failures=failures,
        audit=audit,
    )
    router = APIRouter()
    router.add_api_websocket_route(path, gateway.serve, name="gateway")
    return router
