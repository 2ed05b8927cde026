"""Frames of the WebSocket JSON-RPC gateway (``CONTRACTS.md`` §2), as pure functions.

Nothing here touches a socket: :func:`parse_frame` turns what a client sent into a request or
an error text, :func:`reply` builds non-streaming replies, and :func:`frames_for` encodes one
run event as the ``chat.send`` frames it becomes. :class:`StreamEncoder` adds what needs the
stream so far: the whole answer as one ``text`` frame when the model did not stream, and
exactly one ``done`` frame, always last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.routing import DEFAULT_PEER
from agentspec.exceptions import UsageError

RequestId = str | int
Frame = dict[str, Any]
PARSE_ERROR_ID = "0"
"""The id of the error reply to a frame that is not a usable request."""


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request frame: ``{"id", "method", "params"?}``."""

    id: RequestId
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Conversation:
    """Where a message comes from: the routing fields of ``chat.send`` and ``session.*``."""

    channel: str
    account: str
    peer: str = DEFAULT_PEER
    guild: str | None = None
    team: str | None = None


def reply(request_id: RequestId, result: Any = None, error: str | None = None) -> Frame:
    """A non-streaming reply: ``{"id", "result", "error"}`` (``result`` is null on error)."""
    return {"id": request_id, "result": None if error is not None else result, "error": error}


def event_frame(request_id: RequestId, event: str, data: Any = None) -> Frame:
    """A ``chat.send`` stream frame; ``done`` carries no ``data``."""
    if event == "done":
        return {"id": request_id, "event": "done"}
    return {"id": request_id, "event": event, "data": data}


class FrameError(ValueError):
    """A frame that is not a JSON object in a UTF-8 text frame; the message says why."""


def decode_frame(message: Mapping[str, Any], max_bytes: int | None = None) -> dict[str, Any]:
    """The JSON object in an ASGI ``websocket.receive`` message.

    Raises:
        FrameError: a binary frame, invalid UTF-8, a frame over ``max_bytes``, invalid
            JSON, or JSON that is not an object.
    """
    raw = message.get("bytes")
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("invalid frame: not valid UTF-8") from None
        raise FrameError("invalid frame: binary frames are not supported; send JSON text")
    text = message.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid frame: empty message")
    if max_bytes is not None and len(text) * 4 > max_bytes and len(text.encode()) > max_bytes:
        raise FrameError(f"invalid frame: larger than {max_bytes} bytes")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise FrameError(f"invalid JSON: {exc.msg} at {where}") from None
    except (ValueError, RecursionError):
        raise FrameError("invalid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("invalid request: a frame must be a JSON object")
    return data


def parse_frame(message: Mapping[str, Any], max_bytes: int | None = None) -> Request | Frame:
    """The request in an ASGI ``websocket.receive`` message, or the error reply it gets.

    A frame :func:`decode_frame` refuses, or without a usable id, gets an error reply with
    id ``"0"``; a request with a usable id but a bad method or params gets an error reply
    with its own id.
    """
    try:
        data = decode_frame(message, max_bytes)
    except FrameError as exc:
        return reply(PARSE_ERROR_ID, error=str(exc))
    request_id = data.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or request_id == "":
        return reply(PARSE_ERROR_ID, error='invalid request: "id" must be a non-empty string')
    method = data.get("method")
    if not isinstance(method, str) or not method:
        return reply(request_id, error='invalid request: "method" must be a non-empty string')
    params = data.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return reply(request_id, error='invalid request: "params" must be an object')
    return Request(request_id, method, params)


def text_param(params: Mapping[str, Any], name: str, default: str | None = None) -> str:
    """A required (or defaulted) non-empty string parameter."""
    value = params.get(name)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value:
        raise UsageError(f'invalid params: "{name}" must be a non-empty string')
    return value


def optional_param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f'invalid params: "{name}" must be a non-empty string when given')
    return value


def conversation(params: Mapping[str, Any]) -> Conversation:
    """The routing fields of a request's params (``peer`` defaults to ``"main"``).

    Raises:
        UsageError: a field is missing or not a non-empty string.
    """
    return Conversation(
        text_param(params, "channel"),
        text_param(params, "account"),
        text_param(params, "peer", DEFAULT_PEER),
        optional_param(params, "guild"),
        optional_param(params, "team"),
    )


def _content(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


def frames_for(request_id: RequestId, event: ev.Event) -> list[Frame]:
    """The ``chat.send`` frames one run event becomes (most events become none).

    ``model.text`` -> ``text``; ``tool.call`` -> ``tool_use``; ``tool.result`` ->
    ``tool_result``; ``model.response`` -> ``usage``; ``run.failed`` -> ``error`` then
    ``done``; ``run.completed`` -> ``done``.
    """
    data = event.data
    kind = event.type
    if kind == ev.MODEL_TEXT:
        text = data.get("text") or ""
        return [event_frame(request_id, "text", text)] if text else []
    if kind == ev.TOOL_CALL:
        arguments = data.get("arguments")
        use = {"id": data["call_id"], "name": data["name"], "input": arguments or {}}
        return [event_frame(request_id, "tool_use", use)]
    if kind == ev.TOOL_RESULT:
        error = data.get("error") or ""
        result: dict[str, Any] = {"tool_use_id": data["call_id"]}
        result["content"] = error or _content(data.get("output"))
        if error:
            result["is_error"] = True
        return [event_frame(request_id, "tool_result", result)]
    if kind == ev.MODEL_RESPONSE:
        usage = data.get("usage") or {}
        tokens = {
            "input_tokens": int(usage.get("input_tokens", 0)),
            "output_tokens": int(usage.get("output_tokens", 0)),
        }
        return [event_frame(request_id, "usage", tokens)]
    if kind == ev.RUN_FAILED:
        message = data.get("message") or data.get("error") or "the run failed"
        return [event_frame(request_id, "error", message), event_frame(request_id, "done")]
    if kind == ev.RUN_COMPLETED:
        return [event_frame(request_id, "done")]
    return []


class StreamEncoder:
    """Encodes one run's events for one ``chat.send``, ending with exactly one ``done``.

    When a model turn produced no ``model.text`` (the agent has ``stream: false``), the
    answer of its ``model.response`` is sent as one ``text`` frame. After ``done``, nothing
    more is sent.
    """

    __slots__ = ("_streamed", "done", "request_id")

    def __init__(self, request_id: RequestId) -> None:
        self.request_id = request_id
        self.done = False
        self._streamed: set[int] = set()

    def feed(self, event: ev.Event) -> list[Frame]:
        if self.done:
            return []
        if event.type == ev.RUN_FALLBACK:
            self._streamed.clear()
        turn = event.data.get("turn")
        if event.type == ev.MODEL_TEXT and isinstance(turn, int):
            self._streamed.add(turn)
        frames = frames_for(self.request_id, event)
        if event.type == ev.MODEL_RESPONSE and turn not in self._streamed:
            content = (event.data.get("message") or {}).get("content") or ""
            if content:
                frames.insert(0, event_frame(self.request_id, "text", content))
        if event.type in ev.TERMINAL:
            self.done = True
        return frames

    def finish(self, error: str | None = None) -> list[Frame]:
        """The closing frames when the event stream ended without a terminal event."""
        if self.done:
            return []
        self.done = True
        frames = [event_frame(self.request_id, "error", error)] if error else []
        return [*frames, event_frame(self.request_id, "done")]
