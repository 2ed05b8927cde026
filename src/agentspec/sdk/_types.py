"""Typed results and stream events of the agentspec HTTP API (CONTRACTS.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Tokens:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    total: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Tokens:
        data = data or {}
        return cls(
            int(data.get("input", 0)),
            int(data.get("output", 0)),
            int(data.get("cache_read", 0)),
            int(data.get("total", 0)),
        )


@dataclass(slots=True)
class ToolCall:
    id: str
    tool_name: str
    input: Any
    output: Any = None
    duration_ms: float = 0.0
    error: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        return cls(
            data.get("id", ""),
            data.get("tool_name", ""),
            data.get("input"),
            data.get("output"),
            float(data.get("duration_ms", 0.0)),
            data.get("error", "") or "",
        )


@dataclass(slots=True)
class InvokeResult:
    """The body of ``POST /v1/agents/{name}/invoke`` (and of a session message)."""

    output: str
    session_id: str = ""
    turns: int = 0
    duration_ms: float = 0.0
    tokens: Tokens = field(default_factory=Tokens)
    tool_calls: list[ToolCall] = field(default_factory=list)
    run_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvokeResult:
        return cls(
            output=data.get("output", ""),
            session_id=data.get("session_id") or "",
            turns=int(data.get("turns", 0)),
            duration_ms=float(data.get("duration_ms", 0.0)),
            tokens=Tokens.from_dict(data.get("tokens")),
            tool_calls=[ToolCall.from_dict(c) for c in data.get("tool_calls") or ()],
            run_id=data.get("run_id", ""),
            raw=data,
        )


@dataclass(slots=True)
class Session:
    session_id: str
    agent: str
    created_at: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        return cls(data["session_id"], data.get("agent", ""), data.get("created_at"))


@dataclass(slots=True)
class RunPage:
    runs: list[dict[str, Any]]
    next_cursor: str | None


# ------------------------------------------------------------------ stream events


@dataclass(slots=True)
class TextEvent:
    text: str
    kind = "text"


@dataclass(slots=True)
class ToolCallStart:
    id: str
    tool_name: str
    input: Any
    kind = "tool_call_start"


@dataclass(slots=True)
class ToolCallEnd:
    id: str
    output: Any
    duration_ms: float
    error: str = ""
    kind = "tool_call_end"


@dataclass(slots=True)
class ErrorEvent:
    error: str
    message: str
    kind = "error"


@dataclass(slots=True)
class DoneEvent:
    tokens: Tokens
    turns: int
    duration_ms: float
    session_id: str
    kind = "done"


@dataclass(slots=True)
class UnknownEvent:
    """An event name this SDK version does not know (newer server): kept, not dropped."""

    name: str
    data: Any
    kind = "unknown"


StreamEvent = TextEvent | ToolCallStart | ToolCallEnd | ErrorEvent | DoneEvent | UnknownEvent


def stream_event(name: str, data: Any) -> StreamEvent:
    """Decode one SSE event of ``POST /v1/agents/{name}/stream``."""
    if not isinstance(data, dict):
        return UnknownEvent(name, data)
    if name == "text":
        return TextEvent(str(data.get("text", "")))
    if name == "tool_call_start":
        return ToolCallStart(data.get("id", ""), data.get("tool_name", ""), data.get("input"))
    if name == "tool_call_end":
        return ToolCallEnd(
            data.get("id", ""),
            data.get("output"),
            float(data.get("duration_ms", 0.0)),
            data.get("error", "") or "",
        )
    if name == "error":
        return ErrorEvent(str(data.get("error", "")), str(data.get("message", "")))
    if name == "done":
        return DoneEvent(
            Tokens.from_dict(data.get("tokens")),
            int(data.get("turns", 0)),
            float(data.get("duration_ms", 0.0)),
            data.get("session_id") or "",
        )
    return UnknownEvent(name, data)
