"""A real uvicorn server per test (random port, background thread) serving ``create_app``."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import agentspec
from agentspec.auth.base import ALL_SCOPES, SCOPE_INVOKE, SCOPE_RUNS, Principal
from agentspec.engine.settings import Settings
from agentspec.server.app import create_app
from agentspec.server.settings import ServerSettings
from tests.conftest import EXAMPLES

QUICKSTART = EXAMPLES / "quickstart"
QUESTION = 'What is 12 + 30, and how many words are in "the quick brown fox"?'

KEY_ALL = "sk-test-all"
KEY_READ = "sk-test-read"
KEY_INVOKE = "sk-test-invoke"

SLOW_PROJECT = """\
package: slowpoke
models:
  script:
    provider: scripted
    script:
      - when: {last: tool, tool: nap, contains: then fail}
        error: {code: bad_request, message: boom after the nap}
      - when: {last: tool, tool: nap}
        text: "I napped and feel {{tool.nap}}."
      - when: {last: user, contains: nap}
        tool_calls: [{id: call_nap, name: nap, arguments: {seconds: "0.6"}}]
      - when: {last: user, contains: fail}
        error: {code: bad_request, message: boom}
      - when: {last: user, contains: slow}
        delay: 0.8
        text: slow but done
      - text: "you said: {{input}}"
prompts:
  sys: {content: You are a test agent.}
skills:
  nap: {python: napping:nap}
agents:
  slow: {model: script, prompt: sys, skills: [nap], timeout: 10s}
  hasty: {model: script, prompt: sys, timeout: 0.2s}
"""
NAPPING = '''
import asyncio


async def nap(seconds: float) -> str:
    """Sleep a while.

    Args:
        seconds: How long.
    """
    await asyncio.sleep(seconds)
    return "rested"
'''


class StaticKeys:
    """A test :class:`~agentspec.auth.base.Authenticator` with fixed keys."""

    keys = {
        KEY_ALL: Principal("key_all", "every scope", ALL_SCOPES),
        KEY_READ: Principal("key_read", "runs only", frozenset({SCOPE_RUNS})),
        KEY_INVOKE: Principal("key_invoke", "invoke only", frozenset({SCOPE_INVOKE})),
    }

    async def authenticate(self, token: str) -> Principal | None:
        return self.keys.get(token)


def auth(key: str = KEY_ALL) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Served:
    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, key: str | None = KEY_ALL, **options: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers=auth(key) if key else {}, timeout=10, **options
        )

    def aclient(self, key: str | None = KEY_ALL, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers=auth(key) if key else {}, timeout=20, **options
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "the server did not stop"


@contextmanager
def run_server(app: FastAPI, **config: Any) -> Iterator[Served]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"lifespan": "on", "log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    server.config.install_signal_handlers = False
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.005)
    served = Served(f"http://127.0.0.1:{port}", app, server, thread)
    try:
        yield served
    finally:
        if thread.is_alive():
            served.stop()
        sock.close()


def write_slow_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentspec.yaml").write_text(SLOW_PROJECT)
    (root / "napping.py").write_text(textwrap.dedent(NAPPING))
    return root


ServeFactory = Callable[..., Served]


def start_server(
    stack: ExitStack,
    tmp: Path,
    project: Path = QUICKSTART,
    *,
    settings: ServerSettings | None = None,
    store: str = "memory",
    authenticator: Any = None,
    runtime_store: Any = None,
    **config: Any,
) -> Served:
    loaded = agentspec.load(project)
    url = f"sqlite:///{tmp / 'server.db'}" if store == "sqlite" else store
    runtime = loaded.runtime(Settings(store=url), store=runtime_store)
    app = create_app(
        loaded,
        runtime=runtime,
        settings=settings or ServerSettings(key_rate=None),
        authenticator=authenticator or StaticKeys(),
    )
    return stack.enter_context(run_server(app, **config))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """A fresh server: ``serve(project_path, settings=..., store=..., **uvicorn_config)``."""
    with ExitStack() as stack:
        yield lambda *args, **kwargs: start_server(stack, tmp_path, *args, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The quickstart, shared by the tests of a module (for tests that tolerate other runs)."""
    with ExitStack() as stack:
        yield start_server(stack, tmp_path_factory.mktemp("server"))


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture
def slow_project(tmp_path: Path) -> Path:
    return write_slow_project(tmp_path / "slowpoke")


def parse_sse(text: str) -> list[tuple[str, Any, str | None]]:
    """``(event, data, id)`` for each message of an SSE body (comments skipped)."""
    found = []
    for block in text.split("\n\n"):
        event, data, event_id = "message", [], None
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
        if data:
            found.append((event, json.loads("\n".join(data)), event_id))
    return found
