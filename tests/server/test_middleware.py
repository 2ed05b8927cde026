"""Middleware and request errors: request ids, security headers, body limits, CORS, 4xx/5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter

import agentspec
from agentspec.engine.settings import Settings
from agentspec.server.app import create_app
from agentspec.server.middleware import request_id_var, valid_request_id
from agentspec.server.settings import ServerSettings
from tests.server.conftest import QUICKSTART, ServeFactory, StaticKeys, auth, run_server
from tests.server.test_api import assert_error

INVOKE = "/v1/agents/assistant/invoke"


# ---------------------------------------------------------------------------- request id


def test_request_id_is_generated_echoed_or_replaced(client: httpx.Client) -> None:
    generated = client.get("/v1/agents").headers["x-request-id"]
    assert valid_request_id(generated)
    assert generated != client.get("/v1/agents").headers["x-request-id"]
    echoed = client.get("/v1/agents", headers={"X-Request-ID": "trace-42:abc"})
    assert echoed.headers["x-request-id"] == "trace-42:abc"
    for bad in ("x" * 129, "has space", "<script>", "-leading"):
        replaced = client.get("/v1/agents", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert valid_request_id(replaced.headers["x-request-id"])


def test_every_response_carries_a_request_id(client: httpx.Client) -> None:
    responses = [
        client.get("/healthz"),
        client.get("/nowhere"),
        client.get("/v1/agents", headers=auth("sk-wrong")),
        client.post(INVOKE, content=b"x" * 2_000_000, headers={"Content-Type": "text/plain"}),
        client.post("/v1/agents/assistant/stream", json={"message": "hi"}),
        client.delete("/v1/agents"),
    ]
    for response in responses:
        assert response.headers["x-request-id"], response.request.url


# ---------------------------------------------------------------------------- security headers


def test_security_headers(client: httpx.Client) -> None:
    response = client.get("/v1/agents")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "strict-transport-security" not in response.headers
    forwarded = client.get("/v1/agents", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=" in forwarded.headers["strict-transport-security"]
    docs = client.get("/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" in docs.text


# ---------------------------------------------------------------------------- bodies


@pytest.fixture
def small(serve: ServeFactory) -> Iterator[httpx.Client]:
    served = serve(settings=ServerSettings(key_rate=None, max_body_bytes=1000))
    with served.client() as http:
        yield http


def test_oversized_bodies_get_413(small: httpx.Client) -> None:
    declared = small.post(INVOKE, json={"message": "x" * 2000})
    body = assert_error(declared, 413, "1000 bytes")
    assert body["details"] == {"limit": 1000}

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    chunked = small.post(INVOKE, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413)
    assert small.post(INVOKE, json={"message": "x" * 900}).status_code == 200


def test_malformed_requests_get_400(client: httpx.Client) -> None:
    json_type = {"Content-Type": "application/json"}
    body = assert_error(client.post(INVOKE, content=b'{"message": ', headers=json_type), 400)
    assert body["details"]["errors"][0]["field"] == "body"
    assert "invalid JSON" in body["details"]["errors"][0]["problem"]
    body = assert_error(client.post(INVOKE, json={}), 400, "body.message")
    assert body["details"]["errors"] == [{"field": "body.message", "problem": "Field required"}]
    assert_error(client.post(INVOKE, json={"message": ""}), 400, "body.message")
    assert_error(client.post(INVOKE, json={"message": 5}), 400, "body.message")
    assert_error(client.post(INVOKE, json=["message"]), 400)
    assert_error(client.post(INVOKE, json={"message": "hi", "variables": {"a": 1}}), 400)
    extra = assert_error(client.post(INVOKE, json={"message": "hi", "stream": True}), 400)
    assert extra["details"]["errors"] == [{"field": "body.stream", "problem": "unknown field"}]
    assert_error(client.post(INVOKE, json={"message": "hi", "session_id": "a\nb"}), 400)
    invalid_utf8 = client.post(INVOKE, content=b'{"message": "\xff\xfe"}', headers=json_type)
    assert_error(invalid_utf8, 400, "UTF-8")
    assert_error(client.post(INVOKE), 400)


def test_wrong_content_type(client: httpx.Client) -> None:
    text = client.post(INVOKE, content=b'{"message": "hi"}', headers={"Content-Type": "text/plain"})
    body = assert_error(text, 400, "application/json")
    assert body["details"]["errors"][0]["field"] == "header.content-type"
    assert_error(client.post(INVOKE, data={"message": "hi"}), 400, "application/json")
    vendor = client.post(
        INVOKE,
        content=b'{"message": "hi"}',
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert vendor.status_code == 200


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing"), 404, "/v1/nothing")
    assert client.delete("/v1/agents").status_code == 405
    assert client.delete("/v1/agents").json()["error"] == "invalid_request"


# ---------------------------------------------------------------------------- 500s


def test_unexpected_errors_are_500_without_internals() -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    seen: list[str] = []

    @router.get("/rid")
    async def rid() -> dict[str, str]:
        seen.append(request_id_var.get())
        return {"ok": "yes"}

    project = agentspec.load(QUICKSTART)
    app = create_app(
        project,
        runtime=project.runtime(Settings(store="memory")),
        settings=ServerSettings(key_rate=None),
        authenticator=StaticKeys(),
        extra_routers=[router],
    )
    with run_server(app) as served, served.client() as http:
        response = http.get("/boom")
        body = assert_error(response, 500)
        assert body["message"] == "internal error"
        assert "secret" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        echoed = http.get("/rid", headers={"X-Request-ID": "abc-123"})
        assert seen == ["abc-123"] == [echoed.headers["x-request-id"]]
    assert request_id_var.get() == ""


# ---------------------------------------------------------------------------- CORS


def test_cors_settings_are_checked() -> None:
    project = agentspec.load(QUICKSTART)
    bad = [
        ServerSettings(cors_origins=["*"], cors_credentials=True),
        ServerSettings(cors_origins=["https://app.example.com/"]),
        ServerSettings(cors_origins=["app.example.com"]),
    ]
    for settings in bad:
        with pytest.raises(ValueError, match="CORS"):
            create_app(project, settings=settings, authenticator=StaticKeys())


def test_cors_preflight_and_exposed_headers(serve: ServeFactory) -> None:
    settings = ServerSettings(key_rate=None, cors_origins=["https://app.example.com"])
    served = serve(settings=settings)
    origin = {"Origin": "https://app.example.com"}
    with served.client() as http:
        preflight = http.options(
            INVOKE,
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert preflight.headers["x-request-id"]
        response = http.get("/v1/agents", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
        other = http.get("/v1/agents", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
