"""Tenancy over HTTP and the WebSocket gateway, and gateway runs in the shutdown drain.

Runs and sessions created through the server belong to the caller's tenant; another tenant's
are 404 (never 403), exactly like ids that do not exist.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from agentspec.auth.base import ALL_SCOPES, Principal
from agentspec.server.settings import ServerSettings
from agentspec.store import open_store

from .conftest import QUICKSTART, Served, ServeFactory, parse_sse, write_slow_project

ACME = "sk-acme"
ACME_2 = "sk-acme-second"
GLOBEX = "sk-globex"
DEFAULT = "sk-default"


class TenantKeys:
    """Keys of three tenants, every scope each."""

    keys = {
        ACME: Principal("key_acme", "acme", ALL_SCOPES, tenant="acme"),
        ACME_2: Principal("key_acme2", "acme too", ALL_SCOPES, tenant="acme"),
        GLOBEX: Principal("key_globex", "globex", ALL_SCOPES, tenant="globex"),
        DEFAULT: Principal("key_default", "default", ALL_SCOPES),
    }

    async def authenticate(self, token: str) -> Principal | None:
        return self.keys.get(token)


def _serve(serve: ServeFactory, project: Path = QUICKSTART, **kwargs: Any) -> Served:
    kwargs.setdefault("settings", ServerSettings(key_rate=None))
    return serve(project, authenticator=TenantKeys(), **kwargs)


def _stored(url: str, run_id: str) -> tuple[Any, list[Any]]:
    async def read() -> tuple[Any, list[Any]]:
        store = open_store(url)
        await store.setup()
        try:
            return await store.get_run(run_id), await store.get_events(run_id)
        finally:
            await store.close()

    return asyncio.run(read())


def test_runs_are_scoped_to_the_callers_tenant(serve: ServeFactory, tmp_path: Path) -> None:
    served = _serve(serve, store="sqlite")
    with (
        served.client(ACME) as acme,
        served.client(GLOBEX) as globex,
        served.client(DEFAULT) as default,
    ):
        mine = acme.post("/v1/agents/assistant/invoke", json={"message": "What is 2 + 3?"})
        assert mine.status_code == 200, mine.text
        run_id = mine.json()["run_id"]
        theirs = globex.post("/v1/agents/assistant/invoke", json={"message": "hello"})
        plain = default.post("/v1/agents/assistant/invoke", json={"message": "hello"})
        assert theirs.status_code == plain.status_code == 200

        assert [r["run_id"] for r in acme.get("/v1/runs").json()["runs"]] == [run_id]
        assert [r["run_id"] for r in globex.get("/v1/runs").json()["runs"]] == [
            theirs.json()["run_id"]
        ]
        # the default tenant keeps today's behaviour for its own runs
        assert [r["run_id"] for r in default.get("/v1/runs").json()["runs"]] == [
            plain.json()["run_id"]
        ]
        assert acme.get(f"/v1/runs/{run_id}").json()["status"] == "completed"
        assert acme.get(f"/v1/runs/{run_id}/events").json()[-1]["type"] == "run.completed"
        # another tenant's run is exactly as unknown as a missing one
        for http in (globex, default):
            for path in (f"/v1/runs/{run_id}", f"/v1/runs/{run_id}/events"):
                answer = http.get(path)
                assert answer.status_code == 404, path
                assert answer.json() == {
                    "error": "not_found",
                    "message": f'no run "{run_id}"',
                    "details": {},
                }
            sse = http.get(f"/v1/runs/{run_id}/events", headers={"Accept": "text/event-stream"})
            assert sse.status_code == 404
            assert http.post(f"/v1/runs/{run_id}/cancel").status_code == 404
        missing = globex.get("/v1/runs/run_does_not_exist")
        assert missing.json()["message"] == 'no run "run_does_not_exist"'
    record, _ = _stored(f"sqlite:///{tmp_path / 'server.db'}", run_id)
    assert record.tenant == "acme"


def test_sessions_are_scoped_to_the_callers_tenant(serve: ServeFactory) -> None:
    served = _serve(serve)
    with served.client(ACME) as acme, served.client(GLOBEX) as globex:
        created = acme.post("/v1/agents/assistant/sessions", json={})
        assert created.status_code == 201
        session = created.json()["session_id"]
        base = f"/v1/agents/assistant/sessions/{session}"
        foreign = {
            "send": globex.post(base, json={"message": "hi"}),
            "invoke": globex.post(
                "/v1/agents/assistant/invoke", json={"message": "hi", "session_id": session}
            ),
            "stream": globex.post(
                "/v1/agents/assistant/stream", json={"message": "hi", "session_id": session}
            ),
            "delete": globex.delete(base),
        }
        for what, answer in foreign.items():
            assert answer.status_code == 404, what
            assert answer.json()["error"] == "not_found", what
        # still there for its owner, who may use and delete it
        sent = acme.post(base, json={"message": "What is 2 + 3?"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["session_id"] == session
        run = acme.get(f"/v1/runs/{sent.json()['run_id']}").json()
        assert run["session_id"] == session
        assert acme.delete(base).status_code == 204


def test_a_live_run_is_hidden_from_other_tenants(serve: ServeFactory, tmp_path: Path) -> None:
    served = _serve(serve, write_slow_project(tmp_path / "slowpoke"))
    with (
        served.client(ACME) as acme,
        served.client(GLOBEX) as globex,
        acme.stream("POST", "/v1/agents/slow/stream", json={"message": "slow"}) as stream,
    ):
        run_id = stream.headers["x-run-id"]
        assert globex.get(f"/v1/runs/{run_id}").status_code == 404
        assert globex.get(f"/v1/runs/{run_id}/events").status_code == 404
        assert globex.post(f"/v1/runs/{run_id}/cancel").status_code == 404
        # another key of the same tenant may follow it
        with served.client(ACME_2) as colleague:
            follow = colleague.get(
                f"/v1/runs/{run_id}/events", headers={"Accept": "text/event-stream"}
            )
            assert parse_sse(follow.text)[-1][0] == "run.completed"
        body = stream.read().decode()
    assert parse_sse(body)[-1][0] == "done"


SLOW_WITH_BINDINGS = "bindings:\n  all: {agent: slow, default: true}\n"


def _slow_gateway_project(root: Path) -> Path:
    project = write_slow_project(root)
    spec = project / "agentspec.yaml"
    spec.write_text(spec.read_text() + SLOW_WITH_BINDINGS)
    return project


async def _chat(address: str, message: str, token: str | None = None, wait: bool = True) -> str:
    """Send one ``chat.send``; return the answer's text ('' when not waiting for it)."""
    async with connect(address) as ws:
        if token is not None:
            await ws.send(json.dumps({"token": token}))
        assert json.loads(await ws.recv())["ok"] is True
        params = {"channel": "cli", "account": "me", "content": message}
        await ws.send(json.dumps({"id": "1", "method": "chat.send", "params": params}))
        if not wait:
            await asyncio.sleep(0.2)  # the run has started; the client leaves
            return ""
        frames = []
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame.get("event") == "done":
                return "".join(f["data"] for f in frames if f.get("event") == "text")


def test_gateway_runs_belong_to_the_tokens_tenant(serve: ServeFactory, tmp_path: Path) -> None:
    settings = ServerSettings(host="0.0.0.0", key_rate=None)
    served = _serve(serve, _slow_gateway_project(tmp_path / "gw"), settings=settings)
    address = served.url.replace("http://", "ws://") + "/ws"
    frames = asyncio.run(_chat(address, "hello there", token=GLOBEX))
    assert frames == "you said: hello there"
    with served.client(GLOBEX) as globex, served.client(ACME) as acme:
        runs = globex.get("/v1/runs").json()["runs"]
        assert [r["input"] for r in runs] == ["hello there"]
        assert acme.get("/v1/runs").json()["runs"] == []
        assert acme.get(f"/v1/runs/{runs[0]['run_id']}").status_code == 404


@pytest.mark.parametrize(("grace", "status"), [(0.1, "cancelled"), (5.0, "completed")])
def test_shutdown_drains_gateway_runs(
    serve: ServeFactory, tmp_path: Path, grace: float, status: str
) -> None:
    settings = ServerSettings(key_rate=None, shutdown_grace_seconds=grace)
    served = _serve(
        serve, _slow_gateway_project(tmp_path / "gw"), settings=settings, store="sqlite"
    )
    address = served.url.replace("http://", "ws://") + "/ws"
    asyncio.run(_chat(address, "slow", wait=False))
    with served.client(DEFAULT) as http:
        runs = http.get("/v1/runs").json()["runs"]
    assert [r["status"] for r in runs] == ["running"]
    started = time.monotonic()
    served.stop()
    record, events = _stored(f"sqlite:///{tmp_path / 'server.db'}", runs[0]["run_id"])
    assert record.status == status
    assert events[-1].type == ("run.failed" if status == "cancelled" else "run.completed")
    if status == "completed":
        assert time.monotonic() - started >= 0.3  # it waited for the run
