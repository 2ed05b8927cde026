"""Pipelines over HTTP (CONTRACTS.md §1): ``POST /v1/pipelines/{name}/run``.

The body is ``{"trigger": {...}}``; the answer is the contract's pipeline result, whatever the
pipeline's outcome (``status`` says ``completed``, ``failed`` or ``cancelled``; each step has
its own ``status`` and ``error``), with the pipeline run's id in ``X-Run-ID``. Errors before
anything runs use the contract error body: 404 ``not_found`` for an unknown pipeline, 400
``invalid_request`` for a bad body or a trigger missing a field a step needs
(``details``: ``step``, ``field``). Same scope as invoking an agent (``invoke``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentspec.auth.base import SCOPE_INVOKE, Principal
from agentspec.engine.pipeline import TriggerError, check_trigger, start_pipeline
from agentspec.ir.suggest import suggest
from agentspec.server.api import guard, require_json, server_state
from agentspec.server.errors import ApiError, error_responses

router = APIRouter()

Invoker = Annotated[Principal, Depends(guard(SCOPE_INVOKE))]
Json = Annotated[None, Depends(require_json)]


class PipelineRunRequest(BaseModel):
    """Body of ``POST /v1/pipelines/{name}/run``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"trigger": {"code": "eval(input())"}}]},
    )

    trigger: dict[str, Any] = Field(
        default_factory=dict, description="What step templates read as {{trigger.FIELD}}."
    )


class StepOut(BaseModel):
    """One step of a pipeline result."""

    agent: str
    output: Any = Field(description="The agent's answer; parsed when it is JSON.")
    duration_ms: float
    status: str = Field(description="pending, running, completed, failed, skipped, cancelled")
    error: str
    run_id: str = Field(description="The step's (last) child run; empty if it never started.")
    attempts: int


class PipelineTokens(BaseModel):
    """Token usage of every step; ``total`` is input + output + cache_read."""

    input: int
    output: int
    cache_read: int
    total: int


class PipelineResultOut(BaseModel):
    """The contract's pipeline result, plus ``run_id`` and ``error``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pipeline": "code-review",
                    "status": "completed",
                    "total_duration_ms": 25.1,
                    "tokens": {"input": 72, "output": 46, "cache_read": 0, "total": 118},
                    "steps": {
                        "security": {
                            "agent": "security-analyst",
                            "output": "No security issues found.",
                            "duration_ms": 12.0,
                            "status": "completed",
                            "error": "",
                            "run_id": "run_0c9d7e",
                            "attempts": 1,
                        }
                    },
                    "run_id": "run_5f1c0e",
                    "error": "",
                }
            ]
        }
    )

    pipeline: str
    status: str
    total_duration_ms: float
    tokens: PipelineTokens
    steps: dict[str, StepOut]
    run_id: str
    error: str


@router.post(
    "/v1/pipelines/{name}/run",
    tags=["pipelines"],
    response_model=PipelineResultOut,
    responses=error_responses(400, 401, 403, 404, 413, 429, 500, 503),
)
async def run_pipeline(
    name: str, request: Request, principal: Invoker, _: Json, body: PipelineRunRequest
) -> JSONResponse:
    """Run the pipeline on a trigger and answer with its result (steps, outputs, statuses)."""
    state = server_state(request)
    pipeline = state.runtime.package.pipelines.get(name)
    if pipeline is None:
        hint = suggest(name, state.runtime.package.pipelines)
        raise ApiError(404, f'unknown pipeline "{name}"' + (f" ({hint})" if hint else ""))
    try:
        check_trigger(pipeline, body.trigger)
    except TriggerError as exc:
        raise ApiError(
            400,
            str(exc),
            details={
                "errors": [{"field": f"body.trigger.{exc.field}", "problem": "missing"}],
                "step": exc.step,
                "field": exc.field,
            },
        ) from None
    if not state.accepting:
        raise ApiError(503, "the server is shutting down", headers={"Retry-After": "5"})
    handle, result = start_pipeline(state.runtime, name, body.trigger)
    state.runs.add(handle, principal.key_id)
    outcome = await result
    return JSONResponse(outcome.to_dict(), headers={"X-Run-ID": outcome.run_id})
