"""``Client``: the agentspec HTTP API from ordinary (blocking) code.

Example:
    ```python
    from agentspec.sdk import Client

    with Client("http://127.0.0.1:8080", api_key="ask_...") as client:
        print(client.invoke("assistant", "What is 2 + 3?").output)
        for event in client.stream("assistant", "And 4 + 5?"):
            print(event)
    ```
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from agentspec.sdk import _core
from agentspec.sdk._core import Call, seg
from agentspec.sdk._errors import APIError, ConnectionFailed
from agentspec.sdk._types import InvokeResult, RunPage, Session, StreamEvent, stream_event


class Client:
    """Blocking client with the same methods as :class:`~agentspec.sdk.AsyncClient`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.max_retries = max_retries
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=_core.headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params or None,
                    headers=call.headers or None,
                )
                return _core.decode(response)
            except APIError as error:
                if not _core.should_retry(error, attempt, self.max_retries):
                    raise
                time.sleep(_core.retry_delay(attempt, error))
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc

    def _events(self, call: Call) -> Iterator[tuple[str, Any, str]]:
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._http.stream(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params or None,
                    headers={"Accept": "text/event-stream", **call.headers},
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _core.error_for(response)
                    yield from _core.parse_lines(response.iter_lines())
                    return
            except APIError as error:
                if not _core.should_retry(error, attempt, self.max_retries):
                    raise
                time.sleep(_core.retry_delay(attempt, error))
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send(Call("GET", "/healthz"))
        return result

    def agents(self) -> list[dict[str, Any]]:
        return list(self._send(Call("GET", "/v1/agents"))["agents"])

    def invoke(
        self,
        agent: str,
        message: str,
        *,
        variables: dict[str, str] | None = None,
        session_id: str | None = None,
    ) -> InvokeResult:
        call = Call(
            "POST", f"/v1/agents/{seg(agent)}/invoke", _core.body(message, variables, session_id)
        )
        return InvokeResult.from_dict(self._send(call))

    def stream(
        self,
        agent: str,
        message: str,
        *,
        variables: dict[str, str] | None = None,
        session_id: str | None = None,
    ) -> Iterator[StreamEvent]:
        call = Call(
            "POST", f"/v1/agents/{seg(agent)}/stream", _core.body(message, variables, session_id)
        )
        for name, data, _ in self._events(call):
            yield stream_event(name, data)

    def create_session(self, agent: str, *, metadata: dict[str, Any] | None = None) -> Session:
        call = Call("POST", f"/v1/agents/{seg(agent)}/sessions", {"metadata": metadata or {}})
        return Session.from_dict(self._send(call))

    def send(
        self, agent: str, session_id: str, message: str, *, variables: dict[str, str] | None = None
    ) -> InvokeResult:
        call = Call(
            "POST",
            f"/v1/agents/{seg(agent)}/sessions/{seg(session_id)}",
            _core.body(message, variables),
        )
        return InvokeResult.from_dict(self._send(call))

    def delete_session(self, agent: str, session_id: str) -> None:
        self._send(Call("DELETE", f"/v1/agents/{seg(agent)}/sessions/{seg(session_id)}"))

    def runs(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> RunPage:
        params = {
            k: v
            for k, v in {"agent": agent, "status": status, "cursor": cursor, "limit": limit}.items()
            if v
        }
        data = self._send(Call("GET", "/v1/runs", params=params))
        return RunPage(list(data["runs"]), data.get("next_cursor"))

    def iter_runs(
        self, *, agent: str | None = None, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self.runs(agent=agent, status=status, cursor=cursor)
            yield from page.runs
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._send(Call("GET", f"/v1/runs/{seg(run_id)}"))
        return result

    def events(self, run_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        data = self._send(Call("GET", f"/v1/runs/{seg(run_id)}/events", params={"after": after}))
        return list(data["events"] if isinstance(data, dict) else data)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._send(Call("POST", f"/v1/runs/{seg(run_id)}/cancel"))
        return result

    def run_pipeline(self, name: str, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._send(
            Call("POST", f"/v1/pipelines/{seg(name)}/run", {"trigger": trigger or {}})
        )
        return result
