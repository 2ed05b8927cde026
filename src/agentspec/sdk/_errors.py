"""Errors of the agentspec HTTP API, one class per contract error code.

```
APIError                 any error response; .status .code .message .details .request_id
├── BadRequest           400 invalid_request
├── Unauthorized         401 unauthorized
├── Forbidden            403 forbidden
├── NotFound             404 not_found
├── RequestTimeout       408 timeout
├── Conflict             409 conflict
├── PayloadTooLarge      413 payload_too_large
├── RateLimited          429 rate_limited (.retry_after)
├── InternalError        500 internal_error
└── Unavailable          503 unavailable (.retry_after)
ConnectionFailed         the server could not be reached
```
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    code = "error"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id
        self.retry_after = retry_after


class BadRequest(APIError):
    code = "invalid_request"


class Unauthorized(APIError):
    code = "unauthorized"


class Forbidden(APIError):
    code = "forbidden"


class NotFound(APIError):
    code = "not_found"


class RequestTimeout(APIError):
    code = "timeout"


class Conflict(APIError):
    code = "conflict"


class PayloadTooLarge(APIError):
    code = "payload_too_large"


class RateLimited(APIError):
    code = "rate_limited"


class InternalError(APIError):
    code = "internal_error"


class Unavailable(APIError):
    code = "unavailable"


class ConnectionFailed(Exception):
    """The server could not be reached (refused, DNS, TLS, read timeout)."""


BY_CODE: dict[str, type[APIError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        RequestTimeout,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        InternalError,
        Unavailable,
    )
}
BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    500: InternalError,
    503: Unavailable,
}


def error_from_response(status: int, body: Any, headers: dict[str, str] | Any) -> APIError:
    """The :class:`APIError` for an error response (contract body, or anything else)."""
    code, message = "", ""
    details: dict[str, Any] = {}
    if isinstance(body, dict):
        code = str(body.get("error") or "")
        message = str(body.get("message") or "")
        raw_details = body.get("details")
        details = raw_details if isinstance(raw_details, dict) else {}
    elif isinstance(body, str):
        message = body[:500]
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or APIError
    retry_after: float | None = None
    raw = headers.get("retry-after") if headers is not None else None
    if raw:
        try:
            retry_after = max(0.0, float(raw))
        except ValueError:
            retry_after = None
    request_id = headers.get("x-request-id", "") if headers is not None else ""
    return cls(
        status,
        code or cls.code,
        message or f"HTTP {status}",
        details,
        request_id=request_id,
        retry_after=retry_after,
    )
