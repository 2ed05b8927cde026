"""`agentspec serve` as a real process with auth on, keys made by `agentspec keys`, driven by the SDK."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from agentspec.sdk import (
    AsyncClient,
    Client,
    DoneEvent,
    Forbidden,
    NotFound,
    TextEvent,
    ToolCallEnd,
    ToolCallStart,
    Unauthorized,
)
from tests.conftest import EXAMPLES

QUESTION = 'What is 12 + 30, and how many words are in "the quick brown fox"?'
ANSWER = '12 + 30 = 42, and "the quick brown fox" has 4 words.'


@dataclass
class Server:
    url: str
    admin_key: str
    read_key: str
    env: dict[str, str]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{tmp / 'serve.db'}"}
    made = cli("keys", "create", "--name", "ci", "--scope", "admin", "--json", env=env)
    assert made.returncode == 0, made.stderr
    admin_key = json.loads(made.stdout)["secret"]
    made = cli("keys", "create", "--name", "reader", "--scope", "runs:read", "--json", env=env)
    read_key = json.loads(made.stdout)["secret"]
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentspec.cli",
            "serve",
            str(EXAMPLES / "quickstart"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise AssertionError(process.stderr.read() if process.stderr else "server exited")
            time.sleep(0.1)
        yield Server(url, admin_key, read_key, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_sync_client_invoke_sessions_runs(server: Server) -> None:
    with Client(server.url, api_key=server.admin_key) as client:
        assert client.health()["status"] == "healthy"
        assert [a["name"] for a in client.agents()] == ["assistant"]
        result = client.invoke("assistant", QUESTION)
        assert result.output == ANSWER
        assert (
            result.tokens.total
            == result.tokens.input + result.tokens.output + result.tokens.cache_read
        )
        assert [c.tool_name for c in result.tool_calls] == ["add", "word_count"]
        session = client.create_session("assistant", metadata={"user": "ada"})
        first = client.send("assistant", session.session_id, "what is 1 + 1?")
        second = client.send("assistant", session.session_id, "what is 2 + 2?")
        assert (first.output, second.output) == ("1 + 1 = 2.", "2 + 2 = 4.")
        assert second.session_id == session.session_id
        client.delete_session("assistant", session.session_id)
        with pytest.raises(NotFound):
            client.send("assistant", session.session_id, "gone?")
        runs = list(client.iter_runs(agent="assistant"))
        assert len(runs) >= 3
        run_id = result.run_id or runs[-1]["id"]
        events = client.events(run_id)
        assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.completed"
        with pytest.raises(NotFound, match="did you mean"):
            client.invoke("asistant", "hi")


async def test_async_client_streams_typed_events(server: Server) -> None:
    async with AsyncClient(server.url, api_key=server.admin_key) as client:
        events = [event async for event in client.stream("assistant", QUESTION)]
    assert isinstance(events[-1], DoneEvent)
    assert "".join(e.text for e in events if isinstance(e, TextEvent)) == ANSWER
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [s.tool_name for s in starts] == ["add", "word_count"]
    assert {e.id for e in ends} == {s.id for s in starts}
    assert events[-1].turns == 2


def test_keys_and_scopes_are_enforced(server: Server) -> None:
    with (
        Client(server.url, api_key="ask_not-a-real-key-at-all-000000000000000000") as client,
        pytest.raises(Unauthorized),
    ):
        client.invoke("assistant", "hi")
    with Client(server.url, api_key=server.read_key) as client:
        with pytest.raises(Forbidden):
            client.invoke("assistant", "hi")
        assert client.runs().runs, "runs:read may list runs"
    revoked = cli("keys", "list", "--json", env=server.env)
    reader = next(k for k in json.loads(revoked.stdout) if k["name"] == "reader")
    assert cli("keys", "revoke", reader["id"], env=server.env).returncode == 0
    deadline = time.time() + 10
    while time.time() < deadline:
        response = httpx.get(server.url + "/v1/runs", headers={"X-API-Key": server.read_key})
        if response.status_code == 401:
            break
        time.sleep(0.5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_metrics_count_invocations(server: Server) -> None:
    with Client(server.url, api_key=server.admin_key) as client:
        client.invoke("assistant", "what is 3 + 4?")
    text = httpx.get(server.url + "/v1/metrics").text
    assert 'agentspec_invocations_total{agent="assistant",status="completed"}' in text
    assert 'agentspec_tool_calls_total{agent="assistant",status="ok",tool="add"}' in text
    assert 'route="/v1/agents/{name}/invoke"' in text


async def test_websocket_gateway_on_loopback(server: Server) -> None:
    async with websockets.connect(server.url.replace("http", "ws") + "/ws") as ws:
        hello = json.loads(await ws.recv())
        assert hello["ok"] is True
        await ws.send(json.dumps({"id": "1", "method": "ping"}))
        assert json.loads(await ws.recv()) == {"id": "1", "result": "pong", "error": None}
        await ws.send(
            json.dumps(
                {
                    "id": "2",
                    "method": "chat.send",
                    "params": {"channel": "cli", "account": "a", "content": "what is 5 + 6?"},
                }
            )
        )
        frames = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            frames.append(frame)
            if frame.get("event") == "done":
                break
    text = "".join(f["data"] for f in frames if f.get("event") == "text")
    assert text == "5 + 6 = 11."
    assert [f["event"] for f in frames if f["event"] in ("tool_use", "tool_result")] == [
        "tool_use",
        "tool_result",
    ]
    assert frames[-1] == {"id": "2", "event": "done"}


def test_served_runs_are_audited_and_the_chain_verifies(server: Server) -> None:
    with Client(server.url, api_key=server.admin_key) as client:
        client.invoke("assistant", "what is 8 + 9?")
    verified = cli("audit", "verify", "--json", env=server.env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True and report["count"] >= 5
    exported = cli("audit", "export", "--since", "1h", env=server.env)
    kinds = [json.loads(line)["kind"] for line in exported.stdout.splitlines()]
    assert {"run.started", "tool.call", "tool.result", "run.completed", "key.created"} <= set(kinds)
