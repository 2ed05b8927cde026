"""The event vocabulary. A run is an append-only, ordered log of these events.

Every event has ``run_id``, ``seq`` (1, 2, 3, ... per run), ``ts`` (unix seconds), ``type`` and
a JSON-compatible ``data`` payload. Wire formats (SSE, WebSocket frames, ...) are pure
functions of events. The payload of each type is documented by the TypedDicts below.

Timing fields (``ts``, ``duration_ms``) are the only parts that may differ when a run is
replayed from its own log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypedDict

RUN_STARTED: Final = "run.started"
MODEL_REQUEST: Final = "model.request"
MODEL_TEXT: Final = "model.text"
MODEL_RESPONSE: Final = "model.response"
MODEL_RETRY: Final = "model.retry"
TOOL_CALL: Final = "tool.call"
TOOL_RESULT: Final = "tool.result"
BUDGET_EXCEEDED: Final = "budget.exceeded"
RUN_RETRY: Final = "run.retry"
RUN_FALLBACK: Final = "run.fallback"
RUN_COMPLETED: Final = "run.completed"
RUN_FAILED: Final = "run.failed"

TERMINAL: Final = frozenset({RUN_COMPLETED, RUN_FAILED})
_CORE_TYPES: Final = frozenset(
    {
        RUN_STARTED,
        MODEL_REQUEST,
        MODEL_TEXT,
        MODEL_RESPONSE,
        MODEL_RETRY,
        TOOL_CALL,
        TOOL_RESULT,
        BUDGET_EXCEEDED,
        RUN_RETRY,
        RUN_FALLBACK,
        RUN_COMPLETED,
        RUN_FAILED,
    }
)

# --- durability: resume, leases, approvals ------------------------------------------------
RUN_RESUMED: Final = "run.resumed"
APPROVAL_REQUESTED: Final = "approval.requested"
APPROVAL_DECIDED: Final = "approval.decided"
_DURABILITY_TYPES: Final = frozenset({RUN_RESUMED, APPROVAL_REQUESTED, APPROVAL_DECIDED})

# --- strategies and delegation ------------------------------------------------------------
HANDOFF: Final = "handoff"
_STRATEGY_TYPES: Final = frozenset({HANDOFF})

# --- pipelines ----------------------------------------------------------------------------
_PIPELINE_TYPES: Final[frozenset[str]] = frozenset()

# --- workflow graphs, state machines, behaviour trees ----------------------------------------
_WORKFLOW_TYPES: Final[frozenset[str]] = frozenset()

EVENT_TYPES: Final = (
    _CORE_TYPES | _DURABILITY_TYPES | _STRATEGY_TYPES | _PIPELINE_TYPES | _WORKFLOW_TYPES
)


@dataclass(slots=True)
class Event:
    run_id: str
    seq: int
    ts: float
    type: str
    data: dict[str, Any]
    trace_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "ts": self.ts,
            "type": self.type,
            "data": self.data,
            "trace_id": self.trace_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            data["run_id"],
            int(data["seq"]),
            float(data["ts"]),
            data["type"],
            data["data"],
            data.get("trace_id", ""),
        )


class RunStarted(TypedDict, total=False):
    agent: str  # agent name
    fqn: str  # package/Agent/name
    package: str
    ir_hash: str  # hash of the package the run executes
    input: str
    variables: dict[str, str]
    session_id: str
    model: str  # provider:name
    strategy: str
    parent_run_id: str


class ModelRequested(TypedDict):
    turn: int
    model: str
    messages: int  # number of messages sent (system excluded)
    tools: list[str]


class ModelText(TypedDict):
    turn: int
    text: str


class ModelResponded(TypedDict):
    turn: int
    message: dict[str, Any]  # Message.to_dict()
    usage: dict[str, int]
    stop_reason: str
    model: str
    duration_ms: float


class ModelRetried(TypedDict):
    turn: int
    attempt: int
    error: str
    code: str
    delay: float


class ToolCalled(TypedDict):
    turn: int
    call_id: str
    name: str
    arguments: dict[str, Any] | None


class ToolResulted(TypedDict):
    turn: int
    call_id: str
    name: str
    output: Any
    error: str
    duration_ms: float


class BudgetExceededData(TypedDict):
    scope: str
    used: int
    limit: int
    needed: int


class RunCompleted(TypedDict):
    output: str
    turns: int
    usage: dict[str, int]
    duration_ms: float


class RunFailed(TypedDict):
    error: str  # contract error code, e.g. "timeout"
    message: str
    turns: int
    usage: dict[str, int]
    duration_ms: float
