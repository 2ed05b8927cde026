"""Streaming: the contract's SSE events, keep-alives, disconnects, run-event SSE with resume."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from agentspec.engine.events import Event
from agentspec.server.settings import ServerSettings
from agentspec.server.sse import ContractEncoder, encode_contract, run_event_sse, sse
from tests.server.conftest import QUESTION, Served, ServeFactory, parse_sse
from tests.server.test_api import wait_for_status


def stream(http: httpx.Client, agent: str, message: str) -> tuple[httpx.Response, list[Any]]:
    response = http.post(f"/v1/agents/{agent}/stream", json={"message": message})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response, parse_sse(response.text)


# ---------------------------------------------------------------------------- the encoder


def _event(seq: int, kind: str, **data: Any) -> Event:
    return Event("run_1", seq, 0.0, kind, data)


def test_encoder_is_a_pure_mapping() -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 2}
    events = [
        _event(1, "run.started", agent="a", session_id="sess_1"),
        _event(2, "model.request", turn=1),
        _event(3, "model.response", turn=1, message={"role": "assistant", "content": "Hm."}),
        _event(4, "tool.call", turn=1, call_id="c1", name="add", arguments={"a": 1}),
        _event(5, "tool.result", turn=1, call_id="c1", name="add", output=2, error=""),
        _event(6, "tool.result", turn=1, call_id="c2", name="x", output=None, error="boom"),
        _event(7, "model.text", turn=2, text="It "),
        _event(8, "model.text", turn=2, text="is 2."),
        _event(9, "model.response", turn=2, message={"role": "assistant", "content": "It is 2."}),
        _event(10, "run.completed", output="It is 2.", turns=2, usage=usage, duration_ms=3.5),
        _event(11, "run.failed", error="timeout", message="late"),
    ]
    encoded = encode_contract(events)
    assert encoded == encode_contract(events)
    assert [name for name, _ in encoded] == [
        "text",
        "tool_call_start",
        "tool_call_end",
        "tool_call_end",
        "text",
        "text",
        "done",
    ]
    assert encoded[0][1] == {"text": "Hm."}  # a turn that did not stream sends its text whole
    assert encoded[1][1] == {"id": "c1", "tool_name": "add", "input": {"a": 1}}
    assert encoded[2][1] == {"id": "c1", "output": 2, "duration_ms": 0.0}
    assert encoded[3][1]["error"] == "boom"
    assert encoded[-1][1] == {
        "tokens": {"input": 10, "output": 5, "cache_read": 2, "total": 17},
        "turns": 2,
        "duration_ms": 3.5,
        "session_id": "sess_1",
        "run_id": "run_1",
    }


def test_encoder_failure_gives_error_then_done() -> None:
    encoded = encode_contract(
        [
            _event(1, "run.started", agent="a"),
            _event(2, "run.failed", error="cancelled", message="the run was cancelled", turns=0),
        ]
    )
    assert encoded[0] == ("error", {"error": "conflict", "message": "the run was cancelled"})
    assert encoded[1][0] == "done"
    encoder = ContractEncoder()
    assert [n for n, _ in encoder.fail("run_1", "unavailable", "down")] == ["error", "done"]
    assert encoder.fail("run_1", "unavailable", "down") == []


def test_sse_wire_format() -> None:
    assert sse("text", {"text": "a\nb"}) == b'event: text\ndata: {"text":"a\\nb"}\n\n'
    wire = run_event_sse(_event(7, "model.text", turn=1, text="hé"))
    assert wire.startswith(b"event: model.text\nid: 7\ndata: {")
    assert "hé".encode() in wire


# ---------------------------------------------------------------------------- the stream


def test_stream_matches_invoke(client: httpx.Client) -> None:
    invoked = client.post("/v1/agents/assistant/invoke", json={"message": QUESTION}).json()
    response, events = stream(client, "assistant", QUESTION)
    names = [name for name, _, _ in events]
    assert names[-1] == "done"
    assert names.count("done") == 1
    assert "error" not in names
    text = "".join(data["text"] for name, data, _ in events if name == "text")
    assert text == invoked["output"]
    starts = {d["id"]: d for n, d, _ in events if n == "tool_call_start"}
    ends = {d["id"]: d for n, d, _ in events if n == "tool_call_end"}
    assert set(starts) == set(ends) and len(starts) == 2
    assert {d["tool_name"] for d in starts.values()} == {"add", "word_count"}
    for call_id, start in starts.items():
        assert names.index("tool_call_start") < names.index("tool_call_end")
        assert set(start) == {"id", "tool_name", "input"}
        assert set(ends[call_id]) >= {"id", "output", "duration_ms"}
    done = events[-1][1]
    assert done["turns"] == 2
    assert done["session_id"] == ""
    assert done["tokens"] == invoked["tokens"]
    assert done["run_id"] == response.headers["x-run-id"]
    run = client.get(f"/v1/runs/{done['run_id']}").json()
    assert run["status"] == "completed"


def test_stream_in_a_session(client: httpx.Client) -> None:
    sid = client.post("/v1/agents/assistant/sessions", json={}).json()["session_id"]
    response = client.post(
        "/v1/agents/assistant/stream", json={"message": "What is 1 + 1?", "session_id": sid}
    )
    events = parse_sse(response.text)
    assert events[-1][1]["session_id"] == sid


def test_error_mid_stream_is_error_then_done(serve: ServeFactory, slow_project: Path) -> None:
    with serve(slow_project).client() as http:
        _, events = stream(http, "slow", "nap then fail")
        names = [name for name, _, _ in events]
        assert names == ["tool_call_start", "tool_call_end", "error", "done"]
        assert events[1][1]["output"] == "rested"
        error = events[2][1]
        assert error["error"] == "invalid_request"
        assert "boom after the nap" in error["message"]
        assert events[3][1]["turns"] == 2  # the failed turn counts
        _, events = stream(http, "hasty", "slow please")
        assert [name for name, _, _ in events] == ["error", "done"]
        assert events[0][1]["error"] == "timeout"


def test_keepalive_comments_while_quiet(serve: ServeFactory, slow_project: Path) -> None:
    settings = ServerSettings(key_rate=None, keepalive_seconds=0.1)
    with serve(slow_project, settings=settings).client() as http:
        response = http.post("/v1/agents/slow/stream", json={"message": "slow"})
        assert response.text.count(": keep-alive\n\n") >= 3
        assert parse_sse(response.text)[-1][0] == "done"


def _disconnect_mid_stream(served: Served, message: str) -> str:
    with (
        served.client() as http,
        http.stream("POST", "/v1/agents/slow/stream", json={"message": message}) as response,
    ):
        run_id = response.headers["x-run-id"]
        for line in response.iter_lines():
            if line.startswith("event: tool_call_start"):
                break
    return run_id


def test_a_client_that_disconnects_leaves_a_completed_run(
    serve: ServeFactory, slow_project: Path
) -> None:
    served = serve(slow_project)
    run_id = _disconnect_mid_stream(served, "nap please")
    with served.client() as http:
        run = wait_for_status(http, run_id, {"completed", "failed", "cancelled"})
        assert run["status"] == "completed"
        assert run["output"] == "I napped and feel rested."


def test_cancel_on_disconnect(serve: ServeFactory, slow_project: Path) -> None:
    settings = ServerSettings(key_rate=None, cancel_on_disconnect=True)
    served = serve(slow_project, settings=settings)
    run_id = _disconnect_mid_stream(served, "nap please")
    with served.client() as http:
        run = wait_for_status(http, run_id, {"completed", "failed", "cancelled"})
        assert run["status"] == "cancelled"
        events = http.get(f"/v1/runs/{run_id}/events").json()
        assert events[-1]["type"] == "run.failed"


async def test_a_hundred_concurrent_streams_all_get_done(server: Served) -> None:
    limits = httpx.Limits(max_connections=120, max_keepalive_connections=120)
    async with server.aclient(limits=limits) as http:

        async def one(i: int) -> list[Any]:
            response = await http.post(
                "/v1/agents/assistant/stream", json={"message": f"What is {i} + 1?"}
            )
            assert response.status_code == 200
            return parse_sse(response.text)

        results = await asyncio.gather(*(one(i) for i in range(100)))
    for i, events in enumerate(results):
        assert events[-1][0] == "done"
        text = "".join(d["text"] for n, d, _ in events if n == "text")
        assert text == f"{i} + 1 = {i + 1}."


# ---------------------------------------------------------------------------- run events as SSE


def test_run_events_sse_and_resume(client: httpx.Client) -> None:
    run_id = client.post("/v1/agents/assistant/invoke", json={"message": QUESTION}).json()["run_id"]
    sse_headers = {"Accept": "text/event-stream"}
    full = client.get(f"/v1/runs/{run_id}/events", headers=sse_headers)
    assert full.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(full.text)
    stored = client.get(f"/v1/runs/{run_id}/events").json()
    assert [data for _, data, _ in events] == stored
    assert [event_id for _, _, event_id in events] == [str(e["seq"]) for e in stored]
    assert [name for name, _, _ in events] == [e["type"] for e in stored]
    resumed = parse_sse(
        client.get(f"/v1/runs/{run_id}/events", headers={**sse_headers, "Last-Event-ID": "3"}).text
    )
    assert resumed[0][2] == "4"
    assert resumed[-1][0] == "run.completed"
    after = parse_sse(
        client.get(f"/v1/runs/{run_id}/events", headers=sse_headers, params={"after": 5}).text
    )
    assert after[0][2] == "6"
    bad = client.get(f"/v1/runs/{run_id}/events", headers={**sse_headers, "Last-Event-ID": "x"})
    assert bad.status_code == 400


def test_follow_a_live_run(serve: ServeFactory, slow_project: Path) -> None:
    served = serve(slow_project)
    with (
        served.client() as http,
        http.stream("POST", "/v1/agents/slow/stream", json={"message": "nap"}) as running,
    ):
        run_id = running.headers["x-run-id"]
        followed = http.get(f"/v1/runs/{run_id}/events", headers={"Accept": "text/event-stream"})
        running.read()
    events = parse_sse(followed.text)
    assert [int(event_id or 0) for _, _, event_id in events] == list(range(1, len(events) + 1))
    assert events[0][0] == "run.started"
    assert events[-1][0] == "run.completed"
    assert "tool.result" in [name for name, _, _ in events]


def test_follow_resumes_mid_run(serve: ServeFactory, slow_project: Path) -> None:
    served = serve(slow_project)
    with (
        served.client() as http,
        http.stream("POST", "/v1/agents/slow/stream", json={"message": "nap"}) as running,
    ):
        run_id = running.headers["x-run-id"]
        time.sleep(0.2)  # the nap is in progress
        live = http.get(f"/v1/runs/{run_id}").json()
        assert live["status"] == "running"
        followed = http.get(
            f"/v1/runs/{run_id}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": "2"},
        )
        running.read()
    ids = [int(event_id or 0) for _, _, event_id in parse_sse(followed.text)]
    assert ids[0] == 3
    assert ids == list(range(3, ids[-1] + 1))
