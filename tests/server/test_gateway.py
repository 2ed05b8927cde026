"""The WebSocket gateway, end to end: a real uvicorn server, the ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import agentspec
from agentspec.auth.base import SCOPE_INVOKE, Principal
from agentspec.engine.settings import Settings
from agentspec.server.gateway import gateway_router
from agentspec.server.settings import ServerSettings

PROJECT = """\
package: gateway-test
models:
  helper-model:
    provider: scripted
    script:
      - when: {last: user, contains: slow}
        delay: 0.4
        text: slow reply
      - when: {last: user, regex: 'add (\\d+) and (\\d+)'}
        tool_calls: [{id: call_1, name: add, arguments: {a: "{{1}}", b: "{{2}}"}}]
      - when: {last: tool, tool: add}
        text: The sum is {{tool.add}}.
      - when: {last: user, contains: broken tool}
        tool_calls: [{id: call_9, name: nope, arguments: {}}]
      - when: {last: tool}
        text: "tool trouble: {{tool_result}}"
      - when: {last: user, contains: fail}
        error: {code: bad_request, message: the model refused}
      - text: "helper heard: {{input}}"
agents:
  helper:
    model: helper-model
    instructions: You help.
    skills: [add]
  vip:
    model: {provider: scripted, script: [{text: "vip heard: {{input}}"}]}
    instructions: You help VIPs.
  batch:
    model: {provider: scripted, script: [{text: "batch heard: {{input}}"}]}
    instructions: You answer in one piece.
    stream: false
skills:
  add: {python: tools:add}
"""
BINDINGS = """\
bindings:
  everyone: {agent: helper, default: true}
  alice: {agent: vip, channel: telegram, peer: alice}
  batch: {agent: batch, channel: batch}
"""
TOOLS = '''
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
'''
ROUTE = {"channel": "cli", "account": "me"}


class KeyAuthenticator:
    """Knows one key, ``good``, which may invoke agents but not manage sessions."""

    async def authenticate(self, token: str) -> Principal | None:
        if token == "good":
            return Principal("key_1", "test key", frozenset({SCOPE_INVOKE}))
        return None


@contextmanager
def serve(
    root: Path,
    *,
    bindings: str = BINDINGS,
    settings: ServerSettings | None = None,
    authenticator: Any = None,
    auth_timeout: float = 5.0,
) -> Iterator[str]:
    """Serve the gateway of a project written to ``root``; yields the ``ws://`` URL."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentspec.yaml").write_text(PROJECT + bindings)
    (root / "tools.py").write_text(textwrap.dedent(TOOLS))
    project = agentspec.load(root)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with project.runtime(Settings(store="memory")) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(lifespan=lifespan)
    router = gateway_router(
        lambda: app.state.runtime,
        settings or ServerSettings(),
        authenticator,
        auth_timeout=auth_timeout,
    )
    app.include_router(router)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)  # signal handlers are only installed in the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with serve(tmp_path / "project") as address:
        yield address


@asynccontextmanager
async def client(address: str, *, hello: bool = True) -> AsyncIterator[ClientConnection]:
    async with connect(address, open_timeout=5) as ws:
        if hello:
            assert await receive(ws) == {"ok": True, "version": agentspec.__version__}
        yield ws


async def receive(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def call(ws: ClientConnection, request_id: str, method: str, **params: Any) -> Any:
    frame: dict[str, Any] = {"id": request_id, "method": method}
    if params:
        frame["params"] = params
    await ws.send(json.dumps(frame))
    return await receive(ws)


async def chat(ws: ClientConnection, request_id: str, content: str, **route: Any) -> list[Any]:
    """Send one ``chat.send`` and collect its frames up to ``done``."""
    params = {**ROUTE, **route, "content": content}
    await ws.send(json.dumps({"id": request_id, "method": "chat.send", "params": params}))
    return await until_done(ws, {request_id})


async def until_done(ws: ClientConnection, ids: set[str]) -> list[Any]:
    frames, waiting = [], set(ids)
    while waiting:
        frame = await receive(ws)
        frames.append(frame)
        if frame.get("event") == "done":
            waiting.discard(frame["id"])
    return frames


def text_of(frames: list[Any]) -> str:
    return "".join(f["data"] for f in frames if f.get("event") == "text")


def events(frames: list[Any]) -> list[str]:
    return [f["event"] for f in frames]


# ---------------------------------------------------------------------- basics


async def test_hello_ping_status_and_plugins(url: str) -> None:
    async with client(url) as ws:
        assert await call(ws, "1", "ping") == {"id": "1", "result": "pong", "error": None}
        status = await call(ws, "2", "status")
        assert status == {
            "id": "2",
            "result": {"version": agentspec.__version__, "plugins": [], "sessions": 0},
            "error": None,
        }
        assert await call(ws, "3", "plugin.list") == {"id": "3", "result": [], "error": None}


async def test_unknown_method_is_named(url: str) -> None:
    async with client(url) as ws:
        assert await call(ws, "7", "pnig") == {
            "id": "7",
            "result": None,
            "error": 'unknown method "pnig" (did you mean "ping"?)',
        }
        reply = await call(ws, "8", "budget.status")
        assert reply["error"] == 'unknown method "budget.status"'


async def test_frames_that_are_not_requests_get_id_0(url: str) -> None:
    async with client(url) as ws:
        await ws.send("{not json")
        reply = await receive(ws)
        assert reply["id"] == "0" and reply["result"] is None
        assert reply["error"].startswith("invalid JSON: ")
        await ws.send("[1, 2]")
        assert (await receive(ws))["error"] == "invalid request: a frame must be a JSON object"
        await ws.send('{"method": "ping"}')
        assert (await receive(ws))["id"] == "0"
        await ws.send(b'{"id": "1", "method": "ping"}')
        reply = await receive(ws)
        assert reply == {
            "id": "0",
            "result": None,
            "error": "invalid frame: binary frames are not supported; send JSON text",
        }
        await ws.send(b"\xff\xfe{}")
        assert await receive(ws) == {
            "id": "0",
            "result": None,
            "error": "invalid frame: not valid UTF-8",
        }
        await ws.send(json.dumps({"id": "2", "method": "ping", "params": [1]}))
        assert (await receive(ws))["error"] == 'invalid request: "params" must be an object'
        # the connection is still usable
        assert (await call(ws, "3", "ping"))["result"] == "pong"


async def test_a_text_frame_with_invalid_utf8_is_closed_by_the_protocol(url: str) -> None:
    async with client(url) as ws:
        await ws.send(b"\xff", text=True)
        with pytest.raises(ConnectionClosed) as info:
            await receive(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007


# ---------------------------------------------------------------------- chat.send


async def test_chat_send_streams_text_usage_then_done(url: str) -> None:
    async with client(url) as ws:
        frames = await chat(ws, "c1", "hello there, gateway")
    assert all(f["id"] == "c1" for f in frames)
    assert text_of(frames) == "helper heard: hello there, gateway"
    assert events(frames).count("text") > 1
    assert events(frames)[-2:] == ["usage", "done"]
    assert frames[-1] == {"id": "c1", "event": "done"}
    usage = frames[-2]["data"]
    assert set(usage) == {"input_tokens", "output_tokens"} and usage["output_tokens"] > 0


async def test_a_non_streaming_agent_sends_its_answer_in_one_text_frame(url: str) -> None:
    async with client(url) as ws:
        frames = await chat(ws, "b1", "all at once", channel="batch")
    assert events(frames) == ["text", "usage", "done"]
    assert frames[0]["data"] == "batch heard: all at once"


async def test_routing_picks_the_peer_binding_over_the_default(url: str) -> None:
    async with client(url) as ws:
        vip = await chat(ws, "r1", "hi", channel="telegram", peer="alice")
        other = await chat(ws, "r2", "hi", channel="telegram", peer="bob")
        default_peer = await chat(ws, "r3", "hi", channel="telegram")
        sessions = (await call(ws, "r4", "session.list"))["result"]
    assert text_of(vip) == "vip heard: hi"
    assert text_of(other) == "helper heard: hi"
    assert text_of(default_peer) == "helper heard: hi"
    assert [s["key"] for s in sessions] == [
        "helper:telegram:me:bob",
        "helper:telegram:me:main",
        "vip:telegram:me:alice",
    ]
    assert sessions[2] == {
        **sessions[2],
        "agent": "vip",
        "channel": "telegram",
        "account": "me",
        "peer": "alice",
        "runs": 1,
        "active": False,
    }


async def test_no_binding_and_no_default_is_an_error_then_done(tmp_path: Path) -> None:
    only_alice = "bindings:\n  alice: {agent: vip, channel: telegram, peer: alice}\n"
    with serve(tmp_path / "p", bindings=only_alice) as address:
        async with client(address) as ws:
            frames = await chat(ws, "n1", "anyone?", channel="slack", account="acme", peer="x")
            assert text_of(await chat(ws, "n2", "hi", channel="telegram", peer="alice"))
    assert frames == [
        {"id": "n1", "event": "error", "data": "no agent configured for slack:acme:x"},
        {"id": "n1", "event": "done"},
    ]


async def test_invalid_params_are_an_error_then_done(url: str) -> None:
    async with client(url) as ws:
        await ws.send(json.dumps({"id": "p1", "method": "chat.send", "params": {"content": "x"}}))
        frames = await until_done(ws, {"p1"})
        assert frames[0]["data"] == 'invalid params: "channel" must be a non-empty string'
        assert events(frames) == ["error", "done"]
        frames = await chat(ws, "p2", "", channel="cli")
        assert frames[0]["data"] == 'invalid params: "content" must be a non-empty string'


async def test_a_failed_run_sends_error_then_done(url: str) -> None:
    async with client(url) as ws:
        frames = await chat(ws, "f1", "please fail")
    assert frames[-2:] == [
        {"id": "f1", "event": "error", "data": "the model refused"},
        {"id": "f1", "event": "done"},
    ]


async def test_tool_use_and_tool_result_frames(url: str) -> None:
    async with client(url) as ws:
        frames = await chat(ws, "t1", "add 2 and 3")
    assert events(frames)[:3] == ["usage", "tool_use", "tool_result"]
    assert frames[1]["data"] == {"id": "call_1", "name": "add", "input": {"a": "2", "b": "3"}}
    assert frames[2]["data"] == {"tool_use_id": "call_1", "content": "5"}
    assert text_of(frames) == "The sum is 5."
    assert events(frames)[-2:] == ["usage", "done"]


async def test_a_failed_tool_result_is_flagged(url: str) -> None:
    async with client(url) as ws:
        frames = await chat(ws, "t2", "use the broken tool")
    result = next(f["data"] for f in frames if f["event"] == "tool_result")
    assert result["tool_use_id"] == "call_9" and result["is_error"] is True
    assert result["content"].startswith("unknown tool 'nope'")
    assert frames[-1] == {"id": "t2", "event": "done"}


# ---------------------------------------------------------------------- sessions


async def test_messages_to_one_session_run_in_arrival_order(url: str) -> None:
    async with client(url) as ws:
        for request_id, content in (("s1", "slow first"), ("s2", "then second")):
            params = {**ROUTE, "peer": "carol", "content": content}
            await ws.send(json.dumps({"id": request_id, "method": "chat.send", "params": params}))
        frames = await until_done(ws, {"s1", "s2"})
        history = (await call(ws, "h", "chat.history", **ROUTE, peer="carol"))["result"]
    ids = [f["id"] for f in frames]
    assert ids.index("s2") > max(i for i, x in enumerate(ids) if x == "s1")
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "slow first"),
        ("assistant", "slow reply"),
        ("user", "then second"),
        ("assistant", "helper heard: then second"),
    ]


async def test_different_sessions_run_concurrently(url: str) -> None:
    async with client(url) as ws:
        slow = {**ROUTE, "peer": "dave", "content": "slow please"}
        fast = {**ROUTE, "peer": "erin", "content": "quick"}
        await ws.send(json.dumps({"id": "a", "method": "chat.send", "params": slow}))
        await ws.send(json.dumps({"id": "b", "method": "chat.send", "params": fast}))
        frames = await until_done(ws, {"a", "b"})
        dones = [f["id"] for f in frames if f["event"] == "done"]
        assert dones == ["b", "a"]
        assert text_of([f for f in frames if f["id"] == "a"]) == "slow reply"
        assert text_of([f for f in frames if f["id"] == "b"]) == "helper heard: quick"


async def test_status_session_list_and_session_clear(url: str) -> None:
    async with client(url) as ws:
        await chat(ws, "1", "one", peer="frank")
        await chat(ws, "2", "two", peer="frank")
        await chat(ws, "3", "hi", peer="gina")
        assert (await call(ws, "4", "status"))["result"]["sessions"] == 2
        listed = (await call(ws, "5", "session.list"))["result"]
        assert [(s["key"], s["runs"]) for s in listed] == [
            ("helper:cli:me:frank", 2),
            ("helper:cli:me:gina", 1),
        ]
        cleared = await call(ws, "6", "session.clear", **ROUTE, peer="frank")
        assert cleared == {"id": "6", "result": {"cleared": ["helper:cli:me:frank"]}, "error": None}
        assert (await call(ws, "7", "chat.history", **ROUTE, peer="frank"))["result"] == []
        assert (await call(ws, "8", "status"))["result"]["sessions"] == 1
        again = await call(ws, "9", "session.clear", **ROUTE, peer="frank")
        assert again["result"] == {"cleared": []}
        after = await chat(ws, "10", "fresh start", peer="frank")
        history = (await call(ws, "11", "chat.history", **ROUTE, peer="frank"))["result"]
    assert text_of(after) == "helper heard: fresh start"
    assert [m["content"] for m in history] == ["fresh start", "helper heard: fresh start"]


async def test_a_request_id_in_flight_cannot_be_reused(url: str) -> None:
    async with client(url) as ws:
        params = {**ROUTE, "peer": "hal", "content": "slow one"}
        frame = json.dumps({"id": "x", "method": "chat.send", "params": params})
        await ws.send(frame)
        await ws.send(frame)
        first = await receive(ws)
        assert first == {
            "id": "x",
            "result": None,
            "error": 'request "x" is already in flight; use a new id',
        }
        frames = await until_done(ws, {"x"})
    assert text_of(frames) == "slow reply"


async def wait_for_idle(ws: ClientConnection, key: str) -> dict[str, Any]:
    for attempt in range(100):
        listed = (await call(ws, f"l{attempt}", "session.list"))["result"]
        found = next((s for s in listed if s["key"] == key), None)
        if found is not None and not found["active"]:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {key} is still busy")


async def test_a_run_goes_on_when_its_client_leaves(url: str) -> None:
    async with client(url) as ws:
        params = {**ROUTE, "peer": "ivan", "content": "slow goodbye"}
        await ws.send(json.dumps({"id": "1", "method": "chat.send", "params": params}))
        await asyncio.sleep(0.05)  # the run has started; its model answers after 0.4s
    async with client(url) as ws:
        busy = (await call(ws, "2", "session.list"))["result"]
        assert [(s["key"], s["active"]) for s in busy] == [("helper:cli:me:ivan", True)]
        refused = await call(ws, "3", "session.clear", **ROUTE, peer="ivan")
        assert refused["error"] == (
            "session helper:cli:me:ivan is busy: a message is being processed"
        )
        await wait_for_idle(ws, "helper:cli:me:ivan")
        history = (await call(ws, "4", "chat.history", **ROUTE, peer="ivan"))["result"]
    assert [m["content"] for m in history] == ["slow goodbye", "slow reply"]


async def test_cancel_on_disconnect_cancels_the_run(tmp_path: Path) -> None:
    settings = ServerSettings(cancel_on_disconnect=True)
    with serve(tmp_path / "p", settings=settings) as address:
        async with client(address) as ws:
            params = {**ROUTE, "peer": "jo", "content": "slow goodbye"}
            await ws.send(json.dumps({"id": "1", "method": "chat.send", "params": params}))
            await asyncio.sleep(0.1)
        async with client(address) as ws:
            await wait_for_idle(ws, "helper:cli:me:jo")
            history = (await call(ws, "2", "chat.history", **ROUTE, peer="jo"))["result"]
    assert history == []


# ---------------------------------------------------------------------- auth


REMOTE = ServerSettings(host="0.0.0.0")


async def test_a_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    with serve(tmp_path / "p", settings=REMOTE, authenticator=KeyAuthenticator()) as address:
        async with client(address, hello=False) as ws:
            await ws.send(json.dumps({"token": "bad"}))
            assert await receive(ws) == {"error": "auth_failed", "code": 4001}
            with pytest.raises(ConnectionClosed) as info:
                await receive(ws)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4001
        async with client(address, hello=False) as ws:
            await ws.send(json.dumps({"id": "1", "method": "ping"}))
            assert await receive(ws) == {"error": "auth_failed", "code": 4001}
        async with client(address, hello=False) as ws:
            await ws.send(json.dumps({"token": "good"}))
            assert await receive(ws) == {"ok": True, "version": agentspec.__version__}
            assert (await call(ws, "1", "ping"))["result"] == "pong"
            assert text_of(await chat(ws, "2", "hi")) == "helper heard: hi"
            denied = await call(ws, "3", "session.list")
            assert denied["error"] == "forbidden: the API key lacks the sessions:write scope"


async def test_a_token_must_arrive_in_time(tmp_path: Path) -> None:
    with serve(
        tmp_path / "p", settings=REMOTE, authenticator=KeyAuthenticator(), auth_timeout=0.2
    ) as address:
        async with client(address, hello=False) as ws:
            assert await receive(ws) == {"error": "auth_failed", "code": 4001}
            with pytest.raises(ConnectionClosed):
                await receive(ws)


async def test_without_an_authenticator_a_required_token_always_fails(tmp_path: Path) -> None:
    with serve(tmp_path / "p", settings=REMOTE) as address:
        async with client(address, hello=False) as ws:
            await ws.send(json.dumps({"token": "good"}))
            assert await receive(ws) == {"error": "auth_failed", "code": 4001}


async def test_with_auth_off_any_token_is_accepted(tmp_path: Path) -> None:
    settings = ServerSettings(host="0.0.0.0", auth=False)
    with serve(tmp_path / "p", settings=settings) as address:
        async with client(address, hello=False) as ws:
            await ws.send(json.dumps({"token": "anything"}))
            assert (await receive(ws))["ok"] is True
