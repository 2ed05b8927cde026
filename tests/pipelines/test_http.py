"""``POST /v1/pipelines/{name}/run`` on a real server, and the SDK's ``run_pipeline``."""

from __future__ import annotations

from pathlib import Path

import httpx

from agentspec.sdk import AsyncClient, Client
from tests.conftest import EXAMPLES
from tests.pipelines.helpers import write_project
from tests.server.conftest import KEY_INVOKE, KEY_READ, ServeFactory, serve  # noqa: F401

EXAMPLE = EXAMPLES / "pipeline"


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert set(body) == {"error", "message", "details"}
    assert response.headers["x-request-id"]
    return body


def test_run_returns_the_contract_result(serve: ServeFactory) -> None:  # noqa: F811
    served = serve(EXAMPLE, store="sqlite")
    with served.client() as http:
        response = http.post(
            "/v1/pipelines/code-review/run", json={"trigger": {"code": "eval(input())"}}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["pipeline"] == "code-review"
        assert body["status"] == "completed"
        assert isinstance(body["total_duration_ms"], float)
        assert body["tokens"]["total"] > 0
        assert list(body["steps"]) == ["security", "style", "summary"]
        step = body["steps"]["summary"]
        assert {k: step[k] for k in ("agent", "status", "error")} == {
            "agent": "summarizer",
            "status": "completed",
            "error": "",
        }
        assert step["output"].startswith("Request changes.")
        assert response.headers["x-run-id"] == body["run_id"]
        run = http.get(f"/v1/runs/{body['run_id']}").json()
        assert run["status"] == "completed"
        events = http.get(f"/v1/runs/{body['run_id']}/events").json()
        types = [e["type"] for e in (events["events"] if isinstance(events, dict) else events)]
        assert types.count("step.completed") == 3
        child = http.get(f"/v1/runs/{step['run_id']}").json()
        assert child["status"] == "completed"
        schema = http.get("/openapi.json").json()
        operation = schema["paths"]["/v1/pipelines/{name}/run"]["post"]
        assert "404" in operation["responses"] and "422" not in operation["responses"]


def test_errors_use_the_contract_shape(serve: ServeFactory, tmp_path: Path) -> None:  # noqa: F811
    served = serve(EXAMPLE)
    with served.client() as http:
        body = error_of(http.post("/v1/pipelines/code-reviw/run", json={"trigger": {}}), 404)
        assert body["error"] == "not_found"
        assert body["message"] == 'unknown pipeline "code-reviw" (did you mean "code-review"?)'
        body = error_of(http.post("/v1/pipelines/code-review/run", json={"trigger": [1]}), 400)
        assert body["error"] == "invalid_request"
        body = error_of(http.post("/v1/pipelines/code-review/run", json={"trigger": {}}), 400)
        assert (
            body["message"]
            == 'step "security": the trigger has no field "code" (used in its input)'
        )
        details = body["details"]
        assert isinstance(details, dict) and details["step"] == "security"
        body = error_of(
            http.post("/v1/pipelines/code-review/run", json={"trigger": {}, "x": 1}), 400
        )
        assert "x" in str(body["details"])
    with served.client(KEY_READ) as http:
        body = error_of(http.post("/v1/pipelines/code-review/run", json={"trigger": {}}), 403)
        assert body["error"] == "forbidden"
    with served.client(None) as http:
        error_of(http.post("/v1/pipelines/code-review/run", json={"trigger": {}}), 401)
    with served.client(KEY_INVOKE) as http:
        ok = http.post("/v1/pipelines/code-review/run", json={"trigger": {"code": "x"}})
        assert ok.status_code == 200 and ok.json()["status"] == "completed"


def test_a_failed_pipeline_is_an_answer(serve: ServeFactory, tmp_path: Path) -> None:  # noqa: F811
    pipelines = """\
    bad:
      steps:
        crash: {agent: boom}
        long: {agent: sleepy}
        after: {agent: fast, depends_on: [crash]}
    """
    served = serve(write_project(tmp_path / "p", pipelines))
    with served.client() as http:
        body = http.post("/v1/pipelines/bad/run", json={"trigger": {}}).json()
    assert body["status"] == "failed"
    assert {n: s["status"] for n, s in body["steps"].items()} == {
        "crash": "failed",
        "long": "cancelled",
        "after": "skipped",
    }
    assert "analyst exploded" in body["steps"]["crash"]["error"]


async def test_sdk_clients(serve: ServeFactory) -> None:  # noqa: F811
    served = serve(EXAMPLE)
    with Client(served.url, api_key="sk-test-all") as client:
        result = client.run_pipeline("code-review", {"code": "print(1)"})
        assert result["status"] == "completed"
        assert result["steps"]["summary"]["output"].startswith("Approve.")
    async with AsyncClient(served.url, api_key="sk-test-all") as aclient:
        result = await aclient.run_pipeline("code-review", {"code": "eval(x)"})
        assert result["steps"]["security"]["output"].startswith("HIGH")


async def test_cancel_a_running_pipeline_over_http(
    serve: ServeFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    import asyncio

    pipelines = (
        "nap:\n  steps:\n    long: {agent: sleepy}\n    after: {agent: fast, depends_on: [long]}\n"
    )
    served = serve(write_project(tmp_path / "p", pipelines))
    async with served.aclient() as http:
        running = asyncio.ensure_future(http.post("/v1/pipelines/nap/run", json={"trigger": {}}))
        run_id = ""
        for _ in range(100):
            await asyncio.sleep(0.02)
            page = (await http.get("/v1/runs", params={"status": "running"})).json()
            runs = page["runs"] if isinstance(page, dict) else page
            found = [r for r in runs if r.get("agent") == "nap"]
            if found:
                run_id = found[0].get("run_id") or found[0].get("id")
                break
        assert run_id, "the pipeline run never showed up as running"
        cancelled = await http.post(f"/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        body = (await running).json()
    assert body["status"] == "cancelled"
    assert body["steps"]["long"]["status"] == "cancelled"
    assert body["steps"]["after"]["status"] == "skipped"
