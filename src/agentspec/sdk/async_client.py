"""``AsyncClient``: the agentspec HTTP API from asyncio code.

Example:
    ```python
    from agentspec.sdk import AsyncClient, TextEvent, DoneEvent

    async with AsyncClient("http://127.0.0.1:8080", api_key="ask_...") as client:
        result = await client.invoke("assistant", "What is 2 + 3?")
        print(result.output, result.tokens.total)
        async for event in client.stream("assistant", "Tell me more"):
            if isinstance(event, TextEvent):
                print(event.text, end="")
    ```
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from agentspec.sdk import _core
from agentspec.sdk._core import Call, seg
from agentspec.sdk._errors import APIError, ConnectionFailed
from agentspec.sdk._types import InvokeResult, RunPage, Session, StreamEvent, stream_event


class AsyncClient:
    """Async client. Retries 429 and 503 responses (``Retry-After`` honoured) up to ``max_retries``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        api_key: sent as ``Authorization: Bearer``.
        timeout: seconds per request (streams: between events).
        max_retries: retries for 429/503 before raising.
        transport: an httpx transport (tests, proxies).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_retries = max_retries
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_core.headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
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
                await asyncio.sleep(_core.retry_delay(attempt, error))
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc

    async def _events(self, call: Call) -> AsyncIterator[tuple[str, Any, str]]:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._http.stream(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params or None,
                    headers={"Accept": "text/event-stream", **call.headers},
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise _core.error_for(response)
                    parser = _core.SSEParser()
                    async for line in response.aiter_lines():
                        found = parser.feed(line.rstrip("\r"))
                        if found is not None:
                            yield found[0], _core.loads(found[1]), found[2]
                    return
            except APIError as error:
                if not _core.should_retry(error, attempt, self.max_retries):
                    raise
                await asyncio.sleep(_core.retry_delay(attempt, error))
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc

    # ------------------------------------------------------------------ API
    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(Call("GET", "/healthz"))
        return result

    async def agents(self) -> list[dict[str, Any]]:
        data = await self._send(Call("GET", "/v1/agents"))
        return list(data["agents"])

    async def invoke(
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
        return InvokeResult.from_dict(await self._send(call))

    async def stream(
        self,
        agent: str,
        message: str,
        *,
        variables: dict[str, str] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream typed events; the last one is always a :class:`DoneEvent`."""
        call = Call(
            "POST", f"/v1/agents/{seg(agent)}/stream", _core.body(message, variables, session_id)
        )
        async for name, data, _ in self._events(call):
            yield stream_event(name, data)

    async def create_session(
        self, agent: str, *, metadata: dict[str, Any] | None = None
    ) -> Session:
        call = Call("POST", f"/v1/agents/{seg(agent)}/sessions", {"metadata": metadata or {}})
        return Session.from_dict(await self._send(call))

    async def send(
        self, agent: str, session_id: str, message: str, *, variables: dict[str, str] | None = None
    ) -> InvokeResult:
        call = Call(
            "POST",
            f"/v1/agents/{seg(agent)}/sessions/{seg(session_id)}",
            _core.body(message, variables),
        )
        return InvokeResult.from_dict(await self._send(call))

    async def delete_session(self, agent: str, session_id: str) -> None:
        await self._send(Call("DELETE", f"/v1/agents/{seg(agent)}/sessions/{seg(session_id)}"))

    async def runs(
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
        data = await self._send(Call("GET", "/v1/runs", params=params))
        return RunPage(list(data["runs"]), data.get("next_cursor"))

    async def iter_runs(
        self, *, agent: str | None = None, status: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every run, newest first, following cursors."""
        cursor: str | None = None
        while True:
            page = await self.runs(agent=agent, status=status, cursor=cursor)
            for run in page.runs:
                yield run
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(Call("GET", f"/v1/runs/{seg(run_id)}"))
        return result

    async def events(self, run_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        data = await self._send(
            Call("GET", f"/v1/runs/{seg(run_id)}/events", params={"after": after})
        )
        return list(data["events"] if isinstance(data, dict) else data)

    async def follow(self, run_id: str, *, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """A run's events as they happen (SSE), resuming after ``after`` on reconnect."""
        last = after
        while True:
            call = Call(
                "GET",
                f"/v1/runs/{seg(run_id)}/events",
                params={"after": last},
                headers={"Last-Event-ID": str(last)} if last else {},
            )
            try:
                async for _, data, event_id in self._events(call):
                    if event_id:
                        last = int(event_id)
                    yield data
                    if isinstance(data, dict) and data.get("type") in (
                        "run.completed",
                        "run.failed",
                    ):
                        return
                return
            except ConnectionFailed:
                await asyncio.sleep(0.5)

    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(Call("POST", f"/v1/runs/{seg(run_id)}/cancel"))
        return result

    async def run_pipeline(
        self, name: str, trigger: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(
            Call("POST", f"/v1/pipelines/{seg(name)}/run", {"trigger": trigger or {}})
        )
        return result
