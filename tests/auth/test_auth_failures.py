"""Limiting failed authentication per client address, and auditing the failures: the limiter
on its own (a fake clock) and through a real server with real keys in a real store."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

import agentspec
from agentspec.audit.chain import verify_store
from agentspec.audit.recorder import AuditRecorder
from agentspec.auth.failures import AuthFailureLimiter
from agentspec.auth.keys import KeyAuthenticator, KeyManager
from agentspec.auth.ratelimit import RateLimit
from agentspec.auth.ratelimit_memory import MemoryRateLimiter
from agentspec.engine.settings import Settings
from agentspec.server.app import create_app
from agentspec.server.settings import ServerSettings, parse_rate
from agentspec.store.base import AuditRecord
from agentspec.store.memory import MemoryStore
from tests.server.conftest import QUICKSTART, run_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_failures_take_tokens_then_block_until_one_is_back() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(
        MemoryRateLimiter(clock=clock), RateLimit(rate=0.5, burst=3), clock=clock
    )
    assert limiter.blocked("10.0.0.1") == 0.0
    assert [await limiter.failed("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.failed("10.0.0.1")
    assert wait == pytest.approx(2.0)  # one token at 0.5/s
    assert limiter.blocked("10.0.0.1") == pytest.approx(2.0)
    assert limiter.blocked("10.0.0.2") == 0.0  # per address
    clock.now += 1.0
    assert limiter.blocked("10.0.0.1") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.blocked("10.0.0.1") == 0.0
    assert await limiter.failed("10.0.0.1") == 0.0  # the token that came back
    assert await limiter.failed("10.0.0.1") > 0


def test_the_limit_setting_parses_like_rate_limits() -> None:
    assert ServerSettings().auth_failure_limit == RateLimit(rate=0.2, burst=10)
    assert parse_rate("0.5/3") == RateLimit(rate=0.5, burst=3)
    assert parse_rate("off") is None
    with pytest.raises(ValueError, match="RATE"):
        parse_rate("lots")


class Server:
    """A quickstart server with keys in a memory store, and the audit recorder on it."""

    def __init__(self, stack: ExitStack, limit: RateLimit | None, host: str = "127.0.0.1") -> None:
        project = agentspec.load(QUICKSTART)
        self.store = MemoryStore()
        asyncio.run(self.store.setup())
        manager = KeyManager(self.store)
        _, self.key = asyncio.run(manager.create("ci", ["admin"]))
        runtime = project.runtime(Settings(store="memory"), store=self.store)
        self.recorder = AuditRecorder(self.store)
        settings = ServerSettings(host=host, key_rate=None, auth_failure_limit=limit)
        app = create_app(
            project,
            runtime=runtime,
            settings=settings,
            authenticator=KeyAuthenticator(self.store),
            audit=self.recorder,
        )
        self.served = stack.enter_context(run_server(app))

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.served.url, headers=headers, timeout=10)

    def entries(self, kind: str) -> list[AuditRecord]:
        async def read() -> list[AuditRecord]:
            return [e async for e in self.store.iter_audit() if e.kind == kind]

        return asyncio.run(read())


@pytest.fixture
def stack() -> Any:
    with ExitStack() as stack:
        yield stack


def test_repeated_401s_from_one_address_get_429_with_retry_after(stack: ExitStack) -> None:
    server = Server(stack, RateLimit(rate=1.0, burst=3))
    wrong = "ask_" + "A" * 43
    with server.client(wrong) as bad, server.client(server.key) as good:
        assert [bad.get("/v1/runs").status_code for _ in range(3)] == [401, 401, 401]
        limited = bad.get("/v1/runs")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        body = limited.json()
        assert body["error"] == "rate_limited"
        assert body["details"] == {"scope": "auth_failures", "retry_after": 1}
        # the address is blocked: even a good key is refused before it is looked at
        assert good.get("/v1/runs").status_code == 429
        # probes and metrics need no key and stay open
        assert good.get("/healthz").status_code == 200
        metrics = good.get("/v1/metrics").text
        assert 'agentspec_rate_limited_total{scope="auth_failures"}' in metrics
        time.sleep(1.1)
        assert good.get("/v1/runs").status_code == 200
        # successes cost nothing: still one failure left in the refilled bucket
        assert [good.get("/v1/runs").status_code for _ in range(5)] == [200] * 5


def test_with_the_limit_off_401s_stay_401s(stack: ExitStack) -> None:
    server = Server(stack, None)
    with server.client("ask_" + "B" * 43) as bad:
        assert {bad.get("/v1/runs").status_code for _ in range(15)} == {401}


def test_auth_failures_are_audited_without_the_secret(stack: ExitStack) -> None:
    server = Server(stack, RateLimit(rate=1.0, burst=100))
    wrong = "ask_" + "C" * 43
    with server.client(wrong) as bad, server.client() as anonymous:
        assert bad.post("/v1/agents/assistant/invoke", json={"message": "x"}).status_code == 401
        assert anonymous.get("/v1/runs").status_code == 401
        with server.client("not-one-of-ours-secret") as other:
            assert other.get("/v1/runs").status_code == 401
    entries = server.entries("auth.failed")
    assert len(entries) == 3
    for entry in entries:
        assert wrong not in entry.data
        assert "not-one-of-ours-secret" not in entry.data
        assert entry.actor == "ip:127.0.0.1"
    first, second, third = (entry.data for entry in entries)
    assert '"key_prefix":"ask_CCCCCCCC"' in first
    assert '"path":"/v1/agents/assistant/invoke"' in first
    assert '"reason":"invalid or revoked API key"' in first
    assert '"key_prefix":""' in second and "missing API key" in second
    assert '"key_prefix":""' in third
    assert asyncio.run(verify_store(server.store)).ok


def test_the_server_start_is_audited_with_ir_hash_and_settings_digest(
    stack: ExitStack, tmp_path: Path
) -> None:
    server = Server(stack, RateLimit(rate=1.0, burst=10))
    (entry,) = server.entries("server.started")
    project = agentspec.load(QUICKSTART)
    assert entry.actor == "server"
    assert entry.subject == project.package.name
    assert f'"ir_hash":"{project.ir_hash}"' in entry.data
    assert '"settings_sha256":"' in entry.data
    assert '"auth_failure_limit":{"burst":10,"rate":1.0}' in entry.data


async def _ws_token(url: str, token: str) -> dict[str, Any]:
    async with connect(url) as ws:
        await ws.send(json.dumps({"token": token}))
        answer: dict[str, Any] = json.loads(await ws.recv())
        return answer


def test_gateway_token_failures_are_limited_and_audited(stack: ExitStack) -> None:
    server = Server(stack, RateLimit(rate=0.5, burst=2), host="0.0.0.0")
    url = server.served.url.replace("http://", "ws://") + "/ws"
    wrong = "ask_" + "D" * 43
    failed = {"error": "auth_failed", "code": 4001}
    assert asyncio.run(_ws_token(url, server.key))["ok"] is True
    assert [asyncio.run(_ws_token(url, wrong)) for _ in range(3)] == [failed] * 3
    # blocked now: even the right key is refused, without being checked
    assert asyncio.run(_ws_token(url, server.key)) == failed
    with server.client(server.key) as http:  # the block covers the HTTP API too
        assert http.get("/v1/runs").status_code == 429
    entries = server.entries("auth.failed")
    assert len(entries) == 3  # the blocked attempt is not recorded again
    assert all('"path":"/ws"' in e.data and wrong not in e.data for e in entries)
    assert '"key_prefix":"ask_DDDDDDDD"' in entries[0].data
