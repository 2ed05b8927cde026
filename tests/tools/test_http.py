from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agentspec import ir
from agentspec._version import __version__
from agentspec.exceptions import ToolError
from agentspec.secrets.resolver import SecretResolver
from agentspec.tools.base import ToolContext
from agentspec.tools.http import HttpRequestTool

SECRET = "tok/en+s3cr3t"
CTX = ToolContext(run_id="run-1", call_id="call-7", agent="helper")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        if url.path.startswith("/missing"):
            self._send(404, b"no such thing", "text/plain")
        elif url.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"late", "text/plain")
        elif url.path == "/text":
            self._send(200, b"plain text\n", "text/plain; charset=utf-8")
        elif url.path == "/big":
            self._send(200, b"b" * (2 << 20), "text/plain")
        elif url.path == "/empty":
            self._send(204, b"", "text/plain")
        else:
            echo = {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            self._send(200, json.dumps(echo).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def secrets() -> SecretResolver:
    declared = {"api": ir.Secret(name="api", source="env", key="TEST_API_KEY")}
    return SecretResolver(declared, environ={"TEST_API_KEY": SECRET})


@pytest.fixture
async def make(secrets: SecretResolver) -> AsyncIterator[Any]:
    tools: list[HttpRequestTool] = []

    def build(**spec: Any) -> HttpRequestTool:
        http = ir.HttpTool(**spec)
        tool = HttpRequestTool(
            ir.Skill(name="web", description="d", tool=http), http, secrets=secrets
        )
        tools.append(tool)
        return tool

    yield build
    for tool in tools:
        await tool.aclose()


async def test_get_quotes_url_values_and_sends_the_rest_as_query(base_url: str, make: Any) -> None:
    tool = make(url=base_url + "/echo/{{city}}")

    out = await tool.call({"city": "São Paulo/../x?y", "units": "metric", "days": 3}, CTX)

    assert out["method"] == "GET"
    assert out["path"] == "/echo/S%C3%A3o%20Paulo%2F..%2Fx%3Fy"
    assert out["query"] == {"units": ["metric"], "days": ["3"]}
    assert out["headers"]["idempotency-key"] == "run-1:call-7"
    assert out["headers"]["user-agent"] == f"agentspec/{__version__}"


async def test_post_sends_unused_arguments_as_json(base_url: str, make: Any) -> None:
    tool = make(method="post", url=base_url + "/items/{{id}}", headers={"X-Team": "{{team}}"})

    out = await tool.call({"id": 7, "team": "red", "tags": ["a", "b"]}, CTX)

    assert out["method"] == "POST"
    assert out["path"] == "/items/7"
    assert out["headers"]["x-team"] == "red"
    assert out["headers"]["content-type"] == "application/json"
    assert json.loads(out["body"]) == {"team": "red", "tags": ["a", "b"]}


async def test_json_body_template_inserts_json_encoded_values(base_url: str, make: Any) -> None:
    template = '{"q": {{query}}, "n": {{n}}, "tags": {{tags}}, "who": {{user.name}}}'
    tool = make(method="PUT", url=base_url + "/echo", body_template=template)
    arguments = {"query": 'say "hi"\n', "n": 2.5, "tags": ["x"], "user": {"name": None}}

    out = await tool.call(arguments, CTX)

    assert json.loads(out["body"]) == {"q": 'say "hi"\n', "n": 2.5, "tags": ["x"], "who": None}
    assert out["headers"]["content-type"] == "application/json"
    assert out["query"] == {}


async def test_quoted_placeholder_in_json_template_is_explained(base_url: str, make: Any) -> None:
    tool = make(method="POST", url=base_url + "/echo", body_template='{"q": "{{query}}"}')
    with pytest.raises(ToolError, match="did not render to valid JSON"):
        await tool.call({"query": "x"}, CTX)


async def test_text_body_template(base_url: str, make: Any) -> None:
    tool = make(method="POST", url=base_url + "/echo", body_template="Dear {{name}}, {{n}}")
    out = await tool.call({"name": "Ada", "n": [1]}, CTX)
    assert out["body"] == "Dear Ada, [1]"
    assert out["headers"]["content-type"].startswith("text/plain")


async def test_secrets_in_headers_and_url_are_resolved_and_redacted(
    base_url: str, make: Any
) -> None:
    headers = {"Authorization": "Bearer {{secret.api}}"}
    ok = make(url=base_url + "/echo", headers=headers)
    out = await ok.call({"secret": {"api": "spoofed"}}, CTX)
    assert out["headers"]["authorization"] == f"Bearer {SECRET}"

    failing = make(url=base_url + "/missing?key={{secret.api}}", headers=headers)
    with pytest.raises(ToolError) as info:
        await failing.call({}, CTX)
    message = str(info.value)
    assert message.startswith("GET http://127.0.0.1:")
    assert "key=***" in message
    assert "s3cr3t" not in message


async def test_status_404_is_an_error_with_the_body(base_url: str, make: Any) -> None:
    with pytest.raises(ToolError, match=r"^GET http://.*/missing returned 404: no such thing$"):
        await make(url=base_url + "/missing").call({}, CTX)


async def test_connection_refused_is_a_clear_error(make: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ToolError, match="cannot connect"):
        await make(url=f"http://127.0.0.1:{port}/x").call({}, CTX)


async def test_slow_server_times_out(base_url: str, make: Any) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"GET .*/slow timed out after 0.3s"):
        await make(url=base_url + "/slow", timeout=0.3).call({}, CTX)
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/text", "GET", "plain text"),
        ("/empty", "DELETE", {"status": 204}),
    ],
)
async def test_text_and_empty_responses(
    base_url: str, make: Any, path: str, method: str, expected: Any
) -> None:
    assert await make(method=method, url=base_url + path).call({}, CTX) == expected


async def test_head_returns_status_and_headers(base_url: str, make: Any) -> None:
    out = await make(method="HEAD", url=base_url + "/text").call({}, CTX)
    assert out["status"] == 200
    assert out["headers"]["content-type"].startswith("text/plain")


async def test_large_response_is_capped(base_url: str, make: Any) -> None:
    out = await make(url=base_url + "/big").call({}, CTX)
    assert out.endswith("[truncated]")
    assert len(out) < (1 << 20) + 100


async def test_shared_client_is_used_and_left_open(base_url: str, secrets: SecretResolver) -> None:
    spec = ir.HttpTool(url=base_url + "/echo", headers={"X-A": "1"})
    async with httpx.AsyncClient(headers={"X-Shared": "yes"}) as client:
        tool = HttpRequestTool(
            ir.Skill(name="web", description="d", tool=spec), spec, secrets=secrets, client=client
        )
        out = await tool.call({}, CTX)
        await tool.aclose()
        assert not client.is_closed
    assert out["headers"]["x-shared"] == "yes"
    assert out["headers"]["x-a"] == "1"
