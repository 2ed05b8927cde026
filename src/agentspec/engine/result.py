"""A run's result, derived from its events (a pure fold, also used for stored runs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentspec.engine import events as ev
from agentspec.models.base import Usage


@dataclass(slots=True)
class ToolCallRecord:
    id: str
    tool_name: str
    input: dict[str, Any] | None
    output: Any = None
    duration_ms: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool_name": self.tool_name,
            "input": self.input,
            "output": self.output,
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


@dataclass(slots=True)
class RunResult:
    """What a run produced. ``status`` is ``completed``, ``failed``, ``cancelled`` or ``running``."""

    run_id: str
    agent: str = ""
    status: str = "running"
    output: str = ""
    session_id: str = ""
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    duration_ms: float = 0.0
    error: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """The invoke-result shape of the HTTP contract, plus ``run_id`` and ``status``."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "agent": self.agent,
            "status": self.status,
            "output": self.output,
            "session_id": self.session_id,
            "turns": self.turns,
            "duration_ms": round(self.duration_ms, 3),
            "tokens": {
                "input": self.usage.input_tokens,
                "output": self.usage.output_tokens,
                "cache_read": self.usage.cache_read_tokens,
                "total": self.usage.total,
            },
            "tool_calls": [call.to_dict() for call in self.tool_calls],
        }
        if self.error:
            data["error"] = {"error": self.error, "message": self.error_message}
        return data


def fold(events: Iterable[ev.Event]) -> RunResult:
    """Derive a :class:`RunResult` from a run's events."""
    result: RunResult | None = None
    calls: dict[str, ToolCallRecord] = {}
    for event in events:
        if result is None:
            result = RunResult(event.run_id)
        kind = event.type
        data = event.data
        if kind == ev.MODEL_RESPONSE:
            result.usage.add(Usage.from_dict(data.get("usage")))
            result.turns += 1
        elif kind == ev.TOOL_CALL:
            record = ToolCallRecord(data["call_id"], data["name"], data.get("arguments"))
            calls[record.id] = record
            result.tool_calls.append(record)
        elif kind == ev.TOOL_RESULT:
            record = calls.get(data["call_id"]) or ToolCallRecord(
                data["call_id"], data["name"], None
            )
            record.output = data.get("output")
            record.error = data.get("error", "")
            record.duration_ms = data.get("duration_ms", 0.0)
        elif kind == ev.RUN_STARTED:
            result.agent = data.get("agent", "")
            result.session_id = data.get("session_id", "")
        elif kind == ev.RUN_COMPLETED:
            result.status = "completed"
            result.output = data.get("output", "")
            result.duration_ms = data.get("duration_ms", 0.0)
        elif kind == ev.RUN_FAILED:
            result.error = data.get("error", "internal_error")
            result.status = "cancelled" if result.error == "cancelled" else "failed"
            result.error_message = data.get("message", "")
            result.duration_ms = data.get("duration_ms", 0.0)
    return result if result is not None else RunResult("")
