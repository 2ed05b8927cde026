"""HTTP metrics: an ASGI middleware that times requests, and the ``GET /v1/metrics`` route.

Usage:
    ```python
    metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)   # outermost: sees every request
    app.include_router(metrics_router(metrics))
    ```
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentspec.telemetry.metrics import UNMATCHED_ROUTE, Metrics

CLIENT_CLOSED: int = 499
"""Status recorded when the client went away before any response was started."""


class MetricsMiddleware:
    """Pure ASGI middleware recording ``agentspec_http_requests_total`` and the duration histogram.

    The ``route`` label is the matched route's *template* (``/v1/agents/{name}/invoke``), read
    from ``scope["route"]`` after Starlette's router has run; requests that matched no route are
    ``<unmatched>``. Duration runs until the application returns, i.e. until the last body chunk
    of a streaming response was sent (or the client disconnected). Only ``http`` scopes are
    measured; WebSocket and lifespan scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            if status == 0:
                status = CLIENT_CLOSED
            self.metrics.http_request(
                str(scope.get("method", "")),
                route_template(scope, root_path),
                status,
                time.perf_counter() - started,
            )


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that handled ``scope`` (``<unmatched>`` if none did).

    ``root_path`` is the scope's root path before routing: what mounts added to it since is the
    mount prefix, so a route inside a mounted router is labelled with its full template
    (``/sub/items/{item_id}``) and a mounted plain ASGI app with ``/prefix/{path}``. A mount
    prefix holding path parameters would be a raw path, so it is left out (bounded labels).
    """
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    now = str(scope.get("root_path", ""))
    prefix = now[len(root_path) :] if now.startswith(root_path) else ""
    mount = isinstance(route, Mount)
    own_params = set() if mount else set(getattr(route, "param_convertors", None) or ())
    if set(scope.get("path_params") or ()) - own_params:
        prefix = ""  # a parameterised mount: its matched prefix is not a template
    if isinstance(path, str) and not mount:
        return prefix + path
    if prefix:
        return prefix + "/{path}"  # a mount whose app is not a router
    if isinstance(path, str):
        return path + "/{path}"
    return UNMATCHED_ROUTE


def metrics_router(metrics: Metrics) -> APIRouter:
    """A router serving ``GET /v1/metrics`` in Prometheus text format (OpenMetrics on request).

    It has no authentication of its own: protect it with
    ``app.include_router(metrics_router(m), dependencies=[...])`` where needed.
    """
    router = APIRouter(tags=["observability"])

    @router.get(
        "/v1/metrics",
        response_class=Response,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
    )
    async def get_metrics(request: Request) -> Response:
        payload, content_type = metrics.render(request.headers.get("accept", ""))
        return Response(content=payload, media_type=content_type)

    return router
