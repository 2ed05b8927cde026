"""OpenAIModel against a real local HTTP server speaking the Chat Completions wire format."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import openai
import pytest

from agentspec.exceptions import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from agentspec.models.base import (
    Message,
    ModelRequest,
    ModelResponse,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolDef,
)
from agentspec.models.openai import OpenAIModel

from .wire_server import (
    OPENAI_PATH,
    Reply,
    WireServer,
    json_reply,
    openai_error,
    openai_stream,
)

KEY = "sk-test-123"
WEATHER = ToolDef(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-test-2024-01-01",
        "choices": [],
    }
    if delta is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return body


def tool_piece(index: int, args: str, call_id: str = "", name: str = "") -> dict[str, Any]:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        piece.update(id=call_id, type="function")
        piece["function"]["name"] = name
    return {"tool_calls": [piece]}


def completion(
    content: str | None = "",
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str = "stop",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-test-2024-01-01",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }


def wire_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def ask(text: str = "hi", stream: bool = True, **kwargs: Any) -> ModelRequest:
    return ModelRequest(system="", messages=[Message("user", text)], stream=stream, **kwargs)


async def collect(model: OpenAIModel, request: ModelRequest) -> list[StreamItem]:
    return [item async for item in model.stream(request)]


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
async def model(server: WireServer) -> AsyncIterator[OpenAIModel]:
    # Loopback HTTP only: skip loading the CA bundle for every test's client.
    async with httpx2.AsyncClient(verify=False) as client:
        m = OpenAIModel(
            "gpt-test", api_key=KEY, base_url=server.url + "/v1", timeout=5, http_client=client
        )
        yield m
        await m.aclose()


async def test_plain_text_non_stream(server: WireServer, model: OpenAIModel) -> None:
    server.push(json_reply(completion("Hello there")))
    items = await collect(model, ask(stream=False))
    assert len(items) == 1
    response = items[0]
    assert isinstance(response, ModelResponse)
    assert response.message.role == "assistant"
    assert response.message.content == "Hello there"
    assert response.message.tool_calls == []
    assert response.stop_reason == "end_turn"
    assert response.model == "gpt-test-2024-01-01"
    assert response.usage.to_dict() == {
        "input_tokens": 10,
        "output_tokens": 3,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert server.last.path == OPENAI_PATH
    assert server.last.headers["authorization"] == f"Bearer {KEY}"
    assert not server.last.json.get("stream")
    assert "stream_options" not in server.last.json


async def test_plain_text_stream(server: WireServer, model: OpenAIModel) -> None:
    server.push(
        openai_stream(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "Hel"}),
                chunk({"content": "lo"}),
                chunk({"content": " world"}),
                chunk({}, finish="stop"),
                chunk(usage={"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}),
            ]
        )
    )
    items = await collect(model, ask())
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hel", "lo", " world"]
    assert isinstance(items[-1], ModelResponse)
    assert sum(isinstance(i, ModelResponse) for i in items) == 1
    response = items[-1]
    assert response.message.content == "Hello world"
    assert response.stop_reason == "end_turn"
    assert response.model == "gpt-test-2024-01-01"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 4)
    assert server.last.json["stream"] is True
    assert server.last.json["stream_options"] == {"include_usage": True}


async def test_deltas_are_yielded_while_the_server_is_still_streaming(
    server: WireServer, model: OpenAIModel
) -> None:
    gate = threading.Event()
    reply = openai_stream(
        [chunk({"content": "first"}), chunk({"content": " second"}, finish="stop")],
        gate=gate,
        pause_at=1,
        max_pause=3,
    )
    server.push(reply)
    items: list[StreamItem] = []
    async for item in model.stream(ask()):
        if not items:
            assert item == TextDelta("first")
            assert reply.sent == 1, "the first delta must arrive before the rest is sent"
            gate.set()
        items.append(item)
    assert isinstance(items[-1], ModelResponse)
    assert items[-1].message.content == "first second"


async def test_streamed_parallel_tool_calls_with_split_arguments(
    server: WireServer, model: OpenAIModel
) -> None:
    server.push(
        openai_stream(
            [
                chunk({"role": "assistant", "content": "Checking."}),
                chunk(tool_piece(0, "", "call_a", "get_weather")),
                chunk(tool_piece(0, '{"ci')),
                chunk(tool_piece(0, 'ty": "Pa')),
                chunk(tool_piece(1, '{"city":', "call_b", "get_weather")),
                chunk(tool_piece(0, 'ris"}')),
                chunk(tool_piece(1, ' "Oslo"}')),
                chunk({}, finish="tool_calls"),
                chunk(usage={"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}),
            ]
        )
    )
    items = await collect(model, ask(tools=[WEATHER]))
    response = items[-1]
    assert isinstance(response, ModelResponse)
    assert response.message.content == "Checking."
    assert response.message.tool_calls == [
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_weather", {"city": "Oslo"}),
    ]
    assert response.stop_reason == "tool_use"


async def test_tool_call_deltas_without_index(server: WireServer, model: OpenAIModel) -> None:
    def piece(arguments: str, call_id: str = "", name: str = "") -> dict[str, Any]:
        call: dict[str, Any] = {"function": {"arguments": arguments}}
        if call_id:
            call.update(id=call_id, type="function")
            call["function"]["name"] = name
        return {"tool_calls": [call]}

    server.push(
        openai_stream(
            [
                chunk(piece('{"city": "Rome"}', "call_1", "get_weather")),
                chunk(piece('{"city":', "call_2", "get_weather")),
                chunk(piece(' "Lima"}')),
                chunk({}, finish="tool_calls"),
            ]
        )
    )
    response = await model.request(ask())
    assert response.message.tool_calls == [
        ToolCall("call_1", "get_weather", {"city": "Rome"}),
        ToolCall("call_2", "get_weather", {"city": "Lima"}),
    ]


async def test_malformed_tool_arguments_are_kept_not_raised(
    server: WireServer, model: OpenAIModel
) -> None:
    server.push(
        openai_stream(
            [
                chunk(tool_piece(0, '{"city": "Par', "call_bad", "get_weather")),
                chunk(tool_piece(1, "", "call_empty", "get_time")),
                chunk({}, finish="tool_calls"),
            ]
        ),
        json_reply(completion(None, [wire_call("call_list", "get_weather", "[1, 2]")], "stop")),
    )
    streamed = (await collect(model, ask()))[-1]
    assert isinstance(streamed, ModelResponse)
    bad, empty = streamed.message.tool_calls
    assert bad.arguments is None
    assert bad.raw_arguments == '{"city": "Par'
    assert "not valid JSON" in bad.arguments_error
    assert empty.arguments == {}

    plain = (await collect(model, ask(stream=False)))[-1]
    assert isinstance(plain, ModelResponse)
    (listed,) = plain.message.tool_calls
    assert listed.arguments is None
    assert listed.raw_arguments == "[1, 2]"
    assert "JSON object" in listed.arguments_error
    assert plain.stop_reason == "tool_use"


async def test_request_mapping(server: WireServer, model: OpenAIModel) -> None:
    server.push(json_reply(completion("done")))
    request = ModelRequest(
        system="You are terse.",
        messages=[
            Message("user", "Weather in Paris and Oslo?"),
            Message(
                "assistant",
                "",
                tool_calls=[
                    ToolCall("call_a", "get_weather", {"city": "Paris"}),
                    ToolCall("call_b", "get_weather", None, '{"city": Oslo', "bad JSON"),
                ],
            ),
            Message("tool", "18C", tool_call_id="call_a", name="get_weather"),
            Message("tool", "bad arguments", tool_call_id="call_b", is_error=True),
        ],
        tools=[WEATHER],
        temperature=0.2,
        max_tokens=256,
        stream=False,
    )
    await collect(model, request)
    body = server.last.json
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                wire_call("call_a", "get_weather", '{"city": "Paris"}'),
                wire_call("call_b", "get_weather", '{"city": Oslo'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": "bad arguments"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 256
    assert "max_completion_tokens" not in body


async def test_optional_fields_are_omitted(server: WireServer, model: OpenAIModel) -> None:
    server.push(json_reply(completion("ok")))
    await collect(model, ask(stream=False))
    body = server.last.json
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    for key in ("tools", "temperature", "max_tokens", "max_completion_tokens"):
        assert key not in body


@pytest.mark.parametrize("stream", [True, False])
async def test_usage_separates_cached_prompt_tokens(
    server: WireServer, model: OpenAIModel, stream: bool
) -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 80},
    }
    if stream:
        server.push(openai_stream([chunk({"content": "x"}, finish="stop"), chunk(usage=usage)]))
    else:
        server.push(json_reply(completion("x", usage=usage)))
    response = (await collect(model, ask(stream=stream)))[-1]
    assert isinstance(response, ModelResponse)
    assert response.usage.to_dict() == {
        "input_tokens": 20,
        "output_tokens": 20,
        "cache_read_tokens": 80,
        "cache_write_tokens": 0,
    }
    assert response.usage.total == 120


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "content_filter")],
)
async def test_finish_reasons(
    server: WireServer, model: OpenAIModel, finish: str, expected: str
) -> None:
    server.push(json_reply(completion("x", finish=finish)))
    response = (await collect(model, ask(stream=False)))[-1]
    assert isinstance(response, ModelResponse)
    assert response.stop_reason == expected


async def test_wrong_key_is_an_auth_error(server: WireServer) -> None:
    model = OpenAIModel("gpt-test", api_key="sk-wrong", base_url=server.url + "/v1")
    try:
        with pytest.raises(ModelAuthError) as info:
            await collect(model, ask())
    finally:
        await model.aclose()
    err = info.value
    assert str(err) == "openai: 401 unauthorized: Incorrect API key provided"
    assert (err.provider, err.status, err.retryable) == ("openai", 401, False)
    assert isinstance(err.__cause__, openai.AuthenticationError)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("reply", "error_class", "status", "retry_after", "text"),
    [
        (openai_error(403, "Project lacks access"), ModelAuthError, 403, None, "403 forbidden"),
        (
            openai_error(429, "Rate limit reached", "requests", headers={"Retry-After": "7"}),
            ModelRateLimited,
            429,
            7.0,
            "429 too many requests: Rate limit reached",
        ),
        (
            openai_error(429, "slow down", headers={"retry-after-ms": "1500", "retry-after": "2"}),
            ModelRateLimited,
            429,
            1.5,
            "slow down",
        ),
        (
            openai_error(400, "Invalid 'messages[0].role'"),
            ModelBadRequest,
            400,
            None,
            "400 bad request: Invalid 'messages[0].role'",
        ),
        (openai_error(404, "The model does not exist"), ModelBadRequest, 404, None, "not exist"),
        (openai_error(422, "Unprocessable"), ModelBadRequest, 422, None, "422"),
        (
            openai_error(500, "The server had an error", "server_error"),
            ModelUnavailable,
            500,
            None,
            "500 internal server error: The server had an error",
        ),
        (
            openai_error(503, "Overloaded", headers={"Retry-After": "3"}),
            ModelUnavailable,
            503,
            3.0,
            "503 service unavailable",
        ),
    ],
)
async def test_http_errors_are_mapped(
    server: WireServer,
    model: OpenAIModel,
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
    assert (err.provider, err.status, err.retry_after) == ("openai", status, retry_after)
    assert err.retryable is (error_class in (ModelRateLimited, ModelUnavailable))
    assert text in str(err)
    assert str(err).startswith("openai: ")
    assert isinstance(err.__cause__, openai.APIStatusError)


async def test_retry_after_http_date(server: WireServer, model: OpenAIModel) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.push(openai_error(429, "later", headers={"Retry-After": when}))
    with pytest.raises(ModelRateLimited) as info:
        await collect(model, ask())
    assert info.value.retry_after is not None
    assert 25 <= info.value.retry_after <= 31


@pytest.mark.parametrize("stream", [True, False])
async def test_slow_server_times_out(server: WireServer, stream: bool) -> None:
    model = OpenAIModel("gpt-test", api_key=KEY, base_url=server.url + "/v1", timeout=0.3)
    server.push(Reply(body=completion("late"), delay=3))
    started = time.monotonic()
    try:
        with pytest.raises(ModelTimeout) as info:
            await collect(model, ask(stream=stream))
    finally:
        await model.aclose()
    assert time.monotonic() - started < 2
    assert info.value.retryable
    assert info.value.provider == "openai"
    assert "timed out" in str(info.value)


async def test_stalled_stream_times_out_after_partial_output(server: WireServer) -> None:
    model = OpenAIModel("gpt-test", api_key=KEY, base_url=server.url + "/v1", timeout=0.3)
    server.push(
        openai_stream(
            [chunk({"content": "partial"}), chunk({}, finish="stop")],
            gate=threading.Event(),
            pause_at=1,
            max_pause=3,
        )
    )
    items: list[StreamItem] = []
    try:
        with pytest.raises(ModelTimeout):
            async for item in model.stream(ask()):
                items.append(item)
    finally:
        await model.aclose()
    assert items == [TextDelta("partial")]


async def test_error_chunk_inside_stream(server: WireServer, model: OpenAIModel) -> None:
    server.push(
        openai_stream(
            [
                chunk({"content": "Hi"}),
                {"error": {"message": "The server had an error", "type": "server_error"}},
            ]
        )
    )
    items: list[StreamItem] = []
    with pytest.raises(ModelUnavailable) as info:
        async for item in model.stream(ask()):
            items.append(item)
    assert items == [TextDelta("Hi")]
    assert "The server had an error" in str(info.value)
    assert info.value.retryable


@pytest.mark.parametrize("stream", [True, False])
async def test_a_200_that_is_not_a_completion_is_an_error(
    server: WireServer, model: OpenAIModel, stream: bool
) -> None:
    server.push(json_reply("<html>proxy login</html>"))
    with pytest.raises(ModelError, match="openai: malformed response") as info:
        await collect(model, ask(stream=stream))
    assert type(info.value) is ModelError
    assert not info.value.retryable


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAIModel("gpt-test", api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(ModelUnavailable) as info:
            await collect(model, ask())
    finally:
        await model.aclose()
    assert info.value.retryable
    assert info.value.status is None
    assert str(info.value).startswith("openai: connection failed")


def test_missing_api_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelAuthError) as info:
        OpenAIModel("gpt-4o-mini")
    assert "OPENAI_API_KEY" in str(info.value)
    assert info.value.provider == "openai"


async def test_env_key_is_used_for_openai_only(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    from_env = OpenAIModel("gpt-4o-mini")
    assert from_env._client.api_key == "sk-from-env"
    await from_env.aclose()
    assert from_env._client.is_closed()

    local = WireServer().start()
    local.push(json_reply(completion("ok")))
    model = OpenAIModel("llama3", base_url=local.url + "/v1", provider_label="ollama")
    try:
        response = await model.request(ask(stream=False))
    finally:
        await model.aclose()
        local.stop()
    assert response.message.content == "ok"
    assert local.last.headers["authorization"] == "Bearer not-needed"
    assert model.label == "ollama:llama3"


async def test_provider_label_is_used_in_errors(server: WireServer) -> None:
    model = OpenAIModel("llama3", api_key=KEY, base_url=server.url + "/v1", provider_label="vllm")
    server.push(openai_error(400, "bad"))
    try:
        with pytest.raises(ModelBadRequest) as info:
            await model.request(ask())
    finally:
        await model.aclose()
    assert info.value.provider == "vllm"
    assert str(info.value) == "vllm: 400 bad request: bad"


async def test_caller_owned_http_client_is_used_and_left_open(server: WireServer) -> None:
    async with httpx.AsyncClient(headers={"x-trace": "abc"}) as client:
        url = server.url + "/v1"
        model = OpenAIModel("gpt-test", api_key=KEY, base_url=url, http_client=client)
        server.push(json_reply(completion("ok")))
        assert (await model.request(ask(stream=False))).message.content == "ok"
        await model.aclose()
        assert not client.is_closed
    assert server.last.headers["x-trace"] == "abc"


async def test_breaking_out_of_a_stream_releases_the_connection(
    server: WireServer, model: OpenAIModel
) -> None:
    server.push(openai_stream([chunk({"content": str(n)}) for n in range(50)]))
    server.push(json_reply(completion("after")))
    async with contextlib.aclosing(model.stream(ask())) as stream:  # type: ignore[type-var]
        async for item in stream:
            assert item == TextDelta("0")
            break
    response = await asyncio.wait_for(model.request(ask(stream=False)), 3)
    assert response.message.content == "after"
    assert len(server.requests) == 2
