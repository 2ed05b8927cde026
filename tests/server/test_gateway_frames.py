"""Gateway frames as pure functions of requests and run events."""

from __future__ import annotations

from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.exceptions import UsageError
from agentspec.server.gateway_frames import (
    Conversation,
    Request,
    StreamEncoder,
    conversation,
    frames_for,
    parse_frame,
    reply,
)
from agentspec.server.gateway_sessions import SessionTable


def event(kind: str, **data: Any) -> Event:
    return Event("run_1", 1, 0.0, kind, data)


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": value}


# ---------------------------------------------------------------------- requests


def test_replies() -> None:
    assert reply("1", "pong") == {"id": "1", "result": "pong", "error": None}
    assert reply("1", "ignored", error="bad") == {"id": "1", "result": None, "error": "bad"}
    assert reply("1") == {"id": "1", "result": None, "error": None}


def test_parse_a_request() -> None:
    assert parse_frame(text('{"id": "1", "method": "ping"}')) == Request("1", "ping", {})
    parsed = parse_frame(text('{"id": 7, "method": "x", "params": {"a": 1}, "extra": 0}'))
    assert parsed == Request(7, "x", {"a": 1})
    assert parse_frame(text('{"id": "1", "method": "x", "params": null}')) == Request("1", "x", {})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (text("nope"), "invalid JSON: Expecting value at line 1 column 1"),
        (text(""), "invalid JSON: Expecting value at line 1 column 1"),
        (text("[" * 100_000), "invalid JSON"),
        (text('"a string"'), "invalid request: a frame must be a JSON object"),
        (text("null"), "invalid request: a frame must be a JSON object"),
        (text('{"method": "ping"}'), 'invalid request: "id" must be a non-empty string'),
        (text('{"id": "", "method": "ping"}'), 'invalid request: "id" must be a non-empty string'),
        (text('{"id": true, "method": "p"}'), 'invalid request: "id" must be a non-empty string'),
        (text('{"id": [1], "method": "p"}'), 'invalid request: "id" must be a non-empty string'),
        ({"type": "websocket.receive", "bytes": b"{}"}, "invalid frame: binary frames"),
        ({"type": "websocket.receive", "bytes": b"\xc3\x28"}, "invalid frame: not valid UTF-8"),
        ({"type": "websocket.receive"}, "invalid frame: empty message"),
    ],
)
def test_frames_that_are_not_requests_get_id_0(message: dict[str, Any], expected: str) -> None:
    answer = parse_frame(message)
    assert isinstance(answer, dict)
    assert answer["id"] == "0" and answer["result"] is None
    assert answer["error"].startswith(expected)


def test_bad_method_or_params_keep_the_request_id() -> None:
    assert parse_frame(text('{"id": "5", "method": 3}')) == reply(
        "5", error='invalid request: "method" must be a non-empty string'
    )
    assert parse_frame(text('{"id": "5", "method": "m", "params": [1]}')) == reply(
        "5", error='invalid request: "params" must be an object'
    )


def test_frame_size_limit() -> None:
    big = '{"id": "1", "method": "ping", "pad": "' + "é" * 40 + '"}'
    assert len(big) < 100 < len(big.encode()) < 130
    assert isinstance(parse_frame(text(big), max_bytes=130), Request)
    refused = parse_frame(text(big), max_bytes=100)
    assert refused == reply("0", error="invalid frame: larger than 100 bytes")


def test_conversation_params() -> None:
    assert conversation({"channel": "c", "account": "a"}) == Conversation("c", "a", "main")
    assert conversation(
        {"channel": "c", "account": "a", "peer": "p", "guild": "g", "team": "t", "x": 1}
    ) == Conversation("c", "a", "p", "g", "t")
    assert conversation({"channel": "c", "account": "a", "peer": None}).peer == "main"
    with pytest.raises(UsageError, match='"account" must be a non-empty string'):
        conversation({"channel": "c"})
    with pytest.raises(UsageError, match='"peer" must be a non-empty string'):
        conversation({"channel": "c", "account": "a", "peer": 5})
    with pytest.raises(UsageError, match='"guild" must be a non-empty string when given'):
        conversation({"channel": "c", "account": "a", "guild": ""})


# ---------------------------------------------------------------------- events


def test_frames_for_each_event_type() -> None:
    assert frames_for("r", event(ev.MODEL_TEXT, turn=1, text="Hel")) == [
        {"id": "r", "event": "text", "data": "Hel"}
    ]
    assert frames_for("r", event(ev.MODEL_TEXT, turn=1, text="")) == []
    call = event(ev.TOOL_CALL, turn=1, call_id="tc_1", name="add", arguments={"a": 1})
    assert frames_for("r", call) == [
        {"id": "r", "event": "tool_use", "data": {"id": "tc_1", "name": "add", "input": {"a": 1}}}
    ]
    bad_call = event(ev.TOOL_CALL, turn=1, call_id="tc_2", name="add", arguments=None)
    assert frames_for("r", bad_call)[0]["data"]["input"] == {}
    ok = event(ev.TOOL_RESULT, turn=1, call_id="tc_1", name="add", output={"n": 3}, error="")
    assert frames_for("r", ok) == [
        {"id": "r", "event": "tool_result", "data": {"tool_use_id": "tc_1", "content": '{"n": 3}'}}
    ]
    plain = event(ev.TOOL_RESULT, turn=1, call_id="tc_1", name="x", output="done", error="")
    assert frames_for("r", plain)[0]["data"]["content"] == "done"
    failed = event(ev.TOOL_RESULT, turn=1, call_id="tc_1", name="add", output=None, error="boom")
    assert frames_for("r", failed)[0]["data"] == {
        "tool_use_id": "tc_1",
        "content": "boom",
        "is_error": True,
    }
    usage = {"input_tokens": 10, "output_tokens": 4, "cache_read_tokens": 2}
    response = event(ev.MODEL_RESPONSE, turn=1, message={"content": "x"}, usage=usage)
    assert frames_for("r", response) == [
        {"id": "r", "event": "usage", "data": {"input_tokens": 10, "output_tokens": 4}}
    ]
    run_failed = event(ev.RUN_FAILED, error="timeout", message="run timed out after 1s")
    assert frames_for("r", run_failed) == [
        {"id": "r", "event": "error", "data": "run timed out after 1s"},
        {"id": "r", "event": "done"},
    ]
    assert frames_for("r", event(ev.RUN_COMPLETED, output="x")) == [{"id": "r", "event": "done"}]
    for quiet in (ev.RUN_STARTED, ev.MODEL_REQUEST, ev.MODEL_RETRY, ev.BUDGET_EXCEEDED):
        assert frames_for("r", event(quiet)) == []


def test_the_encoder_sends_a_non_streamed_answer_as_one_text_frame() -> None:
    encoder = StreamEncoder("r")
    response = event(ev.MODEL_RESPONSE, turn=1, message={"content": "all of it"}, usage={})
    assert [f["event"] for f in encoder.feed(response)] == ["text", "usage"]
    assert encoder.feed(response)[0]["data"] == "all of it"


def test_the_encoder_does_not_repeat_streamed_text() -> None:
    encoder = StreamEncoder("r")
    encoder.feed(event(ev.MODEL_TEXT, turn=1, text="all of it"))
    response = event(ev.MODEL_RESPONSE, turn=1, message={"content": "all of it"}, usage={})
    assert [f["event"] for f in encoder.feed(response)] == ["usage"]
    encoder.feed(event(ev.RUN_FALLBACK, **{"from": "a", "to": "b"}))
    assert [f["event"] for f in encoder.feed(response)] == ["text", "usage"]


def test_the_encoder_ends_with_exactly_one_done() -> None:
    encoder = StreamEncoder("r")
    assert encoder.feed(event(ev.RUN_COMPLETED, output="x")) == [{"id": "r", "event": "done"}]
    assert encoder.done
    assert encoder.feed(event(ev.MODEL_TEXT, turn=2, text="late")) == []
    assert encoder.finish("ignored") == []
    cut = StreamEncoder("q")
    assert cut.finish("the store failed") == [
        {"id": "q", "event": "error", "data": "the store failed"},
        {"id": "q", "event": "done"},
    ]
    assert StreamEncoder("z").finish() == [{"id": "z", "event": "done"}]


# ---------------------------------------------------------------------- session table


def test_session_table() -> None:
    table = SessionTable(limit=2)
    where = Conversation("cli", "me", "a")
    table.begin("x:cli:me:a", "x", where)
    table.begin("x:cli:me:a", "x", where)
    assert len(table) == 1
    info = table.get("x:cli:me:a")
    assert info is not None and (info.runs, info.in_flight) == (2, 2)
    table.end("x:cli:me:a")
    table.end("x:cli:me:a")
    table.end("x:cli:me:a")
    assert info.in_flight == 0
    table.begin("x:cli:me:b", "x", Conversation("cli", "me", "b"))
    table.begin("y:cli:me:a", "y", where)
    assert [s["key"] for s in table.listing()] == ["x:cli:me:b", "y:cli:me:a"]
    assert [s.key for s in table.find("cli", "me", "a")] == ["y:cli:me:a"]
    table.drop("y:cli:me:a")
    assert len(table) == 1


def test_the_session_table_keeps_busy_sessions() -> None:
    table = SessionTable(limit=1)
    table.begin("a", "x", Conversation("c", "a"))
    table.begin("b", "x", Conversation("c", "b"))
    assert len(table) == 2
    table.end("a")
    table.begin("c", "x", Conversation("c", "c"))
    assert sorted(s["key"] for s in table.listing()) == ["b", "c"]
