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


class RunResumed(TypedDict):
    """A resumed run goes live (docs/durability.md)."""

    from_seq: int  # the first new sequence number (this event's)
    reused: int  # stored events re-execution reused
    superseded: int  # stored model.text deltas replaced by a repeated model call


class ApprovalRequested(TypedDict, total=False):
    turn: int
    call_id: str
    name: str  # the tool
    arguments: dict[str, Any] | None
    timeout: float  # seconds, when Settings.approval_timeout is set
    on_timeout: str  # approve | deny


class ApprovalDecided(TypedDict):
    call_id: str
    name: str
    decision: str  # approve | deny
    reason: str
    by: str  # who: a user, cli:NAME, key:KEY_ID, timeout


# --- strategies and delegation ------------------------------------------------------------
HANDOFF: Final = "handoff"
PLAN_CREATED: Final = "plan.created"
PLAN_REJECTED: Final = "plan.rejected"
PLAN_STEP_STARTED: Final = "plan.step.started"
PLAN_STEP_FINISHED: Final = "plan.step.finished"
CRITIQUE_ROUND: Final = "critique.round"
ROUTE_REJECTED: Final = "route.rejected"
ROUTE_CHOSEN: Final = "route.chosen"
ROUTE_FINISHED: Final = "route.finished"
MAP_CHUNKS: Final = "map.chunks"
MAP_CHUNK_STARTED: Final = "map.chunk.started"
MAP_CHUNK_FINISHED: Final = "map.chunk.finished"
MAP_REDUCE: Final = "map.reduce"
_STRATEGY_TYPES: Final = frozenset(
    {
        HANDOFF,
        PLAN_CREATED,
        PLAN_REJECTED,
        PLAN_STEP_STARTED,
        PLAN_STEP_FINISHED,
        CRITIQUE_ROUND,
        ROUTE_REJECTED,
        ROUTE_CHOSEN,
        ROUTE_FINISHED,
        MAP_CHUNKS,
        MAP_CHUNK_STARTED,
        MAP_CHUNK_FINISHED,
        MAP_REDUCE,
    }
)


class Handoff(TypedDict, total=False):
    """``handoff``: the conversation moves to a delegate (``restored``: replayed from a
    session's history at the start of a run, with the ``chain`` of agents)."""

    to: str  # also "from": the agent handing over (a keyword, so not declared here)
    reason: str
    depth: int
    call_id: str
    restored: bool
    chain: list[str]


class PlanCreated(TypedDict):
    attempt: int  # 1 + corrective re-asks before this plan
    replan: int  # 0 for the first plan
    steps: list[str]


class PlanRejected(TypedDict):
    attempt: int
    replan: int
    error: str  # why the answer is not a valid plan (shown to the model)
    retrying: bool  # False: the run fails


class PlanStep(TypedDict, total=False):
    """``plan.step.started`` (index, count, step, replan) / ``plan.step.finished`` (index,
    status ``completed``/``failed``, output, error, replan)."""

    index: int
    count: int
    step: str
    status: str
    output: str
    error: str
    replan: int


class CritiqueRound(TypedDict, total=False):
    round: int
    verdict: str  # approve | revise
    feedback: str
    final: bool  # no revision follows
    child_run_id: str  # the critic agent's run, when one is declared


class RouteEvent(TypedDict, total=False):
    """``route.rejected`` (attempt, answer, error, retrying), ``route.chosen`` (label, agent,
    attempt), ``route.finished`` (agent, child_run_id, status, output, error)."""

    attempt: int
    answer: str
    error: str
    retrying: bool
    label: str
    agent: str
    child_run_id: str
    status: str
    output: str


class MapEvent(TypedDict, total=False):
    """``map.chunks`` (count, chunk_size, separator, chunks), ``map.chunk.started`` (index,
    size), ``map.chunk.finished`` (index, status, output, error, child_run_id), ``map.reduce``
    (parts, failed: chunk indexes)."""

    count: int
    chunk_size: int
    separator: str
    chunks: list[str]
    index: int
    size: int
    status: str  # completed | failed | cancelled
    output: str
    error: str
    child_run_id: str
    parts: list[int]
    failed: list[int]


# --- pipelines ----------------------------------------------------------------------------
# data: {"step", "agent", "run_id" (the child run), "attempt", ...}; see engine/pipeline.py
STEP_STARTED: Final = "step.started"
STEP_COMPLETED: Final = "step.completed"
STEP_FAILED: Final = "step.failed"
STEP_SKIPPED: Final = "step.skipped"
STEP_CANCELLED: Final = "step.cancelled"
STEP_RETRY: Final = "step.retry"
_PIPELINE_TYPES: Final[frozenset[str]] = frozenset(
    {STEP_STARTED, STEP_COMPLETED, STEP_FAILED, STEP_SKIPPED, STEP_CANCELLED, STEP_RETRY}
)

# --- workflow graphs, state machines, behaviour trees ----------------------------------------
NODE_STARTED: Final = "node.started"  # {node, role, task}; trees: {node, type, task}
NODE_COMPLETED: Final = "node.completed"  # {node, task, ...}; trees add {status}
NODE_FAILED: Final = "node.failed"  # {node, task, error, message, continued} (the step.failed)
DECISION: Final = "decision"  # {node, task, to, label, reason}
DECISION_RETRY: Final = "decision.retry"  # {node, task, answer, attempt, labels}
TASK_CLONED: Final = "task.cloned"  # {node, task, clones: [{task, to}]}
TASK_SPLIT: Final = "task.split"  # {node, task, subtasks: [{task, to}], count}
TASK_MERGED: Final = "task.merged"  # {node, task, children, failed, mode}
TASK_EXITED: Final = "task.exited"  # {node, task, status}
_WORKFLOW_TYPES: Final[frozenset[str]] = frozenset(
    {
        NODE_STARTED,
        NODE_COMPLETED,
        NODE_FAILED,
        DECISION,
        DECISION_RETRY,
        TASK_CLONED,
        TASK_SPLIT,
        TASK_MERGED,
        TASK_EXITED,
    }
)

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
