"""What the sync and async clients share: requests, response parsing, retries, SSE parsing.

Each API call is described once as a :class:`Call` (method, path, body) plus a parser; the two
clients only differ in how they send it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from agentspec._version import __version__
from agentspec.sdk._errors import APIError, error_from_response

RETRY_STATUSES = frozenset({429, 503})


@dataclass(slots=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def seg(value: str) -> str:
    """A safe URL path segment."""
    return quote(value, safe="")


def headers(api_key: str | None) -> dict[str, str]:
    base = {"User-Agent": f"agentspec-sdk/{__version__}", "Accept": "application/json"}
    if api_key:
        base["Authorization"] = f"Bearer {api_key}"
    return base


def body(
    message: str, variables: dict[str, str] | None, session_id: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"message": message}
    if variables:
        data["variables"] = variables
    if session_id:
        data["session_id"] = session_id
    return data


def decode(response: httpx.Response) -> Any:
    """The JSON body of a successful response, or raise the contract error."""
    if response.status_code >= 400:
        raise error_for(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise APIError(
            response.status_code, "invalid_response", "the server did not send JSON"
        ) from None


def error_for(response: httpx.Response) -> APIError:
    try:
        payload: Any = response.json()
    except ValueError:
        payload = response.text
    return error_from_response(response.status_code, payload, response.headers)


def retry_delay(attempt: int, error: APIError, cap: float = 30.0) -> float:
    """Honour ``Retry-After``; otherwise exponential backoff with jitter."""
    if error.retry_after is not None:
        return min(error.retry_after, cap)
    return float(min(cap, 0.5 * 2 ** (attempt - 1)) * (0.75 + 0.5 * random.random()))


def should_retry(error: APIError, attempt: int, max_retries: int) -> bool:
    return error.status in RETRY_STATUSES and attempt <= max_retries


class SSEParser:
    """Incremental ``text/event-stream`` parser: feed lines, get ``(event, data, id)`` tuples."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self.last_id = ""

    def feed(self, line: str) -> tuple[str, str, str] | None:
        if line == "":
            if not self._data and not self._event:
                return None
            event = (self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = self.last_id = value
        return None


def parse_lines(lines: Iterator[str]) -> Iterator[tuple[str, Any, str]]:
    parser = SSEParser()
    for line in lines:
        found = parser.feed(line.rstrip("\r"))
        if found is not None:
            yield found[0], loads(found[1]), found[2]


def loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


Parser = Callable[[Any], Any]
