"""OpenAI Chat Completions adapter (also serves OpenAI-compatible servers via ``base_url``)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from agentspec.exceptions import (
    MissingDependency,
    ModelAuthError,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    UsageError,
)
from agentspec.models._http import (
    PLACEHOLDER_KEY,
    malformed,
    parse_arguments,
    status_error,
    transport_errors,
)
from agentspec.models.base import (
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    StopReason,
    StreamItem,
    TextDelta,
    Usage,
)

ENV_KEY = "OPENAI_API_KEY"

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}

_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "server_error": 500,
}


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise MissingDependency("openai", "openai", "the openai model provider") from None
    return openai


class OpenAIModel(Model):
    """A model served through the OpenAI Chat Completions API.

    Works against api.openai.com and any OpenAI-compatible server (Ollama, vLLM, ...) given
    ``base_url``. The SDK's own retries are off; agentspec's retry wrapper handles them.

    Args:
        name: The model name sent to the server, e.g. ``"gpt-4o-mini"``.
        api_key: The API key. Without it, ``OPENAI_API_KEY`` is used when talking to OpenAI
            itself; a custom ``base_url`` gets a placeholder key instead, so the OpenAI key is
            never sent to a third-party server.
        base_url: Server root including the version prefix, e.g. ``http://localhost:11434/v1``.
        timeout: Seconds before a request (or a stalled stream read) fails with ModelTimeout.
        http_client: An ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``) to send requests
            with. Its owner closes it; :meth:`aclose` leaves it open.
        provider_label: The provider name used in labels and error messages.

    Raises:
        ModelAuthError: No API key for api.openai.com.
        MissingDependency: The ``openai`` package is not installed.
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        http_client: httpx.AsyncClient | Any | None = None,
        provider_label: str = "openai",
    ) -> None:
        openai = _import_openai()
        self.name = name
        self.provider = provider_label
        api_key = api_key or None
        if api_key is None and not base_url:
            api_key = os.environ.get(ENV_KEY) or None
            if api_key is None:
                raise ModelAuthError(
                    f"{provider_label}: no API key: set the {ENV_KEY} environment variable "
                    "or configure the model's api_key",
                    provider=provider_label,
                )
        kwargs: dict[str, Any] = {"api_key": api_key or PLACEHOLDER_KEY, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        if timeout is not None:
            kwargs["timeout"] = timeout
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._owns_http_client = http_client is None
        try:
            self._client: Any = openai.AsyncOpenAI(**kwargs)
        except (TypeError, openai.OpenAIError) as exc:
            raise UsageError(f"{provider_label}: cannot create the OpenAI client: {exc}") from None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        params = self._params(request)
        try:
            if not request.stream:
                completion = await self._client.chat.completions.create(**params)
                yield _from_completion(completion, self.name, self.provider)
                return
            sdk_stream = await self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            collector = _StreamCollector(self.provider)
            async with sdk_stream:
                async for chunk in sdk_stream:
                    text = collector.add(chunk)
                    if text:
                        yield TextDelta(text)
            yield collector.response(self.name)
        except ModelError:
            raise
        except Exception as exc:
            raise map_error(exc, self.provider) from exc

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.name, "messages": to_wire_messages(request)}
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        return params


def to_wire_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """Map the request's system prompt and messages to Chat Completions messages."""
    wire: list[dict[str, Any]] = []
    if request.system:
        wire.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role == "tool":
            wire.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        elif message.role == "assistant" and message.tool_calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": call.raw_arguments
                                if call.arguments is None
                                else json.dumps(call.arguments),
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    details = getattr(raw, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=int(getattr(raw, "completion_tokens", 0) or 0),
        cache_read_tokens=cached,
    )


def _stop_reason(finish_reason: str | None, has_calls: bool) -> StopReason:
    if has_calls:
        return "tool_use"
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def _from_completion(completion: Any, default_model: str, provider: str) -> ModelResponse:
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise malformed(provider, "the response has no choices")
    choice = choices[0]
    wire = choice.message
    calls = [
        parse_arguments(
            call.id or _new_call_id(), call.function.name, call.function.arguments or ""
        )
        for call in (getattr(wire, "tool_calls", None) or [])
        if getattr(call, "function", None) is not None
    ]
    content = wire.content or ""
    finish = choice.finish_reason
    refusal = getattr(wire, "refusal", None)
    if refusal and not content:
        content, finish = refusal, "content_filter"
    return ModelResponse(
        message=Message(role="assistant", content=content, tool_calls=calls),
        usage=_usage(getattr(completion, "usage", None)),
        stop_reason=_stop_reason(finish, bool(calls)),
        model=getattr(completion, "model", None) or default_model,
    )


class _StreamCollector:
    """Accumulates streamed chunks: text, tool-call pieces by index, usage, finish reason."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.chunks = 0
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage = Usage()
        self.model = ""

    def add(self, chunk: Any) -> str:
        self.chunks += 1
        if not self.model and getattr(chunk, "model", None):
            self.model = chunk.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = _usage(chunk.usage)
        text = ""
        for choice in getattr(chunk, "choices", None) or []:
            if (choice.index or 0) != 0:
                continue
            delta = choice.delta
            if delta is not None:
                text += delta.content or ""
                for piece in delta.tool_calls or []:
                    self._add_call(piece)
            if choice.finish_reason:
                self.finish = choice.finish_reason
        if text:
            self.text.append(text)
        return text

    def _add_call(self, piece: Any) -> None:
        index = getattr(piece, "index", None)
        piece_id = getattr(piece, "id", None)
        if index is None:
            known = {call["id"] for call in self.calls.values()}
            is_new = not self.calls or (piece_id and piece_id not in known)
            index = len(self.calls) if is_new else max(self.calls)
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": []})
        if piece_id:
            call["id"] = piece_id
        function = getattr(piece, "function", None)
        if function is not None:
            if getattr(function, "name", None):
                call["name"] = function.name
            if getattr(function, "arguments", None):
                call["arguments"].append(function.arguments)

    def response(self, default_model: str) -> ModelResponse:
        if not self.chunks:
            raise malformed(self.provider, "the stream had no chunks")
        calls = [
            parse_arguments(c["id"] or _new_call_id(), c["name"], "".join(c["arguments"]))
            for _, c in sorted(self.calls.items())
        ]
        return ModelResponse(
            message=Message(role="assistant", content="".join(self.text), tool_calls=calls),
            usage=self.usage,
            stop_reason=_stop_reason(self.finish, bool(calls)),
            model=self.model or default_model,
        )


def _body_message(body: Any) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return body.strip()[:500] if isinstance(body, str) else ""


def map_error(exc: Exception, provider: str) -> ModelError:
    """Map an OpenAI SDK or transport exception to the agentspec ModelError tree."""
    openai = _import_openai()
    if isinstance(exc, openai.APIStatusError):
        detail = _body_message(exc.body) or exc.message
        return status_error(provider, exc.status_code, detail, exc.response.headers)
    timeouts, transport = transport_errors()
    if isinstance(exc, (openai.APITimeoutError, *timeouts)):
        return ModelTimeout(f"{provider}: request timed out", provider=provider)
    if isinstance(exc, (openai.APIConnectionError, *transport)):
        cause = exc.__cause__ or exc
        return ModelUnavailable(f"{provider}: connection failed: {cause}", provider=provider)
    if isinstance(exc, openai.APIError):
        kind = getattr(exc, "type", None) or getattr(exc, "code", None) or ""
        status = _STREAM_ERROR_STATUS.get(str(kind), 500)
        detail = _body_message(exc.body) or exc.message
        return status_error(provider, status, detail, what=f"stream error {kind}".strip())
    return ModelError(f"{provider}: {type(exc).__name__}: {exc}", provider=provider)
