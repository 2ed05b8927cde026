"""AnthropicModel against a real local HTTP server speaking the Messages API wire format."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from agentspec.exceptions import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    UsageError,
)
from agentspec.models.anthropic import AnthropicModel
from agentspec.models.base import (
    Message,
    ModelRequest,
    ModelResponse,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolDef,
)

from .wire_server import (
    ANTHROPIC_PATH,
    Reply,
    WireServer,
    anthropic_error,
    anthropic_stream,
    json_reply,
)

KEY = "sk-ant-test-123"
MODEL = "claude-test-2025-01-01"
WEATHER = ToolDef(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
MESSAGE_STOP = {"type": "message_stop"}
PING = {"type": "ping"}


def message_start(
    input_tokens: int = 25, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 1,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }


def text_start(index: int) -> dict[str, Any]:
    return {
        "type": "content_block_start",
        "index": index,
        "content_block": {"type": "text", "text": ""},
    }


def text_delta(index: int, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def tool_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    return {"type": "content_block_start", "index": index, "content_block": block}


def json_delta(index: int, partial: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": partial},
    }


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, output_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }


def message(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int
) -> dict[str, Any]:
    return {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 3, **usage},
    }


def text_stream(*pieces: str, **kwargs: Any) -> Reply:
    events = [message_start(), PING, text_start(0)]
    events += [text_delta(0, p) for p in pieces]
    events += [block_stop(0), message_delta("end_turn", 9), MESSAGE_STOP]
    return anthropic_stream(events, **kwargs)


def ask(text: str = "hi", stream: bool = True, **kwargs: Any) -> ModelRequest:
    return ModelRequest(system="", messages=[Message("user", text)], stream=stream, **kwargs)


async def collect(model: AnthropicModel, request: ModelRequest) -> list[StreamItem]:
    return [item async for item in model.stream(request)]


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
async def model(server: WireServer) -> AsyncIterator[AnthropicModel]:
    # Loopback HTTP only: skip loading the CA bundle for every test's client.
    async with httpx2.AsyncClient(verify=False) as client:
        m = AnthropicModel(
            "claude-test", api_key=KEY, base_url=server.url, timeout=5, http_client=client
        )
        yield m
        await m.aclose()


async def test_plain_text_non_stream(server: WireServer, model: AnthropicModel) -> None:
    server.push(
        json_reply(
            message(
                [{"type": "text", "text": "Hello there"}],
                cache_read_input_tokens=40,
                cache_creation_input_tokens=7,
            )
        )
    )
    items = await collect(model, ask(stream=False))
    assert len(items) == 1
    response = items[0]
    assert isinstance(response, ModelResponse)
    assert response.message.content == "Hello there"
    assert response.stop_reason == "end_turn"
    assert response.model == MODEL
    assert response.usage.to_dict() == {
        "input_tokens": 10,
        "output_tokens": 3,
        "cache_read_tokens": 40,
        "cache_write_tokens": 7,
    }
    received = server.last
    assert received.path == ANTHROPIC_PATH
    assert KEY in (received.headers.get("x-api-key"), received.headers.get("authorization", "")[7:])
    assert "anthropic-version" in received.headers
    assert received.json["max_tokens"] == 4096
    assert not received.json.get("stream")


async def test_plain_text_stream(server: WireServer, model: AnthropicModel) -> None:
    start = message_start(input_tokens=12, cache_read=100, cache_write=30)
    events = [start, PING, text_start(0), text_delta(0, "Hel"), text_delta(0, "lo")]
    events += [text_delta(0, " world"), block_stop(0), message_delta("end_turn", 9), MESSAGE_STOP]
    server.push(anthropic_stream(events))
    items = await collect(model, ask())
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hel", "lo", " world"]
    assert sum(isinstance(i, ModelResponse) for i in items) == 1
    response = items[-1]
    assert isinstance(response, ModelResponse)
    assert response.message.content == "Hello world"
    assert response.stop_reason == "end_turn"
    assert response.model == MODEL
    assert response.usage.to_dict() == {
        "input_tokens": 12,
        "output_tokens": 9,
        "cache_read_tokens": 100,
        "cache_write_tokens": 30,
    }
    assert server.last.json["stream"] is True


async def test_deltas_are_yielded_while_the_server_is_still_streaming(
    server: WireServer, model: AnthropicModel
) -> None:
    gate = threading.Event()
    reply = text_stream("first", " second", gate=gate, pause_at=4, max_pause=3)
    server.push(reply)
    items: list[StreamItem] = []
    async for item in model.stream(ask()):
        if not items:
            assert item == TextDelta("first")
            assert reply.sent == 4, "the first delta must arrive before the rest is sent"
            gate.set()
        items.append(item)
    assert isinstance(items[-1], ModelResponse)
    assert items[-1].message.content == "first second"


async def test_streamed_parallel_tool_calls_with_split_arguments(
    server: WireServer, model: AnthropicModel
) -> None:
    events = [message_start(), text_start(0), text_delta(0, "Checking."), block_stop(0)]
    events += [tool_start(1, "toolu_a", "get_weather"), json_delta(1, "")]
    events += [json_delta(1, '{"ci'), json_delta(1, 'ty": "Pa'), json_delta(1, 'ris"}')]
    events += [block_stop(1), tool_start(2, "toolu_b", "get_weather")]
    events += [json_delta(2, '{"city":'), json_delta(2, ' "Oslo"}'), block_stop(2)]
    events += [message_delta("tool_use", 40), MESSAGE_STOP]
    server.push(anthropic_stream(events))
    items = await collect(model, ask(tools=[WEATHER]))
    assert [i for i in items if isinstance(i, TextDelta)] == [TextDelta("Checking.")]
    response = items[-1]
    assert isinstance(response, ModelResponse)
    assert response.message.content == "Checking."
    assert response.message.tool_calls == [
        ToolCall("toolu_a", "get_weather", {"city": "Paris"}),
        ToolCall("toolu_b", "get_weather", {"city": "Oslo"}),
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage.output_tokens == 40


async def test_malformed_tool_arguments_are_kept_not_raised(
    server: WireServer, model: AnthropicModel
) -> None:
    events = [message_start(), tool_start(0, "toolu_bad", "get_weather")]
    events += [json_delta(0, '{"city": "Par'), block_stop(0)]
    events += [tool_start(1, "toolu_none", "get_time"), block_stop(1)]
    events += [message_delta("tool_use", 5), MESSAGE_STOP]
    server.push(anthropic_stream(events))
    response = (await collect(model, ask()))[-1]
    assert isinstance(response, ModelResponse)
    bad, empty = response.message.tool_calls
    assert bad.arguments is None
    assert bad.raw_arguments == '{"city": "Par'
    assert "not valid JSON" in bad.arguments_error
    assert empty == ToolCall("toolu_none", "get_time", {})


async def test_non_stream_tool_use(server: WireServer, model: AnthropicModel) -> None:
    server.push(
        json_reply(
            message(
                [
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
                "tool_use",
            )
        )
    )
    response = await model.request(ask(stream=False))
    assert response.message.content == "Let me check."
    assert response.message.tool_calls == [ToolCall("toolu_1", "get_weather", {"city": "Rome"})]
    assert response.stop_reason == "tool_use"


async def test_request_mapping(server: WireServer, model: AnthropicModel) -> None:
    server.push(json_reply(message([{"type": "text", "text": "done"}])))
    request = ModelRequest(
        system="You are terse.",
        messages=[
            Message("user", "Weather in Paris and Oslo?"),
            Message(
                "assistant",
                "Checking both.",
                tool_calls=[
                    ToolCall("toolu_a", "get_weather", {"city": "Paris"}),
                    ToolCall("toolu_b", "get_weather", None, '{"city": Oslo', "bad JSON"),
                ],
            ),
            Message("tool", "18C", tool_call_id="toolu_a", name="get_weather"),
            Message("tool", "bad arguments", tool_call_id="toolu_b", is_error=True),
            Message("user", "Thanks, and tomorrow?"),
        ],
        tools=[WEATHER],
        temperature=0.2,
        max_tokens=256,
        stream=False,
    )
    await model.request(request)
    body = server.last.json
    assert body["model"] == "claude-test"
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Oslo?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": "bad arguments",
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks, and tomorrow?"},
            ],
        },
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.2


async def test_empty_turns_are_dropped_and_neighbours_merged(
    server: WireServer, model: AnthropicModel
) -> None:
    server.push(json_reply(message([{"type": "text", "text": "ok"}])))
    request = ModelRequest(
        system="",
        messages=[Message("user", "first"), Message("assistant", ""), Message("user", "second")],
        stream=False,
    )
    await model.request(request)
    assert server.last.json["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        }
    ]


async def test_optional_fields_are_omitted(server: WireServer) -> None:
    model = AnthropicModel("claude-test", api_key=KEY, base_url=server.url, max_tokens=1000)
    server.push(json_reply(message([{"type": "text", "text": "ok"}])))
    try:
        await model.request(ask(stream=False))
    finally:
        await model.aclose()
    body = server.last.json
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["max_tokens"] == 1000
    for key in ("system", "tools", "temperature"):
        assert key not in body


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reasons(
    server: WireServer, model: AnthropicModel, stop_reason: str, expected: str
) -> None:
    server.push(json_reply(message([{"type": "text", "text": "x"}], stop_reason)))
    response = await model.request(ask(stream=False))
    assert response.stop_reason == expected


async def test_wrong_key_is_an_auth_error(server: WireServer) -> None:
    model = AnthropicModel("claude-test", api_key="sk-ant-wrong", base_url=server.url)
    try:
        with pytest.raises(ModelAuthError) as info:
            await collect(model, ask())
    finally:
        await model.aclose()
    err = info.value
    assert str(err) == "anthropic: 401 unauthorized: invalid x-api-key"
    assert (err.provider, err.status, err.retryable) == ("anthropic", 401, False)
    assert isinstance(err.__cause__, anthropic.AuthenticationError)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("reply", "error_class", "status", "retry_after", "text"),
    [
        (
            anthropic_error(403, "permission_error", "No access to model"),
            ModelAuthError,
            403,
            None,
            "403 forbidden: No access to model",
        ),
        (
            anthropic_error(429, "rate_limit_error", "Rate limited", {"Retry-After": "7"}),
            ModelRateLimited,
            429,
            7.0,
            "429 too many requests: Rate limited",
        ),
        (
            anthropic_error(400, "invalid_request_error", "max_tokens: must be positive"),
            ModelBadRequest,
            400,
            None,
            "400 bad request: max_tokens: must be positive",
        ),
        (
            anthropic_error(404, "not_found_error", "model: claude-nope"),
            ModelBadRequest,
            404,
            None,
            "404 not found",
        ),
        (
            anthropic_error(500, "api_error", "Internal server error"),
            ModelUnavailable,
            500,
            None,
            "500 internal server error",
        ),
        (
            anthropic_error(529, "overloaded_error", "Overloaded", {"retry-after": "2"}),
            ModelUnavailable,
            529,
            2.0,
            "anthropic: 529 overloaded: Overloaded",
        ),
    ],
)
async def test_http_errors_are_mapped(
    server: WireServer,
    model: AnthropicModel,
    stream: bool,
    reply: Reply,
    error_class: type[ModelError],
    status: int,
    retry_after: float | None,
    text: str,
) -> None:
    server.push(reply)
    with pytest.raises(error_class) as info:
        await collect(model, ask(stream=stream))
    err = info.value
    assert type(err) is error_class
    assert (err.provider, err.status, err.retry_after) == ("anthropic", status, retry_after)
    assert err.retryable is (error_class in (ModelRateLimited, ModelUnavailable))
    assert text in str(err)
    assert isinstance(err.__cause__, anthropic.APIStatusError)


@pytest.mark.parametrize(
    ("error_type", "error_class", "status"),
    [
        ("overloaded_error", ModelUnavailable, 529),
        ("rate_limit_error", ModelRateLimited, 429),
        ("api_error", ModelUnavailable, 500),
        ("invalid_request_error", ModelBadRequest, 400),
    ],
)
async def test_error_event_in_the_middle_of_a_stream(
    server: WireServer,
    model: AnthropicModel,
    error_type: str,
    error_class: type[ModelError],
    status: int,
) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "Something broke"}}
    events = [message_start(), text_start(0), text_delta(0, "Partial"), error]
    server.push(anthropic_stream(events))
    items: list[StreamItem] = []
    with pytest.raises(error_class) as info:
        async for item in model.stream(ask()):
            items.append(item)
    assert items == [TextDelta("Partial")]
    err = info.value
    assert type(err) is error_class
    assert (err.provider, err.status) == ("anthropic", status)
    assert str(err) == f"anthropic: stream error {error_type}: Something broke"


@pytest.mark.parametrize("stream", [True, False])
async def test_slow_server_times_out(server: WireServer, stream: bool) -> None:
    model = AnthropicModel("claude-test", api_key=KEY, base_url=server.url, timeout=0.3)
    server.push(Reply(body=message([{"type": "text", "text": "late"}]), delay=3))
    started = time.monotonic()
    try:
        with pytest.raises(ModelTimeout) as info:
            await collect(model, ask(stream=stream))
    finally:
        await model.aclose()
    assert time.monotonic() - started < 2
    assert info.value.retryable
    assert info.value.provider == "anthropic"


async def test_stalled_stream_times_out_after_partial_output(server: WireServer) -> None:
    model = AnthropicModel("claude-test", api_key=KEY, base_url=server.url, timeout=0.3)
    server.push(text_stream("partial", " rest", gate=threading.Event(), pause_at=4, max_pause=3))
    items: list[StreamItem] = []
    try:
        with pytest.raises(ModelTimeout):
            async for item in model.stream(ask()):
                items.append(item)
    finally:
        await model.aclose()
    assert items == [TextDelta("partial")]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_200_that_is_not_a_message_is_an_error(
    server: WireServer, model: AnthropicModel, stream: bool
) -> None:
    server.push(json_reply("<html>proxy login</html>"))
    with pytest.raises(ModelError, match="anthropic: malformed response") as info:
        await collect(model, ask(stream=stream))
    assert type(info.value) is ModelError
    assert not info.value.retryable


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = AnthropicModel("claude-test", api_key=KEY, base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ModelUnavailable) as info:
            await collect(model, ask())
    finally:
        await model.aclose()
    assert info.value.retryable
    assert str(info.value).startswith("anthropic: connection failed")


def test_missing_api_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelAuthError) as info:
        AnthropicModel("claude-sonnet-4-6")
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert info.value.provider == "anthropic"


async def test_custom_base_url_without_key_never_sends_the_env_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    with WireServer() as local:
        local.push(text_stream("ok"))
        model = AnthropicModel("claude-local", base_url=local.url)
        try:
            response = await model.request(ask())
        finally:
            await model.aclose()
        assert model._client.is_closed()
    assert response.message.content == "ok"
    sent = " ".join(local.last.headers.values())
    assert "sk-ant-from-env" not in sent
    assert "not-needed" in sent


async def test_http_client_types(server: WireServer) -> None:
    async with httpx.AsyncClient() as legacy:
        with pytest.raises(UsageError, match="httpx2"):
            AnthropicModel("claude-test", api_key=KEY, base_url=server.url, http_client=legacy)
    async with httpx2.AsyncClient(headers={"x-trace": "abc"}) as client:
        model = AnthropicModel("claude-test", api_key=KEY, base_url=server.url, http_client=client)
        server.push(text_stream("ok"))
        assert (await model.request(ask())).message.content == "ok"
        await model.aclose()
        assert not client.is_closed
    assert server.last.headers["x-trace"] == "abc"
