"""Pure ASGI middleware (never ``BaseHTTPMiddleware``: it buffers and breaks streaming).

From the outside in:

1. :class:`RequestContextMiddleware` -- the request id (``X-Request-ID`` accepted when it is a
   sane token of at most 128 characters, else generated; echoed on every response; readable by
   any module through :data:`request_id_var`), security headers, and headers other layers
   queue with :func:`add_response_header` (rate-limit headers).
2. Starlette's ``CORSMiddleware``, from the settings (only when origins are configured).
3. :class:`ErrorGuardMiddleware` -- an exception nobody handled becomes a 500 contract body.
4. :class:`BodyLimitMiddleware` -- 413 for a ``Content-Length`` over the limit, before reading,
   and for a chunked body that grows past it while being read.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Final

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentspec.server.errors import PayloadTooLarge, error_response
from agentspec.server.settings import ServerSettings
from agentspec.telemetry.logging import request_id_var

logger = logging.getLogger("agentspec.server")

"""The current request's id ("" outside a request). Log processors read it."""

_extra_headers: ContextVar[list[tuple[str, str]] | None] = ContextVar(
    "agentspec_response_headers", default=None
)

_SANE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")

DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

STRICT_CSP: Final = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_CSP: Final = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; "
    "worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""What Swagger UI (``/docs``) and ReDoc need: their bundles from cdn.jsdelivr.net and the
inline bootstrap script FastAPI writes into the page."""

HSTS: Final = "max-age=31536000; includeSubDomains"

CORS_ALLOW_HEADERS: Final = (
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Last-Event-ID",
    "X-Request-ID",
)
CORS_EXPOSE_HEADERS: Final = (
    "X-Request-ID",
    "X-Run-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


def add_response_header(name: str, value: str) -> None:
    """Set a header on the current request's response, whatever sends it (a route, an error).

    Outside a request (no :class:`RequestContextMiddleware` around) this does nothing.
    """
    headers = _extra_headers.get()
    if headers is not None:
        headers.append((name, value))


def valid_request_id(value: str | None) -> bool:
    """Whether a client-sent ``X-Request-ID`` is safe to echo and log."""
    return bool(value) and _SANE_ID.fullmatch(value or "") is not None


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return uuid.uuid4().hex


def _over_https(headers: Headers, scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    proto = headers.get("x-forwarded-proto", "")
    return proto.split(",")[0].strip().lower() == "https"


class RequestContextMiddleware:
    """Request id, security headers and queued headers on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id")
        request_id = incoming if incoming and valid_request_id(incoming) else new_request_id()
        extra: list[tuple[str, str]] = []
        id_token = request_id_var.set(request_id)
        headers_token = _extra_headers.set(extra)
        https = _over_https(headers, scope)
        csp = DOCS_CSP if scope.get("path") in DOCS_PATHS else STRICT_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = request_id
                out.setdefault("X-Content-Type-Options", "nosniff")
                out.setdefault("X-Frame-Options", "DENY")
                out.setdefault("Referrer-Policy", "no-referrer")
                out.setdefault("Content-Security-Policy", csp)
                if https:
                    out.setdefault("Strict-Transport-Security", HSTS)
                for name, value in extra:
                    out[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _extra_headers.reset(headers_token)
            request_id_var.reset(id_token)


class ErrorGuardMiddleware:
    """The last line: an unhandled exception becomes a 500 contract body, internals logged only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            return
        except Exception:
            logger.exception(
                "unhandled error on %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                request_id_var.get(),
            )
            if not started:
                await error_response(500, "internal error")(scope, receive, send)


class BodyLimitMiddleware:
    """413 ``payload_too_large`` for request bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except PayloadTooLarge:
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> ASGIApp:
    exc = PayloadTooLarge(limit)
    return error_response(413, exc.message, details=exc.details, headers={"Connection": "close"})


def check_cors(settings: ServerSettings) -> None:
    """Refuse CORS settings browsers would reject or that would be unsafe.

    Raises:
        ValueError: ``*`` together with credentials, or an origin that is not
            ``scheme://host[:port]``.
    """
    origins = settings.cors_origins
    if "*" in origins and settings.cors_credentials:
        raise ValueError(
            "CORS: allowing any origin ('*') together with credentials is refused; "
            "list the allowed origins explicitly (e.g. https://app.example.com)"
        )
    for origin in origins:
        if origin == "*":
            continue
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ValueError(
                f"CORS: origin {origin!r} must look like https://host[:port] "
                "(no path, no trailing slash)"
            )


def install_middleware(app: FastAPI, settings: ServerSettings) -> None:
    """Add the middleware stack to ``app`` (see the module docstring for the order).

    Raises:
        ValueError: invalid CORS settings (see :func:`check_cors`).
    """
    check_cors(settings)
    # add_middleware puts each new layer outside the previous ones.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ErrorGuardMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=settings.cors_credentials,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=list(CORS_ALLOW_HEADERS),
            expose_headers=list(CORS_EXPOSE_HEADERS),
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
