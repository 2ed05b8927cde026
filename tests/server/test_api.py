"""The HTTP API end to end (CONTRACTS.md §1): a real uvicorn server, httpx clients."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from agentspec.auth.ratelimit import RateLimit
from agentspec.exceptions import StoreError
from agentspec.server.settings import ServerSettings
from agentspec.store import open_store
from agentspec.store.memory import MemoryStore
from tests.server.conftest import (
    KEY_ALL,
    KEY_INVOKE,
    KEY_READ,
    QUESTION,
    QUICKSTART,
    Served,
    ServeFactory,
    auth,
)

CONTRACT_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def assert_error(response: httpx.Response, status: int, needle: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == CONTRACT_CODES[status]
    assert isinstance(body["details"], dict)
    assert needle in body["message"]
    assert response.headers["x-request-id"]
    return body


def wait_for_status(http: httpx.Client, run_id: str, wanted: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        response = http.get(f"/v1/runs/{run_id}")
        if response.status_code == 200 and response.json()["status"] in wanted:
            return dict(response.json())
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)


# ---------------------------------------------------------------------------- health


def test_health_probes(client: httpx.Client) -> None:
    health = client.get("/healthz", headers={})
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["agents"] == 1
    assert body["version"]
    assert body["uptime"].endswith("s")
    with httpx.Client(base_url=str(client.base_url)) as anonymous:
        assert anonymous.get("/healthz/live").json() == {"status": "alive", "checks": {}}
        ready = anonymous.get("/healthz/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"store": "ok"}
        assert anonymous.get("/healthz/startup").json()["status"] == "started"


class FlakyStore(MemoryStore):
    broken = False

    async def get_run(self, run_id: str) -> Any:
        if self.broken:
            raise StoreError("the database is locked")
        return await super().get_run(run_id)


def test_ready_is_503_when_the_store_fails(serve: ServeFactory) -> None:
    store = FlakyStore()
    served = serve(runtime_store=store)  # a MemoryStore that can break
    with served.client(None) as http:
        assert http.get("/healthz/ready").status_code == 200
        store.broken = True
        body = assert_error(http.get("/healthz/ready"), 503, "store")
        assert body["details"]["checks"]["store"] == "StoreError"
        assert http.get("/healthz/live").status_code == 200


def test_uptime_format() -> None:
    from agentspec.server.app import uptime

    assert uptime(8130.9) == "2h15m30s"
    assert uptime(930) == "15m30s"
    assert uptime(5) == "5s"
    assert uptime(3600) == "1h0m0s"


# ---------------------------------------------------------------------------- agents, invoke


def test_agents_list_counts_invocations_and_sessions(serve: ServeFactory) -> None:
    with serve().client() as client:
        assert client.post("/v1/agents/assistant/invoke", json={"message": "hi"}).status_code == 200
        session = client.post("/v1/agents/assistant/sessions", json={}).json()["session_id"]
        client.post(f"/v1/agents/assistant/sessions/{session}", json={"message": "What is 1 + 2?"})
        agents = client.get("/v1/agents").json()["agents"]
        assert [a["name"] for a in agents] == ["assistant"]
        agent = agents[0]
        assert set(agent) >= {
            "name",
            "fqn",
            "model",
            "strategy",
            "status",
            "skills",
            "active_sessions",
            "total_invocations",
        }
        assert agent["fqn"] == "quickstart/Agent/assistant"
        assert agent["model"] == "scripted"
        assert agent["strategy"] == "react"
        assert agent["skills"] == ["add", "word_count"]
        assert agent["total_invocations"] == 2
        assert agent["active_sessions"] == 1


def test_invoke_returns_the_contract_result(client: httpx.Client) -> None:
    response = client.post("/v1/agents/assistant/invoke", json={"message": QUESTION})
    assert response.status_code == 200
    body = response.json()
    assert body["output"] == '12 + 30 = 42, and "the quick brown fox" has 4 words.'
    assert body["turns"] == 2
    assert body["session_id"] == ""
    tokens = body["tokens"]
    assert tokens["total"] == tokens["input"] + tokens["output"] + tokens["cache_read"]
    assert [c["tool_name"] for c in body["tool_calls"]] == ["add", "word_count"]
    call = body["tool_calls"][0]
    assert set(call) == {"id", "tool_name", "input", "output", "duration_ms", "error"}
    assert call["output"] == 42
    assert response.headers["x-run-id"] == body["run_id"]
    run = client.get(f"/v1/runs/{body['run_id']}").json()
    assert run["status"] == "completed"
    assert run["output"] == body["output"]


def test_invoke_with_variables_and_unknown_agent(client: httpx.Client) -> None:
    ok = client.post(
        "/v1/agents/assistant/invoke", json={"message": "hi", "variables": {"user": "Ada"}}
    )
    assert ok.status_code == 200
    body = assert_error(client.post("/v1/agents/asistant/invoke", json={"message": "hi"}), 404)
    assert 'did you mean "assistant"' in body["message"]
    assert_error(client.post("/v1/agents/zzz/stream", json={"message": "hi"}), 404)


def test_failed_runs_answer_with_the_status_of_their_code(
    serve: ServeFactory, slow_project: Path
) -> None:
    with serve(slow_project).client() as http:
        failed = http.post("/v1/agents/slow/invoke", json={"message": "please fail"})
        body = assert_error(failed, 400, "boom")
        run_id = body["details"]["run_id"]
        assert failed.headers["x-run-id"] == run_id
        assert http.get(f"/v1/runs/{run_id}").json()["status"] == "failed"
        timed_out = http.post("/v1/agents/hasty/invoke", json={"message": "slow please"})
        body = assert_error(timed_out, 408, "timed out")
        assert body["details"]["run_id"]


def test_run_failure_mapping() -> None:
    from agentspec.server.errors import run_failure

    assert run_failure("timeout") == (408, "timeout")
    assert run_failure("rate_limited") == (429, "rate_limited")
    assert run_failure("cancelled") == (409, "conflict")
    assert run_failure("unauthorized") == (500, "internal_error")
    assert run_failure("something-new") == (500, "internal_error")


# ---------------------------------------------------------------------------- sessions


def test_session_lifecycle(client: httpx.Client) -> None:
    created = client.post("/v1/agents/assistant/sessions", json={"metadata": {"user": "u-1"}})
    assert created.status_code == 201
    session = created.json()
    assert session["agent"] == "assistant"
    assert session["session_id"].startswith("sess_")
    assert session["created_at"].endswith("Z")
    sid = session["session_id"]
    first = client.post(f"/v1/agents/assistant/sessions/{sid}", json={"message": "What is 2 + 3?"})
    assert first.status_code == 200
    assert first.json()["output"] == "2 + 3 = 5."
    assert first.json()["session_id"] == sid
    second = client.post(f"/v1/agents/assistant/sessions/{sid}", json={"message": "hello"})
    assert second.json()["session_id"] == sid
    for run in (first, second):
        assert client.get(f"/v1/runs/{run.json()['run_id']}").json()["session_id"] == sid
    # invoke may continue the same session
    third = client.post("/v1/agents/assistant/invoke", json={"message": "hi", "session_id": sid})
    assert third.json()["session_id"] == sid
    deleted = client.delete(f"/v1/agents/assistant/sessions/{sid}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(client.delete(f"/v1/agents/assistant/sessions/{sid}"), 404)
    assert_error(client.post(f"/v1/agents/assistant/sessions/{sid}", json={"message": "hi"}), 404)


def test_session_without_body_and_unknown_sessions(client: httpx.Client) -> None:
    created = client.post("/v1/agents/assistant/sessions")
    assert created.status_code == 201
    assert created.json()["metadata"] == {}
    assert_error(
        client.post("/v1/agents/assistant/sessions/sess_nope", json={"message": "hi"}),
        404,
        "sess_nope",
    )
    assert_error(client.delete("/v1/agents/assistant/sessions/sess_nope"), 404)
    assert_error(client.post("/v1/agents/nobody/sessions", json={}), 404, "unknown agent")


def test_a_session_belongs_to_its_agent(serve: ServeFactory, slow_project: Path) -> None:
    with serve(slow_project).client() as http:
        sid = http.post("/v1/agents/slow/sessions", json={}).json()["session_id"]
        assert_error(http.post(f"/v1/agents/hasty/sessions/{sid}", json={"message": "x"}), 404)
        assert_error(http.delete(f"/v1/agents/hasty/sessions/{sid}"), 404)
        assert_error(
            http.post("/v1/agents/hasty/stream", json={"message": "x", "session_id": sid}),
            400,
            "belongs to agent",
        )
        assert_error(
            http.post("/v1/agents/hasty/invoke", json={"message": "x", "session_id": sid}),
            400,
            "belongs to agent",
        )


# ---------------------------------------------------------------------------- runs


def test_runs_list_filters_and_pages(serve: ServeFactory) -> None:
    with serve().client() as client:
        ids = [
            client.post("/v1/agents/assistant/invoke", json={"message": f"hi {i}"}).json()["run_id"]
            for i in range(3)
        ]
        page = client.get("/v1/runs", params={"limit": 2}).json()
        assert [r["run_id"] for r in page["runs"]] == ids[::-1][:2]
        assert page["next_cursor"]
        rest = client.get("/v1/runs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [r["run_id"] for r in rest["runs"]] == [ids[0]]
        assert rest["next_cursor"] is None
        assert len(client.get("/v1/runs", params={"status": "completed"}).json()["runs"]) == 3
        assert client.get("/v1/runs", params={"status": "failed"}).json()["runs"] == []
        assert client.get("/v1/runs", params={"agent": "other"}).json()["runs"] == []
        body = assert_error(client.get("/v1/runs", params={"status": "weird"}), 400)
        assert body["details"]["errors"][0]["field"] == "query.status"
        assert_error(client.get("/v1/runs", params={"limit": 0}), 400, "query.limit")
        assert_error(client.get("/v1/runs", params={"cursor": "%%%not-a-cursor"}), 400, "cursor")


def test_run_events_as_json(client: httpx.Client) -> None:
    run_id = client.post("/v1/agents/assistant/invoke", json={"message": "hi"}).json()["run_id"]
    events = client.get(f"/v1/runs/{run_id}/events").json()
    assert isinstance(events, list)
    assert events[0]["type"] == "run.started"
    assert events[-1]["type"] == "run.completed"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    later = client.get(f"/v1/runs/{run_id}/events", params={"after": 2}).json()
    assert [e["seq"] for e in later] == [e["seq"] for e in events[2:]]
    assert_error(client.get("/v1/runs/run_nope"), 404, "run_nope")
    assert_error(client.get("/v1/runs/run_nope/events"), 404)
    assert_error(
        client.get("/v1/runs/run_nope/events", headers={"Accept": "text/event-stream"}), 404
    )
    assert_error(client.post("/v1/runs/run_nope/cancel"), 404)
    assert_error(client.get(f"/v1/runs/{run_id}/events", params={"after": -1}), 400)


def test_cancel_a_running_run(serve: ServeFactory, slow_project: Path) -> None:
    served = serve(slow_project)
    with served.client() as http, served.client(KEY_READ) as reader:
        with http.stream("POST", "/v1/agents/slow/stream", json={"message": "slow"}) as stream:
            run_id = stream.headers["x-run-id"]
            assert_error(reader.post(f"/v1/runs/{run_id}/cancel"), 403, "started")
            cancelled = http.post(f"/v1/runs/{run_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"
            body = stream.read().decode()
        assert "event: error" in body
        assert body.rstrip().split("\n\n")[-1].startswith("event: done")
        events = http.get(f"/v1/runs/{run_id}/events").json()
        assert events[-1]["type"] == "run.failed"
        assert events[-1]["data"]["error"] == "cancelled"
        assert_error(http.post(f"/v1/runs/{run_id}/cancel"), 409, "already ended")


# ---------------------------------------------------------------------------- auth


def test_authentication(server: Served) -> None:
    with server.client(None) as http:
        missing = assert_error(http.get("/v1/agents"), 401, "missing API key")
        assert missing["error"] == "unauthorized"
        response = http.get("/v1/agents")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert_error(http.get("/v1/agents", headers=auth("sk-wrong")), 401, "invalid")
        assert_error(http.get("/v1/agents", headers={"Authorization": "Basic abc"}), 401)
        assert_error(http.get("/v1/agents", headers={"Authorization": "Bearer " + "x" * 600}), 401)
        assert http.get("/v1/agents", headers={"X-API-Key": KEY_READ}).status_code == 200
        assert http.get("/v1/agents", headers=auth(KEY_ALL)).status_code == 200
        # auth comes before body validation
        assert_error(http.post("/v1/agents/assistant/invoke", content=b"{"), 401)


def test_scopes(server: Served) -> None:
    with server.client(KEY_READ) as reader, server.client(KEY_INVOKE) as invoker:
        body = assert_error(
            reader.post("/v1/agents/assistant/invoke", json={"message": "hi"}), 403, "scope"
        )
        assert body["details"]["required_scope"] == "agents:invoke"
        assert_error(reader.post("/v1/agents/assistant/stream", json={"message": "hi"}), 403)
        assert_error(reader.post("/v1/agents/assistant/sessions", json={}), 403)
        assert reader.get("/v1/runs").status_code == 200
        run = invoker.post("/v1/agents/assistant/invoke", json={"message": "hi"})
        assert run.status_code == 200
        assert_error(invoker.get("/v1/runs"), 403, "runs:read")
        assert_error(invoker.post("/v1/agents/assistant/sessions", json={}), 403)
        assert_error(
            invoker.post("/v1/agents/assistant/invoke", json={"message": "hi", "session_id": "s"}),
            403,
            "sessions:write",
        )


def test_dev_mode_needs_no_key(serve: ServeFactory) -> None:
    served = serve(settings=ServerSettings(dev=True, key_rate=None))
    with served.client(None) as http:
        assert http.get("/v1/agents").status_code == 200
        assert http.post("/v1/agents/assistant/invoke", json={"message": "hi"}).status_code == 200


def test_app_refuses_unsafe_setups() -> None:
    import agentspec
    from agentspec.server.app import create_app

    project = agentspec.load(QUICKSTART)
    with pytest.raises(ValueError, match="authenticator"):
        create_app(project)
    with pytest.raises(ValueError, match="loopback"):
        create_app(project, settings=ServerSettings(host="0.0.0.0", dev=True))
    with pytest.raises(ValueError, match="project or a runtime"):
        create_app()


# ---------------------------------------------------------------------------- rate limits


def test_key_rate_limit_headers_and_429(serve: ServeFactory) -> None:
    served = serve(settings=ServerSettings(key_rate=RateLimit(rate=0.2, burst=3)))
    with served.client() as http:
        remaining = []
        for _ in range(3):
            response = http.get("/v1/agents")
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "3"
            assert int(response.headers["x-ratelimit-reset"]) >= 1
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [2, 1, 0]
        limited = http.post("/v1/agents/assistant/invoke", json={"message": "hi"})
        body = assert_error(limited, 429, "rate limit")
        assert body["details"]["scope"] == "key"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-ratelimit-remaining"] == "0"
        # another key has its own bucket; health probes are never limited
        assert http.get("/v1/runs", headers=auth(KEY_READ)).status_code == 200
        assert http.get("/healthz").status_code == 200
        assert "x-ratelimit-limit" not in http.get("/healthz").headers


def test_agent_rate_limit(serve: ServeFactory) -> None:
    served = serve(settings=ServerSettings(key_rate=None, agent_rate=RateLimit(0.1, 2)))
    with served.client() as http, served.client(KEY_INVOKE) as other:
        assert http.post("/v1/agents/assistant/invoke", json={"message": "a"}).status_code == 200
        assert other.post("/v1/agents/assistant/invoke", json={"message": "b"}).status_code == 200
        limited = http.post("/v1/agents/assistant/invoke", json={"message": "c"})
        body = assert_error(limited, 429, 'agent "assistant"')
        assert body["details"]["scope"] == "agent"
        assert "retry-after" in limited.headers
        assert http.get("/v1/agents").status_code == 200  # not an agent route


# ---------------------------------------------------------------------------- openapi, shutdown


def test_openapi_documents_the_error_schema_and_no_422(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "agentspec"
    assert schema["info"]["version"]
    components = schema["components"]["schemas"]
    assert "ErrorBody" in components
    assert "HTTPValidationError" not in components
    assert components["InvokeRequest"]["examples"]
    paths = schema["paths"]
    for route in (
        "/healthz",
        "/v1/agents",
        "/v1/agents/{name}/invoke",
        "/v1/agents/{name}/stream",
        "/v1/agents/{name}/sessions",
        "/v1/agents/{name}/sessions/{session_id}",
        "/v1/runs",
        "/v1/runs/{run_id}",
        "/v1/runs/{run_id}/events",
        "/v1/runs/{run_id}/cancel",
    ):
        assert route in paths, route
    for methods in paths.values():
        for operation in methods.values():
            assert "422" not in operation["responses"]
    invoke = paths["/v1/agents/{name}/invoke"]["post"]["responses"]
    assert invoke["404"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert (
        "text/event-stream"
        in paths["/v1/agents/{name}/stream"]["post"]["responses"]["200"]["content"]
    )
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def _stored(url: str, run_id: str) -> tuple[Any, list[Any]]:
    async def read() -> tuple[Any, list[Any]]:
        store = open_store(url)
        await store.setup()
        try:
            return await store.get_run(run_id), await store.get_events(run_id)
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.parametrize(("grace", "status"), [(0.1, "cancelled"), (5.0, "completed")])
def test_shutdown_drains_then_cancels_runs_in_flight(
    serve: ServeFactory, slow_project: Path, tmp_path: Path, grace: float, status: str
) -> None:
    settings = ServerSettings(key_rate=None, shutdown_grace_seconds=grace)
    served = serve(slow_project, settings=settings, store="sqlite")
    with served.client() as http:
        with http.stream("POST", "/v1/agents/slow/stream", json={"message": "slow"}) as stream:
            run_id = stream.headers["x-run-id"]
        # the client is gone; the run goes on until the server stops
        time.sleep(0.1)
    served.stop()
    record, events = _stored(f"sqlite:///{tmp_path / 'server.db'}", run_id)
    assert record.status == status
    assert events[-1].type == ("run.failed" if status == "cancelled" else "run.completed")


# ---------------------------------------------------------------------------- agentspec serve


def _cli() -> typer.Typer:
    from agentspec.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    return app


def test_serve_refuses_dev_on_a_public_host() -> None:
    result = CliRunner().invoke(_cli(), [str(QUICKSTART), "--dev", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_serve_runs_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    result = CliRunner().invoke(
        _cli(), [str(QUICKSTART), "--dev", "--port", "9123", "--store", store]
    )
    assert result.exit_code == 0, result.output
    assert "authentication is off" in result.output
    app, options = calls[0]
    assert options["port"] == 9123
    assert options["host"] == "127.0.0.1"
    assert app.state.settings.dev is True
    result = CliRunner().invoke(
        _cli(), [str(QUICKSTART), "--workers", "2", "--store", store, "--model", "scripted"]
    )
    assert result.exit_code == 0, result.output
    target, options = calls[1]
    assert target == "agentspec.server.app:app_from_env"
    assert options["factory"] is True
    assert options["workers"] == 2
    monkeypatch.setenv("AGENTSPEC_SERVE_PROJECT", str(QUICKSTART))
    monkeypatch.setenv("AGENTSPEC_SERVE_OPTIONS", '{"dev": true, "store": "memory"}')
    from agentspec.server.app import app_from_env

    assert app_from_env().state.settings.dev is True


def test_serve_reports_spec_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), [str(tmp_path / "missing"), "--dev"])
    assert result.exit_code == 2
    result = CliRunner().invoke(
        _cli(), [str(QUICKSTART), "--workers", "2", "--store", "memory", "--dev"]
    )
    assert result.exit_code == 2
    assert "memory" in result.output
