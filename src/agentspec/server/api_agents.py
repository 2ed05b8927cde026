"""Agents and sessions (CONTRACTS.md §1): list, invoke, stream, create/continue/delete sessions.

Invoke and session messages answer with the run's result; a failed run answers with the error
status of its code (408 ``timeout``, 429 ``rate_limited`` for a token budget, ...) and the
contract error body with ``details.run_id``. Every run-starting response carries ``X-Run-ID``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentspec.auth.base import SCOPE_INVOKE, SCOPE_SESSIONS, Principal
from agentspec.engine.run import RunHandle
from agentspec.server.api import (
    CreateSessionRequest,
    InvokeRequest,
    ServerState,
    SessionMessageRequest,
    guard,
    iso,
    require_json,
    server_state,
)
from agentspec.server.errors import ApiError, error_response, error_responses, run_failure
from agentspec.server.sse import EventStreamResponse, contract_stream
from agentspec.store.base import SessionRecord

router = APIRouter()

invoke_guard = guard(SCOPE_INVOKE, agent=True)
sessions_guard = guard(SCOPE_SESSIONS, agent=True)
any_caller = guard()

Json = Annotated[None, Depends(require_json)]
Invoker = Annotated[Principal, Depends(invoke_guard)]
SessionWriter = Annotated[Principal, Depends(sessions_guard)]


# ---------------------------------------------------------------------------- response models


class Tokens(BaseModel):
    """Token usage; ``total`` is input + output + cache_read."""

    input: int
    output: int
    cache_read: int
    total: int = Field(description="input + output + cache_read")


class ToolCallOut(BaseModel):
    """One tool call of a run."""

    id: str
    tool_name: str
    input: dict[str, Any] | None
    output: Any
    duration_ms: float
    error: str = ""


class InvokeResult(BaseModel):
    """The invoke result of the contract, plus ``run_id``, ``agent`` and ``status``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run_5f1c0e9a2b7d4c3e8a10",
                    "agent": "assistant",
                    "status": "completed",
                    "output": "12 + 30 = 42.",
                    "session_id": "",
                    "turns": 2,
                    "duration_ms": 12.5,
                    "tokens": {"input": 120, "output": 35, "cache_read": 0, "total": 155},
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "tool_name": "add",
                            "input": {"a": 12, "b": 30},
                            "output": 42,
                            "duration_ms": 0.4,
                            "error": "",
                        }
                    ],
                }
            ]
        }
    )

    run_id: str
    agent: str
    status: str
    output: str
    session_id: str
    turns: int
    duration_ms: float
    tokens: Tokens
    tool_calls: list[ToolCallOut]


class AgentOut(BaseModel):
    """One agent of ``GET /v1/agents``."""

    name: str
    fqn: str
    description: str
    model: str
    strategy: str
    status: Literal["ready"]
    skills: list[str]
    active_sessions: int = Field(description="Sessions used in the last 30 minutes (this process).")
    total_invocations: int = Field(description="Runs started since this process started.")


class AgentList(BaseModel):
    """``GET /v1/agents``."""

    agents: list[AgentOut]


class SessionOut(BaseModel):
    """A created session."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "sess_8c2d4e",
                    "agent": "assistant",
                    "created_at": "2025-01-31T12:00:00.000Z",
                    "metadata": {},
                }
            ]
        }
    )

    session_id: str
    agent: str
    created_at: str
    metadata: dict[str, Any]


STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `text`, `tool_call_start`, `tool_call_end`, `error`, "
        "and `done` (always last). Comments (`: keep-alive`) while the run is quiet.",
        "content": {
            "text/event-stream": {
                "example": 'event: text\ndata: {"text":"12 + 30 = 42."}\n\n'
                'event: done\ndata: {"tokens":{"input":120,"output":35,"cache_read":0,'
                '"total":155},"turns":2,"duration_ms":12.5,"session_id":"","run_id":"run_1"}\n\n'
            }
        },
    }
}


# ---------------------------------------------------------------------------- agents


@router.get(
    "/v1/agents", tags=["agents"], response_model=AgentList, responses=error_responses(401, 429)
)
async def list_agents(
    request: Request, principal: Annotated[Principal, Depends(any_caller)]
) -> dict[str, Any]:
    """The agents of the served package."""
    state = server_state(request)
    runtime = state.runtime
    package = runtime.package
    override = runtime.settings.model_override
    active = state.observer.active_sessions()
    agents = [
        {
            "name": name,
            "fqn": package.fqn("Agent", name),
            "description": spec.description,
            "model": (override or spec.model).label,
            "strategy": spec.strategy,
            "status": "ready",
            "skills": list(spec.skills),
            "active_sessions": active[name],
            "total_invocations": state.observer.invocations[name],
        }
        for name, spec in sorted(package.agents.items())
    ]
    return {"agents": agents}


async def _respond(handle: RunHandle) -> Response:
    result = await handle.result()
    headers = {"X-Run-ID": result.run_id}
    if result.status == "completed":
        return JSONResponse(result.to_dict(), headers=headers)
    if result.status == "waiting":  # parked for approval (docs/durability.md): 202, not an error
        return JSONResponse(result.to_dict(), status_code=202, headers=headers)
    status, code = run_failure(result.error or "internal_error")
    details: dict[str, Any] = {"run_id": result.run_id}
    if code != result.error:
        details["cause"] = result.error
    return error_response(
        status, result.error_message or code, code=code, details=details, headers=headers
    )


def _check_session_scope(principal: Principal, session_id: str | None) -> None:
    if session_id is not None and not principal.allows(SCOPE_SESSIONS):
        raise ApiError(
            403,
            f"continuing a session needs the {SCOPE_SESSIONS!r} scope",
            details={"required_scope": SCOPE_SESSIONS},
        )


async def _check_session(
    state: ServerState, name: str, session_id: str, principal: Principal
) -> None:
    """404 unless the session exists, is ``name``'s and belongs to the caller's tenant."""
    record = await state.runtime.get_session(session_id)
    if record is None or record.agent != name or record.tenant != principal.tenant:
        raise ApiError(404, f'no session "{session_id}" for agent "{name}"')


async def _check_foreign_session(
    state: ServerState, session_id: str | None, principal: Principal
) -> SessionRecord | None:
    """The session a run continues (if it exists yet); 404 if another tenant's."""
    if session_id is None:
        return None
    record = await state.runtime.get_session(session_id)
    if record is not None and record.tenant != principal.tenant:
        raise ApiError(404, f'no session "{session_id}"')
    return record


@router.post(
    "/v1/agents/{name}/invoke",
    tags=["agents"],
    response_model=InvokeResult,
    responses=error_responses(400, 401, 403, 404, 408, 409, 413, 429, 500, 503),
)
async def invoke(
    name: str, request: Request, principal: Invoker, _: Json, body: InvokeRequest
) -> Response:
    """Run the agent on a message and answer with its result."""
    state = server_state(request)
    _check_session_scope(principal, body.session_id)
    await _check_foreign_session(state, body.session_id, principal)
    handle = state.start_run(
        name, body.message, principal, session_id=body.session_id, variables=body.variables
    )
    if body.session_id:
        state.observer.touch_session(body.session_id, name)
    return await _respond(handle)


@router.post(
    "/v1/agents/{name}/stream",
    tags=["agents"],
    response_class=EventStreamResponse,
    responses={**STREAM_DOC, **error_responses(400, 401, 403, 404, 413, 429, 503)},
)
async def stream(
    name: str, request: Request, principal: Invoker, _: Json, body: InvokeRequest
) -> Response:
    """Run the agent and stream its answer as server-sent events (``done`` is always last)."""
    state = server_state(request)
    _check_session_scope(principal, body.session_id)
    if body.session_id:
        record = await _check_foreign_session(state, body.session_id, principal)
        if record is not None and record.agent != name:
            raise ApiError(
                400, f'session "{body.session_id}" belongs to agent "{record.agent}", not "{name}"'
            )
    handle = state.start_run(
        name, body.message, principal, session_id=body.session_id, variables=body.variables
    )
    settings = state.settings
    body_iter = contract_stream(
        handle,
        keepalive=settings.keepalive_seconds,
        cancel_on_disconnect=settings.cancel_on_disconnect,
    )
    return EventStreamResponse(body_iter, headers={"X-Run-ID": handle.run_id})


# ---------------------------------------------------------------------------- sessions


@router.post(
    "/v1/agents/{name}/sessions",
    tags=["sessions"],
    status_code=201,
    response_model=SessionOut,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def create_session(
    name: str,
    request: Request,
    principal: SessionWriter,
    _: Json,
    body: CreateSessionRequest | None = None,
) -> Response:
    """Create a session; its messages become the context of the next ones."""
    state = server_state(request)
    metadata = body.metadata if body is not None else None
    record = await state.runtime.create_session(name, metadata=metadata, tenant=principal.tenant)
    state.observer.touch_session(record.id, name)
    return JSONResponse(
        {
            "session_id": record.id,
            "agent": record.agent,
            "created_at": iso(record.created_at),
            "metadata": record.metadata,
        },
        status_code=201,
    )


@router.post(
    "/v1/agents/{name}/sessions/{session_id}",
    tags=["sessions"],
    response_model=InvokeResult,
    responses=error_responses(400, 401, 403, 404, 408, 409, 413, 429, 500, 503),
)
async def session_message(
    name: str,
    session_id: str,
    request: Request,
    principal: SessionWriter,
    _: Json,
    body: SessionMessageRequest,
) -> Response:
    """Send a message in a session: the run sees the session's recent messages."""
    state = server_state(request)
    await _check_session(state, name, session_id, principal)
    handle = state.start_run(
        name, body.message, principal, session_id=session_id, variables=body.variables
    )
    state.observer.touch_session(session_id, name)
    return await _respond(handle)


@router.delete(
    "/v1/agents/{name}/sessions/{session_id}",
    tags=["sessions"],
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 429),
)
async def delete_session(
    name: str, session_id: str, request: Request, principal: SessionWriter
) -> Response:
    """Delete a session and its messages."""
    state = server_state(request)
    await _check_session(state, name, session_id, principal)
    await state.runtime.delete_session(session_id)
    state.observer.drop_session(session_id)
    return Response(status_code=204)
