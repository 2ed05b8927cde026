"""Server-sent events: the two SSE wire formats as pure functions of run events, and the stream.

- :class:`ContractEncoder` maps our events to the contract's stream events (CONTRACTS.md §1):
  ``text`` ``{"text"}`` (``model.text``; a turn that streamed nothing sends its whole text on
  ``model.response``), ``tool_call_start`` ``{"id", "tool_name", "input"}`` (``tool.call``),
  ``tool_call_end`` ``{"id", "output", "duration_ms", "error"?}`` (``tool.result``), ``error``
  ``{"error", "message"}`` (``run.failed``), and ``done`` ``{"tokens", "turns", "duration_ms",
  "session_id", "run_id"}``, always last. It holds only what the mapping needs (the session id,
  which turns streamed); the same events always give the same output.
- :func:`run_event_sse` is the format of ``GET /v1/runs/{id}/events``: ``event:`` our event
  type, ``id:`` its ``seq``, ``data:`` the event's JSON.
- :func:`contract_stream` drives a live run: keep-alive comments while the run is quiet, an
  ``error`` then ``done`` for any failure (never a cut connection), and on client disconnect the
  run continues (or is cancelled when ``cancel_on_disconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.run import RunHandle
from agentspec.exceptions import AgentspecError
from agentspec.server.errors import run_failure

logger = logging.getLogger("agentspec.server")

T = TypeVar("T")
StreamEvent = tuple[str, dict[str, Any]]

KEEPALIVE: Final = b": keep-alive\n\n"
STREAM_HEADERS: Final[Mapping[str, str]] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def dumps(data: Any) -> str:
    """Compact JSON (one line: SSE ``data:`` must not contain raw newlines)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def sse(event: str, data: Any, id: int | str | None = None) -> bytes:
    """One SSE message."""
    head = f"event: {event}\n"
    if id is not None:
        head += f"id: {id}\n"
    return f"{head}data: {dumps(data)}\n\n".encode()


def tokens(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """The contract's ``tokens`` object from an event's ``usage``."""
    usage = usage or {}
    input_ = int(usage.get("input_tokens", 0))
    output = int(usage.get("output_tokens", 0))
    cache_read = int(usage.get("cache_read_tokens", 0))
    return {
        "input": input_,
        "output": output,
        "cache_read": cache_read,
        "total": input_ + output + cache_read,
    }


class ContractEncoder:
    """Our events in, the contract's stream events out (``feed`` one event at a time)."""

    __slots__ = ("_session_id", "_streamed", "done")

    def __init__(self) -> None:
        self._session_id = ""
        self._streamed: set[int] = set()
        self.done = False
        """Whether ``done`` was produced (nothing is produced after it)."""

    def feed(self, event: Event) -> list[StreamEvent]:
        """The stream events for one of our events (often none)."""
        if self.done:
            return []
        kind, data = event.type, event.data
        if kind == ev.MODEL_TEXT:
            self._streamed.add(data.get("turn", 0))
            return [("text", {"text": data.get("text", "")})]
        if kind == ev.MODEL_RESPONSE:
            content = (data.get("message") or {}).get("content") or ""
            if content and data.get("turn", 0) not in self._streamed:
                return [("text", {"text": content})]
            return []
        if kind == ev.TOOL_CALL:
            return [
                (
                    "tool_call_start",
                    {
                        "id": data["call_id"],
                        "tool_name": data["name"],
                        "input": data.get("arguments"),
                    },
                )
            ]
        if kind == ev.TOOL_RESULT:
            end: dict[str, Any] = {
                "id": data["call_id"],
                "output": data.get("output"),
                "duration_ms": data.get("duration_ms", 0.0),
            }
            if data.get("error"):
                end["error"] = data["error"]
            return [("tool_call_end", end)]
        if kind == ev.RUN_STARTED:
            self._session_id = data.get("session_id") or ""
            return []
        if kind == ev.RUN_COMPLETED:
            return [self._done(event.run_id, data)]
        if kind == ev.RUN_FAILED:
            _, code = run_failure(data.get("error", "internal_error"))
            error = {"error": code, "message": data.get("message", "")}
            return [("error", error), self._done(event.run_id, data)]
        return []

    def fail(self, run_id: str, code: str, message: str) -> list[StreamEvent]:
        """``error`` then ``done`` for a run that ended without its terminal event."""
        if self.done:
            return []
        return [("error", {"error": code, "message": message}), self._done(run_id, {})]

    def _done(self, run_id: str, data: Mapping[str, Any]) -> StreamEvent:
        self.done = True
        return (
            "done",
            {
                "tokens": tokens(data.get("usage")),
                "turns": data.get("turns", 0),
                "duration_ms": data.get("duration_ms", 0.0),
                "session_id": self._session_id,
                "run_id": run_id,
            },
        )


def encode_contract(events: Iterable[Event]) -> list[StreamEvent]:
    """The contract's stream events for a whole run (a pure function of its events)."""
    encoder = ContractEncoder()
    return [item for event in events for item in encoder.feed(event)]


def run_event_sse(event: Event) -> bytes:
    """One event of ``GET /v1/runs/{id}/events`` as SSE (``id`` is the event's ``seq``)."""
    return sse(event.type, event.to_dict(), event.seq)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def with_keepalive(source: AsyncIterable[T], interval: float) -> AsyncIterator[T | None]:
    """Items of ``source``, and ``None`` whenever ``interval`` seconds pass without one.

    The pending read survives the timeouts, so no item is lost or cut in half.
    """
    iterator = aiter(source)
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
                pending.add_done_callback(_consume)
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, AgentspecError):
        status, code = run_failure(exc.code)
        if status < 500:
            return code, str(exc)
    logger.error("a streamed run failed before it started", exc_info=exc)
    return "internal_error", "internal error"


async def contract_stream(
    handle: RunHandle, *, keepalive: float, cancel_on_disconnect: bool = False
) -> AsyncIterator[bytes]:
    """The SSE body of ``POST /v1/agents/{name}/stream`` for a started run; ``done`` is last."""
    encoder = ContractEncoder()
    finished = False
    try:
        async for event in with_keepalive(handle, keepalive):
            if event is None:
                yield KEEPALIVE
                continue
            for name, data in encoder.feed(event):
                yield sse(name, data)
        if not encoder.done:
            try:
                result = await handle.result()
                code, message = result.error or "internal_error", result.error_message
                if result.status == "waiting":  # parked for approval (docs/durability.md)
                    code = "conflict"
                    message = f"run {result.run_id} is waiting for approval: POST " + (
                        f"/v1/runs/{result.run_id}/approvals/CALL_ID"
                    )
                _, code = run_failure(code)
            except Exception as exc:
                code, message = _failure(exc)
            for name, data in encoder.fail(handle.run_id, code, message or code):
                yield sse(name, data)
        finished = True
    finally:
        if not finished and cancel_on_disconnect:
            handle.cancel()


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that always notices a client disconnect.

    The body is produced in its own task while another waits for ``http.disconnect``; whichever
    ends first stops the other, and the body iterator is closed either way, so its cleanup
    (``finally``) runs at once.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        super().__init__(
            content,
            status_code=status_code,
            headers={**STREAM_HEADERS, **(headers or {})},
            media_type=self.media_type,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streamer = asyncio.ensure_future(self.stream_response(send))
        watcher = asyncio.ensure_future(self.listen_for_disconnect(receive))
        tasks: Sequence[asyncio.Future[None]] = (streamer, watcher)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if not streamer.cancelled():
            error = streamer.exception()
            if error is not None and not isinstance(error, OSError):
                raise error
