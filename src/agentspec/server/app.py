"""The FastAPI application: ``create_app(project)``, its health probes, and ``app_from_env``.

Example:
    ```python
    project = agentspec.load("examples/quickstart")
    app = create_app(project, settings=ServerSettings(dev=True))
    uvicorn.run(app, host="127.0.0.1", port=8080)
    ```

Plug-ins arrive as arguments: an :class:`~agentspec.auth.base.Authenticator` (API keys), a
:class:`~agentspec.auth.ratelimit.RateLimiter` (default: in-memory token buckets), and
``extra_routers``. Every app serves the WebSocket gateway at ``/ws`` and Prometheus metrics at
``/v1/metrics`` (no key needed, like the probes: expose it only to your scraper's network), and
logs run lifecycle events; metrics and logs observe the runtime's events.

Lifespan: start-up opens the runtime's store (and, with an audit recorder, appends a
``server.started`` entry: package, IR hash, settings digest); shutdown stops accepting runs (503, and
an error frame on the gateway), gives the runs in flight (HTTP and WebSocket alike) ``settings.shutdown_grace_seconds`` to finish, cancels the rest (each still ends
its log with ``run.failed``) and closes the runtime.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from agentspec._version import __version__
from agentspec.audit.recorder import AuditRecorder
from agentspec.auth.base import Authenticator, Principal
from agentspec.auth.failures import AuthFailureLimiter
from agentspec.auth.ratelimit import RateLimiter
from agentspec.engine.run import RunHandle
from agentspec.exceptions import StoreError, UsageError
from agentspec.server import api_agents, api_pipelines, api_runs
from agentspec.server.api import ServerState, server_state
from agentspec.server.errors import error_response, error_responses, install_error_handlers
from agentspec.server.gateway import StartRun, gateway_router
from agentspec.server.middleware import install_middleware
from agentspec.server.settings import ServerSettings, parse_rate
from agentspec.telemetry.http import MetricsMiddleware, metrics_router
from agentspec.telemetry.logging import RunLogger
from agentspec.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from agentspec.engine.runtime import Runtime
    from agentspec.lang.project import Project

logger = logging.getLogger("agentspec.server")

ENV_PROJECT: Final = "AGENTSPEC_SERVE_PROJECT"
"""Project path for :func:`app_from_env` (set by ``agentspec serve --workers N``)."""
ENV_OPTIONS: Final = "AGENTSPEC_SERVE_OPTIONS"
"""JSON options for :func:`app_from_env`: ``host``, ``port``, ``dev``, ``store``, ``model``."""

DESCRIPTION: Final = """\
Invoke, stream and inspect the agents of an agentspec package.

Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`. Every error is
`{"error": code, "message": text, "details": {}}` with the status of its code, and every
response carries `X-Request-ID`.
"""

TAGS: Final = [
    {"name": "health", "description": "Liveness, readiness and startup probes."},
    {"name": "agents", "description": "List, invoke and stream agents."},
    {"name": "sessions", "description": "Conversations whose messages carry over."},
    {"name": "runs", "description": "Every run is an event log: list, inspect, follow, cancel."},
]


READY_TIMEOUT: Final = 2.0
"""Seconds the readiness probe's store query may take."""

health_router = APIRouter(tags=["health"])


class Health(BaseModel):
    """``GET /healthz``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "healthy", "uptime": "2h15m30s", "agents": 3, "version": "0.1.0"}
            ]
        }
    )

    status: Literal["healthy"]
    uptime: str
    agents: int
    version: str


class Probe(BaseModel):
    """A probe's answer when it passes (a failing probe answers 503 with the error body)."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


def uptime(seconds: float) -> str:
    """``2h15m30s`` / ``15m30s`` / ``30s``."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@health_router.get("/healthz", response_model=Health)
async def health(request: Request) -> dict[str, Any]:
    """Overall status, uptime, number of agents and version."""
    state = server_state(request)
    return {
        "status": "healthy",
        "uptime": uptime(time.monotonic() - state.started_at),
        "agents": len(state.runtime.package.agents),
        "version": __version__,
    }


@health_router.get("/healthz/live", response_model=Probe)
async def live() -> dict[str, Any]:
    """Liveness: the process answers."""
    return {"status": "alive"}


@health_router.get("/healthz/ready", response_model=Probe, responses=error_responses(503))
async def ready(request: Request) -> Any:
    """Readiness: started, not shutting down, and the store answers a cheap query."""
    state = server_state(request)
    if not state.started or not state.accepting:
        why = "starting" if not state.started else "shutting down"
        return error_response(503, f"not ready: {why}", details={"checks": {"server": why}})
    try:
        await asyncio.wait_for(state.runtime.store.get_run("run_readiness_probe"), READY_TIMEOUT)
    except Exception as exc:
        problem = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return error_response(
            503, "not ready: the store is unreachable", details={"checks": {"store": problem}}
        )
    return {"status": "ready", "checks": {"store": "ok"}}


@health_router.get("/healthz/startup", response_model=Probe, responses=error_responses(503))
async def startup(request: Request) -> Any:
    """Startup: the runtime has opened and migrated its store."""
    if not server_state(request).started:
        return error_response(503, "starting", details={"checks": {"server": "starting"}})
    return {"status": "started"}


def api_routers() -> list[APIRouter]:
    """The routers of the HTTP API (CONTRACTS.md §1, pipelines and metrics aside)."""
    return [health_router, api_agents.router, api_runs.router, api_pipelines.router]


def api_router() -> APIRouter:
    """Every endpoint of the HTTP API in one router (:func:`api_routers` combined)."""
    router = APIRouter()
    for sub in api_routers():
        router.include_router(sub)
    return router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the runtime; on shutdown drain, then cancel, the runs in flight and close it."""
    state: ServerState = app.state.server
    await state.runtime.start_up()
    if state.audit is not None:
        await record_start(state)
    state.started = True
    try:
        yield
    finally:
        state.accepting = False
        try:
            await state.runs.drain(state.settings.shutdown_grace_seconds)
        finally:
            await state.runtime.aclose()


def settings_summary(state: ServerState) -> dict[str, Any]:
    """The served configuration, as the ``server.started`` audit entry shows it (no secrets:
    the store URL's credentials are masked)."""
    runtime = state.runtime
    override = runtime.settings.model_override
    fields = dataclasses.asdict(state.settings)
    return {
        "server": json.loads(json.dumps(fields, default=str)),
        "store": _mask_url(runtime.store.url or runtime.settings.store),
        "model_override": None if override is None else override.label,
        "auth": state.settings.auth_enabled,
    }


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def record_start(state: ServerState) -> None:
    """Append ``server.started`` to the audit log: package, version, IR hash and the digest
    of the settings (so a changed configuration shows as a changed digest)."""
    from agentspec.audit.chain import digest

    assert state.audit is not None
    runtime = state.runtime
    summary = settings_summary(state)
    data = {
        "package": runtime.package.name,
        "version": runtime.package.version,
        "ir_hash": runtime.ir_hash,
        "settings_sha256": digest(summary),
        "settings": summary,
        "pid": os.getpid(),
    }
    try:
        await state.audit.record("server.started", runtime.package.name, data, actor="server")
    except StoreError as exc:
        logger.error("audit: could not record the server start: %s", exc)


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI >= 0.165 instruments every request with OpenTelemetry unless told not to; that
    costs ~0.3 ms per request even with no exporter. agentspec exports Prometheus metrics (and
    will trace runs from their events), so it is switched off where the option exists."""
    import inspect

    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def create_app(
    project: Project | None = None,
    *,
    runtime: Runtime | None = None,
    settings: ServerSettings | None = None,
    authenticator: Authenticator | None = None,
    limiter: RateLimiter | None = None,
    extra_routers: Sequence[APIRouter] = (),
    audit: AuditRecorder | None = None,
) -> FastAPI:
    """Build the HTTP application for a project (or an existing runtime).

    Args:
        project: the loaded project; its runtime is created with default settings unless
            ``runtime`` is given.
        runtime: the runtime to serve (owned by the app from now on: closed at shutdown).
        settings: server settings (default :class:`ServerSettings`).
        authenticator: resolves API keys; required unless auth is off (``settings.dev``).
        limiter: rate limiter (default: in-memory token buckets).
        extra_routers: more routes (metrics, gateway, ...), included after the API's.
        audit: records the server start (configuration), authentication failures and, if
            attached to the runtime, its runs (``agentspec serve`` passes one).

    Raises:
        ValueError: neither project nor runtime; auth on without an authenticator; dev mode on a
            non-loopback host; ``*`` CORS origins with credentials.
    """
    settings = settings or ServerSettings()
    if runtime is None:
        if project is None:
            raise ValueError("create_app needs a project or a runtime")
        runtime = project.runtime()
    if settings.dev and not settings.loopback:
        raise ValueError(
            f"dev mode turns authentication off and is only allowed on a loopback host, "
            f"not {settings.host!r}"
        )
    if settings.auth_enabled and authenticator is None:
        raise ValueError(
            "authentication is on but no authenticator was given: pass authenticator=... "
            "or turn auth off with dev mode (loopback hosts only)"
        )
    if limiter is None:
        from agentspec.auth.ratelimit_memory import MemoryRateLimiter

        limiter = MemoryRateLimiter()
    state = ServerState(runtime, settings, authenticator, limiter)
    state.audit = audit
    if settings.auth_enabled and settings.auth_failure_limit is not None:
        state.auth_failures = AuthFailureLimiter(limiter, settings.auth_failure_limit)
    runtime.add_listener(state.observer)

    app = FastAPI(
        **_no_native_telemetry(),
        title="agentspec",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.server = state
    app.state.runtime = runtime
    app.state.settings = settings
    metrics = Metrics()
    state.metrics = metrics
    app.state.metrics = metrics
    runtime.add_listener(metrics.observe)
    runtime.add_listener(RunLogger())
    install_error_handlers(app)
    install_middleware(app, settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Each router directly in the app: FastAPI matches included routers level by level, and
    # one level less costs measurably less per request.
    for router in api_routers():
        app.include_router(router)
    app.include_router(metrics_router(metrics))
    app.include_router(
        gateway_router(
            lambda: app.state.runtime,
            settings,
            authenticator,
            start=_gateway_start(state),
            failures=state.auth_failures,
            audit=state.audit,
        )
    )
    for router in extra_routers:
        app.include_router(router)
    _errors_as_json(app)
    return app


def _gateway_start(state: ServerState) -> StartRun:
    """Gateway runs go through the server: the caller's tenant, refused (with an error frame)
    while shutting down, and drained at shutdown like the HTTP API's."""

    def start(agent: str, message: str, principal: Principal, key: str) -> RunHandle:
        if not state.accepting:
            raise UsageError("the server is shutting down; retry shortly")
        return state.start_run(agent, message, principal, session_id=key)

    return start


def _errors_as_json(app: FastAPI) -> None:
    """Error bodies are JSON in the OpenAPI schema, also on routes that stream on success."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        if fresh:
            for methods in schema.get("paths", {}).values():
                for operation in methods.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        for media in [m for m in content if m != "application/json"]:
                            ref = content[media].get("schema", {}).get("$ref", "")
                            if ref.endswith("/ErrorBody"):
                                content["application/json"] = content.pop(media)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_app(project: Project, options: dict[str, Any]) -> FastAPI:
    """The app ``agentspec serve`` runs for ``project``, options as in :data:`ENV_OPTIONS`.

    API keys live in the runtime's store (``agentspec keys create``); in dev mode auth is off.

    Raises:
        UsageError: an invalid ``model`` or ``store``.
    """
    from agentspec.engine.settings import Settings
    from agentspec.models.registry import parse_model_override
    from agentspec.store import open_store

    runtime_settings = Settings()
    # a served runtime resumes the runs a dead server left running (docs/durability.md)
    runtime_settings.resume_on_start = bool(options.get("resume_on_start", True))
    if options.get("store"):
        runtime_settings.store = options["store"]
    if options.get("model"):
        runtime_settings.model_override = parse_model_override(options["model"])
    settings = ServerSettings(
        host=options.get("host", "127.0.0.1"),
        port=int(options.get("port", 8080)),
        dev=bool(options.get("dev", False)),
    )
    if "rate_limit" in options:
        settings.key_rate = parse_rate(str(options["rate_limit"]))
    if "auth_failure_limit" in options:
        settings.auth_failure_limit = parse_rate(str(options["auth_failure_limit"]))
    store = open_store(runtime_settings.store)
    authenticator: Authenticator | None = None
    if settings.auth_enabled:
        from agentspec.auth.keys import KeyAuthenticator

        authenticator = KeyAuthenticator(store)
    runtime = project.runtime(runtime_settings, store=store)
    recorder = AuditRecorder(store)
    recorder.attach(runtime)
    return create_app(
        project, runtime=runtime, settings=settings, authenticator=authenticator, audit=recorder
    )


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn agentspec.server.app:app_from_env --factory`` (one per worker).

    Reads the project path from ``$AGENTSPEC_SERVE_PROJECT`` and options from
    ``$AGENTSPEC_SERVE_OPTIONS`` (JSON).
    """
    path = os.environ.get(ENV_PROJECT)
    if not path:
        raise RuntimeError(f"${ENV_PROJECT} is not set (use 'agentspec serve')")
    from agentspec.lang.project import load

    options = json.loads(os.environ.get(ENV_OPTIONS) or "{}")
    project = load(path)
    app = build_app(project, options)
    from agentspec.telemetry.logging import configure_logging

    configure_logging(json=True, level="info", redact=app.state.runtime.secrets.redact)
    return app
