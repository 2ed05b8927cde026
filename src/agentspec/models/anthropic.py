"""Anthropic Messages API adapter."""

from __future__ import annotations

import json
import os
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
    ToolCall,
    Usage,
)

ENV_KEY = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 4096

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "refusal": "content_filter",
    "model_context_window_exceeded": "max_tokens",
}

_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError:
        raise MissingDependency("anthropic", "anthropic", "the anthropic model provider") from None
    return anthropic


class AnthropicModel(Model):
    """A Claude model served through the Anthropic Messages API.

    The system prompt is sent as a cached block (``cache_control: ephemeral``); consecutive
    tool results become one user message of ``tool_result`` blocks. The SDK's own retries are
    off; agentspec's retry wrapper handles them.

    Args:
        name: The model name, e.g. ``"claude-sonnet-4-6"``.
        api_key: The API key. Without it, ``ANTHROPIC_API_KEY`` is used when talking to
            Anthropic itself; a custom ``base_url`` gets a placeholder key instead.
        base_url: Server root without ``/v1``, e.g. ``https://api.anthropic.com``.
        timeout: Seconds before a request (or a stalled stream read) fails with ModelTimeout.
        http_client: An HTTP client for the SDK (recent SDKs need an ``httpx2.AsyncClient``).
            Its owner closes it; :meth:`aclose` leaves it open.
        provider_label: The provider name used in labels and error messages.
        max_tokens: Output token limit used when the request sets none (the API requires one).

    Raises:
        ModelAuthError: No API key for api.anthropic.com.
        MissingDependency: The ``anthropic`` package is not installed.
        UsageError: The SDK refused the client options (e.g. a wrong http_client type).
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        http_client: httpx.AsyncClient | Any | None = None,
        provider_label: str = "anthropic",
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        anthropic = _import_anthropic()
        self.name = name
        self.provider = provider_label
        self.max_tokens = max_tokens
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
            self._client: Any = anthropic.AsyncAnthropic(**kwargs)
        except (TypeError, ValueError, anthropic.AnthropicError) as exc:
            raise UsageError(
                f"{provider_label}: cannot create the Anthropic client: {exc}"
            ) from None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        params = self._params(request)
        try:
            if not request.stream:
                message = await self._client.messages.create(**params)
                yield _from_message(message, self.name, self.provider)
                return
            sdk_stream = await self._client.messages.create(**params, stream=True)
            collector = _StreamCollector(self.provider)
            async with sdk_stream:
                async for event in sdk_stream:
                    text = collector.add(event)
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
        system, messages = to_wire_messages(request)
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": max_tokens,
            "messages": messages,
        }
        if system:
            params["system"] = [
                {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
            ]
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.temperature is not None:
            params["extra_body"] = {"temperature": request.temperature}
        return params


def to_wire_messages(request: ModelRequest) -> tuple[str, list[dict[str, Any]]]:
    """Map the request to ``(system, messages)``; same-role neighbours merge into one turn."""
    system_parts = [request.system] if request.system else []
    wire: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system_parts.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    return "\n\n".join(p for p in system_parts if p), wire


def _blocks(message: Message) -> list[dict[str, Any]]:
    """Content blocks for one message; empty text is left out (the API rejects it)."""
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}}
        )
    return blocks


def _count(raw: Any, field: str) -> int | None:
    value = getattr(raw, field, None)
    return None if value is None else int(value)


def _usage(raw: Any) -> Usage:
    return Usage(
        input_tokens=_count(raw, "input_tokens") or 0,
        output_tokens=_count(raw, "output_tokens") or 0,
        cache_read_tokens=_count(raw, "cache_read_input_tokens") or 0,
        cache_write_tokens=_count(raw, "cache_creation_input_tokens") or 0,
    )


def _stop_reason(stop_reason: str | None, has_calls: bool) -> StopReason:
    if has_calls:
        return "tool_use"
    return _STOP_REASONS.get(stop_reason or "end_turn", "end_turn")


def _from_message(message: Any, default_model: str, provider: str) -> ModelResponse:
    if not isinstance(getattr(message, "content", None), list):
        raise malformed(provider, "expected a message object")
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            text.append(block.text)
        elif block.type == "tool_use":
            if isinstance(block.input, dict):
                calls.append(ToolCall(id=block.id, name=block.name, arguments=block.input))
            else:
                calls.append(parse_arguments(block.id, block.name, json.dumps(block.input)))
    return ModelResponse(
        message=Message(role="assistant", content="".join(text), tool_calls=calls),
        usage=_usage(getattr(message, "usage", None)),
        stop_reason=_stop_reason(getattr(message, "stop_reason", None), bool(calls)),
        model=getattr(message, "model", None) or default_model,
    )


class _StreamCollector:
    """Folds raw stream events into content blocks, usage and the stop reason."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.model = ""
        self.started = False

    def add(self, event: Any) -> str:
        kind = getattr(event, "type", "")
        if kind == "message_start":
            self.started = True
            self.model = getattr(event.message, "model", "") or ""
            self.usage = _usage(getattr(event.message, "usage", None))
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "text":
                self.blocks[event.index] = {"type": "text", "text": [block.text or ""]}
                return str(block.text or "")
            if block.type == "tool_use":
                self.blocks[event.index] = {
                    "type": "tool_use",
                    "id": block.id,
                    "name": block.name,
                    "input": getattr(block, "input", None),
                    "json": [],
                }
        elif kind == "content_block_delta":
            return self._delta(event.index, event.delta)
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self._update_usage(getattr(event, "usage", None))
        elif kind == "error":
            error = getattr(event, "error", None)
            raise _error_from_type(
                self.provider, getattr(error, "type", ""), getattr(error, "message", "")
            )
        return ""

    def _delta(self, index: int, delta: Any) -> str:
        block = self.blocks.get(index)
        if block is None:
            return ""
        if delta.type == "text_delta" and block["type"] == "text":
            block["text"].append(delta.text)
            return str(delta.text)
        if delta.type == "input_json_delta" and block["type"] == "tool_use":
            block["json"].append(delta.partial_json)
        return ""

    def _update_usage(self, raw: Any) -> None:
        if raw is None:
            return
        for ours, theirs in (
            ("output_tokens", "output_tokens"),
            ("input_tokens", "input_tokens"),
            ("cache_read_tokens", "cache_read_input_tokens"),
            ("cache_write_tokens", "cache_creation_input_tokens"),
        ):
            value = _count(raw, theirs)
            if value is not None:
                setattr(self.usage, ours, value)

    def response(self, default_model: str) -> ModelResponse:
        if not self.started:
            raise malformed(self.provider, "the stream had no message_start event")
        text: list[str] = []
        calls: list[ToolCall] = []
        for _, block in sorted(self.blocks.items()):
            if block["type"] == "text":
                text.extend(block["text"])
                continue
            raw = "".join(block["json"])
            if raw.strip() or not isinstance(block["input"], dict):
                calls.append(parse_arguments(block["id"], block["name"], raw))
            else:
                calls.append(ToolCall(block["id"], block["name"], block["input"]))
        return ModelResponse(
            message=Message(role="assistant", content="".join(text), tool_calls=calls),
            usage=self.usage,
            stop_reason=_stop_reason(self.stop_reason, bool(calls)),
            model=self.model or default_model,
        )


def _error_from_type(provider: str, kind: str, detail: str) -> ModelError:
    """An error event inside a 200 stream: classify by its ``error.type``."""
    status = _ERROR_TYPE_STATUS.get(kind, 500)
    return status_error(provider, status, detail, what=f"stream error {kind or 'unknown'}")


def _body_error(body: Any) -> tuple[str, str]:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return str(inner.get("type") or ""), str(inner.get("message") or "")
    return "", body.strip()[:500] if isinstance(body, str) else ""


def map_error(exc: Exception, provider: str) -> ModelError:
    """Map an Anthropic SDK or transport exception to the agentspec ModelError tree."""
    anthropic = _import_anthropic()
    if isinstance(exc, anthropic.APIStatusError):
        kind, detail = _body_error(exc.body)
        kind = getattr(exc, "type", None) or kind
        detail = getattr(exc, "api_message", None) or detail or exc.message
        if exc.status_code < 400:
            return _error_from_type(provider, kind, detail)
        return status_error(provider, exc.status_code, detail, exc.response.headers)
    timeouts, transport = transport_errors()
    if isinstance(exc, (anthropic.APITimeoutError, *timeouts)):
        return ModelTimeout(f"{provider}: request timed out", provider=provider)
    if isinstance(exc, (anthropic.APIConnectionError, *transport)):
        cause = exc.__cause__ or exc
        return ModelUnavailable(f"{provider}: connection failed: {cause}", provider=provider)
    return ModelError(f"{provider}: {type(exc).__name__}: {exc}", provider=provider)
