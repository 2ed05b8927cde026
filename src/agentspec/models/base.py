"""Normalized model request/response types and the one small :class:`Model` ABC.

Every provider adapter (one file each) maps these to and from its wire format. The hot path uses
slotted dataclasses, not pydantic: nothing here is re-validated per call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class ToolCall:
    """A tool call requested by the model.

    ``arguments`` is ``None`` when the model sent arguments that are not a JSON object; then
    ``raw_arguments`` holds what it sent and ``arguments_error`` why it was refused. The engine
    returns that error to the model as the tool's result instead of calling the tool.
    """

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str = ""
    arguments_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.arguments is None:
            data["raw_arguments"] = self.raw_arguments
            data["arguments_error"] = self.arguments_error
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        return cls(
            id=data["id"],
            name=data["name"],
            arguments=data.get("arguments"),
            raw_arguments=data.get("raw_arguments", ""),
            arguments_error=data.get("arguments_error", ""),
        )


@dataclass(slots=True)
class Message:
    """One chat message. Tool results are ``role="tool"`` with ``tool_call_id`` and ``name``."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""
    name: str = ""
    is_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        if self.name:
            data["name"] = self.name
        if self.is_error:
            data["is_error"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content") or "",
            tool_calls=[ToolCall.from_dict(c) for c in data.get("tool_calls") or ()],
            tool_call_id=data.get("tool_call_id", ""),
            name=data.get("name", ""),
            is_error=bool(data.get("is_error", False)),
        )


@dataclass(slots=True)
class ToolDef:
    """A tool as the model sees it: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        if not data:
            return cls()
        return cls(
            int(data.get("input_tokens", 0)),
            int(data.get("output_tokens", 0)),
            int(data.get("cache_read_tokens", 0)),
            int(data.get("cache_write_tokens", 0)),
        )


StopReason = Literal[
    "end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filter", "error"
]


@dataclass(slots=True)
class ModelResponse:
    """A complete assistant turn. ``message.role`` is always ``"assistant"``."""

    message: Message
    usage: Usage = field(default_factory=Usage)
    stop_reason: StopReason = "end_turn"
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message.to_dict(),
            "usage": self.usage.to_dict(),
            "stop_reason": self.stop_reason,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        return cls(
            message=Message.from_dict(data["message"]),
            usage=Usage.from_dict(data.get("usage")),
            stop_reason=data.get("stop_reason", "end_turn"),
            model=data.get("model", ""),
        )


@dataclass(slots=True)
class TextDelta:
    """A streamed piece of assistant text."""

    text: str


StreamItem = TextDelta | ModelResponse
"""What :meth:`Model.stream` yields: any number of deltas, then exactly one response, last."""

RetryHook = Callable[[int, Exception, float], None]
"""Called as ``hook(attempt, error, delay_seconds)`` before a retry sleeps."""


@dataclass(slots=True)
class ModelRequest:
    system: str
    messages: list[Message]
    tools: list[ToolDef] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = True
    on_retry: RetryHook | None = None
    """Set by the engine so retries become events in the run's log."""


class Model(ABC):
    """A model adapter. Implement :meth:`stream`; :meth:`request` collects it.

    Adapters map provider errors to :class:`agentspec.exceptions.ModelError` subclasses and
    never let a provider SDK exception escape.
    """

    provider: str = ""
    name: str = ""

    @abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Yield text deltas as they arrive and finally the complete :class:`ModelResponse`."""

    async def request(self, request: ModelRequest) -> ModelResponse:
        """The complete response, without streaming."""
        return await self.generate(request, None)

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        """The complete response; streamed text is handed to ``on_delta`` as it arrives.

        This is what the engine calls. The default drives :meth:`stream`; adapters that can
        answer without an async generator (scripted, replay, wrappers) override it.
        """
        response: ModelResponse | None = None
        async for item in self.stream(request):
            if isinstance(item, ModelResponse):
                response = item
            elif on_delta is not None:
                on_delta(item.text)
        if response is None:  # pragma: no cover - adapter bug
            from agentspec.exceptions import ModelError

            raise ModelError(f"{self.provider} adapter ended its stream without a response")
        return response

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing to release."""

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}" if self.name else self.provider
