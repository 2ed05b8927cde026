"""The contract's error body, ``{"error": code, "message": text, "details": {}}``, for every error.

Status and code go together (CONTRACTS.md §1): 400 ``invalid_request``, 401 ``unauthorized``,
403 ``forbidden``, 404 ``not_found``, 408 ``timeout``, 409 ``conflict``, 413
``payload_too_large``, 429 ``rate_limited``, 500 ``internal_error``, 503 ``unavailable``.

- :class:`ApiError` is what endpoints and dependencies raise.
- Request validation errors become 400 ``invalid_request`` (never FastAPI's 422 body) with
  ``details.errors`` listing ``{"field": "body.message", "problem": "..."}``.
- :class:`~agentspec.exceptions.AgentspecError` maps by its ``code``.
- Anything unexpected becomes 500 ``internal_error`` without internals; the traceback is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentspec.exceptions import AgentspecError, StoreError

logger = logging.getLogger("agentspec.server")

CODE_STATUS: Final[Mapping[str, int]] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "timeout": 408,
    "conflict": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}
_STATUS_CODE: Final[Mapping[int, str]] = {status: code for code, status in CODE_STATUS.items()}

ErrorCode = Literal[
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "timeout",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "internal_error",
    "unavailable",
]


class ErrorBody(BaseModel):
    """Every error response of the API (the OpenAPI schema of all 4xx and 5xx bodies)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "not_found",
                    "message": 'unknown agent "asistant" (did you mean "assistant"?)',
                    "details": {},
                },
                {
                    "error": "invalid_request",
                    "message": "invalid request: body.message: Field required",
                    "details": {"errors": [{"field": "body.message", "problem": "Field required"}]},
                },
            ]
        }
    )

    error: ErrorCode = Field(description="Machine-readable error code.")
    message: str = Field(description="Human-readable explanation.")
    details: dict[str, Any] = Field(default_factory=dict, description="Code-specific details.")


class ApiError(HTTPException):
    """An error response: HTTP status, contract code (derived from the status), message, details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(status, message, dict(headers) if headers else None)
        self.code = code or code_for_status(status)
        self.message = message
        self.details = dict(details or {})


class PayloadTooLarge(ApiError):
    """The request body is larger than ``settings.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body exceeds the limit of {limit} bytes", details={"limit": limit}
        )


def code_for_status(status: int) -> str:
    """The contract code for an HTTP status (other 4xx: ``invalid_request``; 5xx: ``internal_error``)."""
    return _STATUS_CODE.get(status) or ("internal_error" if status >= 500 else "invalid_request")


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contract's error payload."""
    return {"error": code, "message": message, "details": dict(details or {})}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON response carrying the contract's error body."""
    return JSONResponse(
        error_body(code or code_for_status(status), message, details),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def run_failure(code: str) -> tuple[int, str]:
    """HTTP status and contract code for a failed run's error code.

    ``cancelled`` becomes 409 ``conflict``. A model provider refusing the *server's* credentials
    (``unauthorized``/``forbidden``) is the server's problem, not the caller's: 500.
    """
    if code == "cancelled":
        return 409, "conflict"
    if code in ("unauthorized", "forbidden"):
        return 500, "internal_error"
    status = CODE_STATUS.get(code)
    if status is None:
        return 500, "internal_error"
    return status, code


def _field(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if not isinstance(part, int)]
    return ".".join(parts) or "body"


def validation_details(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``[{"field": "body.message", "problem": "..."}]`` from pydantic/FastAPI error dicts."""
    listed = []
    for error in errors:
        problem = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            position = next((p for p in error.get("loc", ()) if isinstance(p, int)), None)
            problem = "invalid JSON" + (f": {reason}" if reason else "")
            if position is not None:
                problem += f" at byte {position}"
        elif error.get("type") == "extra_forbidden":
            problem = "unknown field"
        listed.append({"field": _field(error.get("loc", ())), "problem": problem})
    return listed


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        code, message, details = exc.code, exc.message, exc.details
    else:
        code, details = code_for_status(exc.status_code), {}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body is not valid JSON (or not UTF-8)"
            details = {"errors": [{"field": "body", "problem": "not valid UTF-8 JSON"}]}
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return error_response(exc.status_code, message, code=code, details=details, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_details(exc.errors())
    first = errors[0] if errors else {"field": "body", "problem": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(
        400,
        f"invalid request: {first['field']}: {first['problem']}{more}",
        details={"errors": errors},
    )


async def _agentspec_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentspecError)
    status = CODE_STATUS.get(exc.code, 500)
    if isinstance(exc, StoreError):
        logger.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "the run store is unavailable; try again later")
    if status >= 500:
        logger.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return error_response(status, "internal error")
    return error_response(status, str(exc), code=exc.code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the contract error body for every kind of error on ``app``."""
    app.add_exception_handler(HTTPException, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(AgentspecError, _agentspec_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    "default": {"model": ErrorBody, "description": "An error (see the `error` code)."}
}
"""Declared on every route: documents the error schema and keeps FastAPI's 422 out of OpenAPI."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: the given error statuses plus ``default``."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": code_for_status(status)} for status in statuses
    }
    responses.update(ERROR_RESPONSES)
    return responses
