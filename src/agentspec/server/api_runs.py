"""Stored and live runs: list, inspect, follow (JSON or SSE, resumable) and cancel.

``GET /v1/runs/{id}/events`` answers a JSON list by default. With ``Accept: text/event-stream``
it streams the run's events (``event:`` type, ``id:`` seq, ``data:`` the event) from ``after``
or ``Last-Event-ID``, then the live events of a run still in progress, and ends after
``run.completed`` / ``run.failed``. A run of this process is followed from memory; a run of
another process (several workers) by polling the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from agentspec.auth.base import SCOPE_ADMIN, SCOPE_RUNS, Principal
from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.result import fold
from agentspec.engine.runtime import Runtime
from agentspec.exceptions import UsageError
from agentspec.server.api import ServerState, guard, iso, server_state
from agentspec.server.errors import ApiError, error_responses
from agentspec.server.sse import KEEPALIVE, EventStreamResponse, run_event_sse, with_keepalive
from agentspec.store.base import RunRecord

router = APIRouter(tags=["runs"])

Reader = Annotated[Principal, Depends(guard(SCOPE_RUNS))]
RunStatusFilter = Literal["running", "completed", "failed", "cancelled", "waiting"]

POLL_SECONDS = 0.5
"""How often a run of another process is polled in the store while followed."""
CANCEL_WAIT_SECONDS = 10.0


class RunOut(BaseModel):
    """A run: status, input, output, error, token usage, times (ISO 8601 UTC)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run_5f1c0e9a2b7d4c3e8a10",
                    "agent": "assistant",
                    "package": "quickstart",
                    "status": "completed",
                    "session_id": "",
                    "input": "What is 12 + 30?",
                    "output": "12 + 30 = 42.",
                    "error": "",
                    "turns": 2,
                    "tokens": {"input": 120, "output": 35, "cache_read": 0, "total": 155},
                    "created_at": "2025-01-31T12:00:00.000Z",
                    "updated_at": "2025-01-31T12:00:00.013Z",
                    "parent_run_id": "",
                    "ir_hash": "sha256:…",
                }
            ]
        }
    )

    run_id: str
    agent: str
    package: str
    status: str
    session_id: str
    input: str
    output: str
    error: str
    turns: int
    tokens: dict[str, int]
    created_at: str
    updated_at: str
    parent_run_id: str
    ir_hash: str


class RunList(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunOut]
    next_cursor: str | None


class EventOut(BaseModel):
    """One event of a run's log."""

    run_id: str
    seq: int
    ts: float
    type: str
    data: dict[str, Any]
    trace_id: str


def run_dict(record: RunRecord) -> dict[str, Any]:
    """A stored run as the API shows it."""
    used = record.input_tokens + record.output_tokens + record.cache_read_tokens
    return {
        "run_id": record.id,
        "agent": record.agent,
        "package": record.package,
        "status": record.status,
        "session_id": record.session_id,
        "input": record.input,
        "output": record.output,
        "error": record.error,
        "turns": record.turns,
        "tokens": {
            "input": record.input_tokens,
            "output": record.output_tokens,
            "cache_read": record.cache_read_tokens,
            "total": used,
        },
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "parent_run_id": record.parent_run_id,
        "ir_hash": record.ir_hash,
    }


def _live_dict(state: ServerState, events: list[Event]) -> dict[str, Any]:
    """A run not yet in the store, from its in-memory log."""
    result = fold(events)
    started = events[0]
    return {
        "run_id": result.run_id,
        "agent": result.agent,
        "package": started.data.get("package", ""),
        "status": result.status,
        "session_id": result.session_id,
        "input": started.data.get("input", ""),
        "output": result.output,
        "error": result.error_message,
        "turns": result.turns,
        "tokens": result.to_dict()["tokens"],
        "created_at": iso(started.ts),
        "updated_at": iso(events[-1].ts),
        "parent_run_id": started.data.get("parent_run_id", ""),
        "ir_hash": started.data.get("ir_hash", ""),
    }


async def _run_or_404(state: ServerState, run_id: str, tenant: str | None = None) -> dict[str, Any]:
    """The run as the API shows it; 404 if there is none (in ``tenant``, if given: another
    tenant's run is as unknown as a missing one, so ids do not leak)."""
    record = await _record_in(state, run_id, tenant)
    if record is not None:
        return run_dict(record)
    events = state.observer.live(run_id, tenant)
    if events:
        return _live_dict(state, events)
    raise ApiError(404, f'no run "{run_id}"')


async def _record_in(state: ServerState, run_id: str, tenant: str | None) -> RunRecord | None:
    record = await state.runtime.get_run(run_id)
    if record is None or (tenant is not None and record.tenant != tenant):
        return None
    return record


@router.get("/v1/runs", response_model=RunList, responses=error_responses(400, 401, 403, 429))
async def list_runs(
    request: Request,
    principal: Reader,
    agent: str | None = None,
    status: RunStatusFilter | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The caller's tenant's runs, newest first; follow ``next_cursor`` for the next page."""
    state = server_state(request)
    try:
        page = await state.runtime.list_runs(
            agent=agent, status=status, cursor=cursor, limit=limit, tenant=principal.tenant
        )
    except (UsageError, ValueError):
        raise ApiError(
            400,
            "invalid cursor: pass the next_cursor of a previous page",
            details={"errors": [{"field": "query.cursor", "problem": "invalid cursor"}]},
        ) from None
    return JSONResponse({"runs": [run_dict(r) for r in page.runs], "next_cursor": page.next_cursor})


@router.get("/v1/runs/{run_id}", response_model=RunOut, responses=error_responses(401, 403, 404))
async def get_run(run_id: str, request: Request, principal: Reader) -> Response:
    """One run: status, input, output, error, tokens."""
    return JSONResponse(await _run_or_404(server_state(request), run_id, principal.tenant))


def _resume_point(after: int, last_event_id: str | None) -> int:
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        return max(after, int(last_event_id.strip()))
    except ValueError:
        raise ApiError(
            400,
            "Last-Event-ID must be the seq of an event",
            details={"errors": [{"field": "header.last-event-id", "problem": "not an integer"}]},
        ) from None


@router.get(
    "/v1/runs/{run_id}/events",
    response_model=list[EventOut],
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'event: run.started\nid: 1\ndata: {"run_id":"run_1","seq":1,'
                    '"ts":1738324800.0,"type":"run.started","data":{},"trace_id":""}\n\n'
                }
            }
        },
        **error_responses(400, 401, 403, 404),
    },
)
async def get_events(
    run_id: str,
    request: Request,
    principal: Reader,
    after: Annotated[int, Query(ge=0, description="Only events with a larger seq.")] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """A run's events: a JSON list, or SSE (``Accept: text/event-stream``) that follows it live."""
    state = server_state(request)
    tenant = principal.tenant
    start = _resume_point(after, last_event_id)
    live = state.observer.live(run_id, tenant)
    if live is None and await _record_in(state, run_id, tenant) is None:
        raise ApiError(404, f'no run "{run_id}"')
    if "text/event-stream" in request.headers.get("accept", ""):
        body = _follow(state, run_id, start, tenant)
        return EventStreamResponse(body, headers={"X-Run-ID": run_id})
    if live is not None:
        events = [e for e in live if e.seq > start]
    else:
        events = await state.runtime.get_events(run_id, after=start)
    return JSONResponse([e.to_dict() for e in events])


async def _follow(
    state: ServerState, run_id: str, after: int, tenant: str | None = None
) -> AsyncIterator[bytes]:
    subscription = state.observer.subscribe(run_id, tenant)
    if subscription is not None:
        source = _live_events(*subscription)
    else:
        source = _stored_events(state.runtime, run_id, after)
    last = after
    try:
        async for event in with_keepalive(source, state.settings.keepalive_seconds):
            if event is None:
                yield KEEPALIVE
                continue
            if event.seq <= last:
                continue
            last = event.seq
            yield run_event_sse(event)
            if event.type in ev.TERMINAL:
                return
    finally:
        if subscription is not None:
            state.observer.unsubscribe(run_id, subscription[1])


async def _live_events(backlog: list[Event], queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    for event in backlog:
        yield event
    while True:
        yield await queue.get()


async def _stored_events(runtime: Runtime, run_id: str, after: int) -> AsyncIterator[Event]:
    last = after
    while True:
        events = await runtime.get_events(run_id, after=last)
        for event in events:
            yield event
            last = event.seq
        if events and events[-1].type in ev.TERMINAL:
            return
        if not events:
            record = await runtime.get_run(run_id)
            if record is None or record.status not in ("running", "waiting"):
                return
        await asyncio.sleep(POLL_SECONDS)


@router.post(
    "/v1/runs/{run_id}/cancel",
    response_model=RunOut,
    responses=error_responses(401, 403, 404, 409),
)
async def cancel_run(run_id: str, request: Request, principal: Reader) -> Response:
    """Cancel a run in progress (started by this API key, or any run with ``keys:admin``).

    The run ends with ``run.failed`` (``cancelled``); 409 ``conflict`` if it already ended.
    """
    state = server_state(request)
    tracked = state.runs.get(run_id)
    if tracked is not None and state.observer.tenant(run_id) != principal.tenant:
        tracked = None  # another tenant's run: as unknown as a missing one
    if tracked is None:
        found = await _run_or_404(state, run_id, principal.tenant)
        if found["status"] in ("running", "waiting"):
            raise ApiError(409, f'run "{run_id}" is not running in this server process')
        raise ApiError(409, f'run "{run_id}" already ended ({found["status"]})')
    handle, owner = tracked
    if owner != principal.key_id and not principal.allows(SCOPE_ADMIN):
        raise ApiError(403, "only the API key that started a run (or an admin key) may cancel it")
    handle.cancel()
    try:
        result = await asyncio.wait_for(handle.result(), CANCEL_WAIT_SECONDS)
    except TimeoutError:
        raise ApiError(409, f'run "{run_id}" did not stop in time') from None
    if not handle.events:
        return JSONResponse({"run_id": run_id, "status": "cancelled"})
    if result.status != "cancelled":
        raise ApiError(409, f'run "{run_id}" already ended ({result.status})')
    return JSONResponse(await _run_or_404(state, run_id, principal.tenant))


# --- approvals (docs/durability.md) ----------------------------------------------------------


class ApprovalIn(BaseModel):
    """A decision on a tool call a run is waiting for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "deny", "reason": "not on a Friday"}]},
    )

    decision: Literal["approve", "deny"]
    reason: str = ""


class ApprovalOut(BaseModel):
    """The decision is recorded in the run's log; the run resumes in the background."""

    run_id: str
    call_id: str
    decision: str
    status: str


@router.post(
    "/v1/runs/{run_id}/approvals/{call_id}",
    response_model=ApprovalOut,
    status_code=202,
    responses=error_responses(400, 401, 403, 404, 409),
)
async def decide_approval(
    run_id: str,
    call_id: str,
    body: ApprovalIn,
    request: Request,
    principal: Annotated[Principal, Depends(guard(SCOPE_ADMIN))],
) -> Response:
    """Approve or deny a tool call a ``waiting`` run is parked on (needs ``keys:admin``).

    The decision (``approval.decided``, by this key) is durable when the response is sent;
    the run then resumes in the background. A denied call is not executed: the model sees
    ``denied by key:ID: REASON``. 409 ``conflict`` when the call is not waiting for approval.
    """
    state = server_state(request)
    await _run_or_404(state, run_id, principal.tenant)
    try:
        await state.runtime.decide(
            run_id,
            call_id,
            body.decision,
            reason=body.reason,
            by=f"key:{principal.key_id}",
            wait=False,
        )
    except UsageError as exc:
        raise ApiError(409, str(exc)) from None
    return JSONResponse(
        {"run_id": run_id, "call_id": call_id, "decision": body.decision, "status": "resuming"},
        status_code=202,
    )
