"""Helpers shared by the HTTP provider adapters: error mapping and tool-argument parsing.

Provider quirks stay in each adapter; what is here is the same for every HTTP provider.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Mapping
from datetime import UTC
from http import HTTPStatus

import httpx

from agentspec.exceptions import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from agentspec.models.base import ToolCall

PLACEHOLDER_KEY = "not-needed"
"""Sent to custom base URLs when no key is configured (local servers ignore it)."""

_ERROR_BY_STATUS: dict[int, type[ModelError]] = {
    401: ModelAuthError,
    403: ModelAuthError,
    408: ModelTimeout,
    429: ModelRateLimited,
}


def parse_arguments(call_id: str, name: str, raw: str) -> ToolCall:
    """A ToolCall from the model's argument text; bad JSON is kept on the call, never raised."""
    if not raw.strip():
        return ToolCall(id=call_id, name=name, arguments={})
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return ToolCall(call_id, name, None, raw, f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        why = f"arguments must be a JSON object, not {type(value).__name__}"
        return ToolCall(call_id, name, None, raw, why)
    return ToolCall(id=call_id, name=name, arguments=value)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP-date)."""
    headers = headers or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        with contextlib.suppress(ValueError):
            return max(float(headers.get(name, "")) * scale, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after") or "")
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - time.time(), 0.0)


def status_error(
    provider: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    what: str = "",
) -> ModelError:
    """The ModelError for an HTTP status, worded ``provider: status reason: detail``."""
    if not what:
        try:
            what = f"{status} {HTTPStatus(status).phrase.lower()}"
        except ValueError:
            what = f"{status} overloaded" if status == 529 else str(status)
    message = f"{provider}: {what}: {detail}" if detail else f"{provider}: {what}"
    cls = _ERROR_BY_STATUS.get(status) or (
        ModelUnavailable if status >= 500 else ModelBadRequest if status >= 400 else ModelError
    )
    return cls(message, provider=provider, status=status, retry_after=retry_after(headers))


def transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout exception types, connection exception types) of httpx and, if present, httpx2."""
    timeouts: list[type[BaseException]] = [TimeoutError, httpx.TimeoutException]
    transport: list[type[BaseException]] = [OSError, httpx.TransportError]
    try:
        import httpx2
    except ImportError:
        pass
    else:
        timeouts.append(httpx2.TimeoutException)
        transport.append(httpx2.TransportError)
    return tuple(timeouts), tuple(transport)


def malformed(provider: str, what: str) -> ModelError:
    return ModelError(f"{provider}: malformed response: {what}", provider=provider, status=200)
