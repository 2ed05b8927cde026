"""The metrics middleware and route, served by a real uvicorn server on a random port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from agentspec.telemetry.http import MetricsMiddleware, metrics_router
from agentspec.telemetry.metrics import Metrics

STREAM_PAUSE = 0.1
STREAM_CHUNKS = 4


def build_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/agents/{name}")
    async def get_agent(name: str) -> dict[str, str]:
        if name == "missing":
            raise HTTPException(404, "no such agent")
        return {"name": name}

    @app.get("/v1/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(STREAM_CHUNKS):
                await asyncio.sleep(STREAM_PAUSE)
                yield f"chunk {i}\n".encode()

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/v1/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("raw")(scope, receive, send)

    app.mount("/sub", Starlette(routes=[Route("/items/{item_id}", item)]))
    app.mount("/raw", raw)
    app.mount("/t/{tenant}", Starlette(routes=[Route("/items/{item_id}", item)]))
    app.include_router(metrics_router(metrics))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Metrics]]:
    metrics = Metrics()
    config = uvicorn.Config(build_app(metrics), log_config=None, lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", metrics
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/v1/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def eventually(client: httpx.Client, check: Callable[[dict], bool]) -> dict:
    """Scrape until ``check`` holds: a request is recorded just after its last byte is sent."""
    deadline = time.monotonic() + 5
    while True:
        found = scrape(client)
        if check(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def requests(method: str, route: str, status: int) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {"method": method, "route": route, "status": str(status)}
    return ("agentspec_http_requests_total", frozenset(labels.items()))


def duration(suffix: str, method: str, route: str, **extra: str) -> tuple[str, frozenset]:
    labels = {"method": method, "route": route, **extra}
    return (f"agentspec_http_request_duration_seconds_{suffix}", frozenset(labels.items()))


def test_routes_are_labelled_by_template(served: tuple[str, Metrics]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        assert client.get("/v1/agents/alpha").status_code == 200
        assert client.get("/v1/agents/beta").status_code == 200
        assert client.get("/v1/agents/missing").status_code == 404
        assert client.post("/v1/agents/alpha").status_code == 405
        assert client.get("/sub/items/42").text == "42"
        assert client.get("/raw/any/thing").text == "raw"
        assert client.get("/t/acme/items/7").text == "7"
        found = eventually(client, lambda m: m.get(requests("GET", "/sub/items/{item_id}", 200)))
    assert found[requests("GET", "/v1/agents/{name}", 200)] == 2.0
    assert found[requests("GET", "/v1/agents/{name}", 404)] == 1.0
    assert found[requests("POST", "/v1/agents/{name}", 405)] == 1.0
    assert found[requests("GET", "/sub/items/{item_id}", 200)] == 1.0
    assert found[requests("GET", "/raw/{path}", 200)] == 1.0
    assert found[requests("GET", "/items/{item_id}", 200)] == 1.0  # never "/t/acme/..."
    assert found[duration("count", "GET", "/v1/agents/{name}")] == 3.0
    routes = {dict(labels).get("route") for _, labels in found}
    assert not any(r and ("alpha" in r or "42" in r or "acme" in r) for r in routes)


def test_unmatched_and_failing_requests(served: tuple[str, Metrics]) -> None:
    url, _ = served
    # uvicorn closes the connection after an unhandled error: a fresh connection for it
    assert httpx.get(f"{url}/v1/crash").status_code == 500
    with httpx.Client(base_url=url) as client:
        assert client.get("/no/such/path/123").status_code == 404
        found = eventually(client, lambda m: m.get(requests("GET", "<unmatched>", 404)))
    assert found[requests("GET", "<unmatched>", 404)] >= 1.0
    assert found[requests("GET", "/v1/crash", 500)] == 1.0
    assert not any("/no/such" in str(labels) for _, labels in found)


def test_streaming_duration_covers_the_whole_body(served: tuple[str, Metrics]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        with client.stream("GET", "/v1/stream") as response:
            first = time.perf_counter()
            body = b"".join(response.iter_bytes())
        elapsed = time.perf_counter() - started
        found = eventually(client, lambda m: m.get(duration("count", "GET", "/v1/stream")))
    assert body.count(b"chunk") == STREAM_CHUNKS
    assert first - started < elapsed  # headers arrived before the body finished
    total = STREAM_PAUSE * STREAM_CHUNKS
    assert found[duration("count", "GET", "/v1/stream")] == 1.0
    assert found[duration("sum", "GET", "/v1/stream")] >= total * 0.9
    assert found[duration("bucket", "GET", "/v1/stream", le="0.25")] == 0.0
    assert found[requests("GET", "/v1/stream", 200)] == 1.0


def test_metrics_route_records_itself_and_run_metrics(served: tuple[str, Metrics]) -> None:
    url, metrics = served
    metrics.set_active_sessions(3)
    with httpx.Client(base_url=url) as client:
        scrape(client)
        found = eventually(client, lambda m: m.get(requests("GET", "/v1/metrics", 200)))
    assert found[requests("GET", "/v1/metrics", 200)] >= 1.0
    assert found[("agentspec_active_sessions", frozenset())] == 3.0
    assert ("agentspec_invocations_total", frozenset()) not in found  # labelled series only


def _counted(metrics: Metrics, status: str) -> float | None:
    payload, _ = metrics.render()
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            if sample.name == "agentspec_http_requests_total" and sample.labels["status"] == status:
                return sample.value
    return None


async def test_errors_and_disconnects_without_a_server() -> None:
    metrics = Metrics()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None  # the client left; nothing was sent

    scope: Scope = {"type": "http", "method": "GET", "path": "/x", "root_path": ""}
    with pytest.raises(RuntimeError):
        await MetricsMiddleware(crashing, metrics)(dict(scope), receive, send)
    await MetricsMiddleware(silent, metrics)(dict(scope), receive, send)
    assert _counted(metrics, "500") == 1.0
    assert _counted(metrics, "499") == 1.0

    seen: list[str] = []

    async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    await MetricsMiddleware(websocket, metrics)({"type": "websocket", "path": "/ws"}, receive, send)
    assert seen == ["websocket"]
    assert _counted(metrics, "101") is None
