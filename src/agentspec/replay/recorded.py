"""What a recorded run's log holds, as a model and tools that answer from it.

:class:`Recording` reads a run's events once. :class:`RecordedModel` answers model calls from the
recorded ``model.response`` events (deltas, provider retries and failed turns included), in
order; :class:`RecordedTool` answers tool calls from the recorded ``tool.result`` events by call
id. Nothing is executed and nothing leaves the process.

For a replay against a changed spec (``--with``), :class:`RecordedModel` in *hybrid* mode reuses
recorded responses only while the conversation is the one recorded, then hands every later call
to a live model; :class:`MatchingTool` reuses a recorded result when a call has the same tool
name and arguments as a recorded call, and runs the changed spec's tool otherwise.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentspec.engine import events as ev
from agentspec.exceptions import ModelError, RunError, ScriptMismatch, ToolError
from agentspec.models.base import (
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    StreamItem,
    TextDelta,
)
from agentspec.tools.base import Tool, ToolContext


@dataclass(slots=True)
class Attempt:
    """One model call of the recording: provider retries, deltas, then a response or an error."""

    retries: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[str] = field(default_factory=list)
    response: ModelResponse | None = None
    error: tuple[str, str] | None = None
    """``(code, message)`` when the call failed (a ``run.retry``, fallback or failed run)."""
    retried: bool = False
    """The failure was a model error the strategy retried (``run.retry``)."""
    expected: list[Message] = field(default_factory=list)
    """The messages this run had added (input, answers, tool results) when the call was made."""


@dataclass(slots=True)
class RecordedCall:
    call_id: str
    name: str
    arguments: dict[str, Any] | None
    output: Any = None
    error: str = ""
    done: bool = False


def tool_content(output: Any, error: str) -> str:
    """The content of the tool message the engine builds from a result (see engine/react.py)."""
    if error:
        return f"error: {error}"
    if isinstance(output, str):
        return output
    if type(output) is int or type(output) is float:
        return repr(output)
    return json.dumps(output, ensure_ascii=False)


def call_key(name: str, arguments: dict[str, Any] | None) -> str:
    """A tool call's identity for matching across specs: its name and canonical arguments."""
    return name + "\0" + json.dumps(arguments, sort_keys=True, ensure_ascii=False)


class Recording:
    """The parts of a recorded run a replay needs.

    Attributes:
        started: the ``run.started`` payload.
        attempts: every model call, in order.
        calls: every tool call by call id, in order.
        labels: the model label each agent showed (``run.started`` / ``model.request``).
    """

    def __init__(self, events: Iterable[ev.Event]) -> None:
        self.events = list(events)
        if not self.events or self.events[0].type != ev.RUN_STARTED:
            raise ValueError("the log does not start with run.started")
        self.started: dict[str, Any] = dict(self.events[0].data)
        self.run_id = self.events[0].run_id
        self.attempts: list[Attempt] = []
        self.calls: dict[str, RecordedCall] = {}
        self.labels: dict[str, str] = {}
        agent = str(self.started.get("agent", ""))
        if self.started.get("model"):
            self.labels[agent] = str(self.started["model"])
        user = Message("user", str(self.started.get("input", "")))
        added: list[Message] = [user]
        pending: Attempt | None = None
        for event in self.events[1:]:
            kind, data = event.type, event.data
            if kind == ev.MODEL_REQUEST:
                self.labels.setdefault(agent, str(data.get("model", "")))
                pending = Attempt(expected=list(added))
            elif pending is not None and kind == ev.MODEL_RETRY:
                pending.retries.append(dict(data))
            elif pending is not None and kind == ev.MODEL_TEXT:
                pending.deltas.append(str(data.get("text", "")))
            elif pending is not None and kind == ev.MODEL_RESPONSE:
                pending.response = ModelResponse.from_dict(data)
                self.attempts.append(pending)
                added.append(pending.response.message)
                pending = None
            elif kind == ev.RUN_RETRY and pending is not None:
                pending.error = (str(data.get("error", "")), str(data.get("message", "")))
                pending.retried = True
                self.attempts.append(pending)
                pending = Attempt(expected=list(added))
            elif kind == ev.RUN_FALLBACK:
                if pending is not None:
                    pending.error = (str(data.get("error", "")), str(data.get("message", "")))
                    self.attempts.append(pending)
                    pending = None
                agent = str(data.get("to", ""))
                added = [user]
            elif kind == ev.RUN_FAILED and pending is not None:
                pending.error = (str(data.get("error", "")), str(data.get("message", "")))
                self.attempts.append(pending)
                pending = None
            elif kind == ev.TOOL_CALL:
                call_id = str(data.get("call_id", ""))
                self.calls[call_id] = RecordedCall(
                    call_id, str(data.get("name", "")), data.get("arguments")
                )
            elif kind == ev.TOOL_RESULT:
                call_id = str(data.get("call_id", ""))
                call = self.calls.setdefault(
                    call_id, RecordedCall(call_id, str(data.get("name", "")), None)
                )
                call.output = data.get("output")
                call.error = str(data.get("error", ""))
                call.done = True
                added.append(
                    Message(
                        "tool",
                        tool_content(call.output, call.error),
                        tool_call_id=call_id,
                        name=call.name,
                    )
                )

    @property
    def terminal(self) -> ev.Event | None:
        """The ``run.completed`` / ``run.failed`` event, if the run finished."""
        last = self.events[-1]
        return last if last.type in ev.TERMINAL else None


def _error(code: str, message: str, *, model: bool) -> RunError:
    error: RunError = ModelError(message) if model else RunError(message)
    error.code = code
    return error


def _same(sent: list[Message], expected: list[Message]) -> bool:
    if len(sent) < len(expected):
        return False
    tail = sent[len(sent) - len(expected) :]
    for got, want in zip(tail, expected, strict=True):
        if got.role != want.role or got.content != want.content:
            return False
        got_calls = [(c.name, c.arguments) for c in got.tool_calls or ()]
        want_calls = [(c.name, c.arguments) for c in want.tool_calls or ()]
        if got_calls != want_calls:
            return False
    return True


@dataclass(slots=True)
class ReplayStats:
    """What answered a replay's calls: the recording or the live spec."""

    recorded_model_calls: int = 0
    live_model_calls: int = 0
    recorded_tool_calls: int = 0
    live_tool_calls: int = 0
    diverged_at_call: int = 0
    """The 1-based model call at which the conversation left the recording (0: never)."""

    def to_dict(self) -> dict[str, int]:
        return {
            "recorded_model_calls": self.recorded_model_calls,
            "live_model_calls": self.live_model_calls,
            "recorded_tool_calls": self.recorded_tool_calls,
            "live_tool_calls": self.live_tool_calls,
            "diverged_at_call": self.diverged_at_call,
        }


class RecordedModel(Model):
    """Answers from a recording. One instance serves every agent of the run (shared cursor).

    Strict mode (replay): call *n* gets recorded call *n*, exactly as it happened, retries and
    failures included; a call past the end raises :class:`ScriptMismatch`. Hybrid mode
    (``live`` given): recorded responses are reused while the messages sent are the ones the
    recording sent; from the first difference on (from the start when ``fresh``), ``live()``
    answers every call.
    """

    provider = "replay"

    def __init__(
        self,
        recording: Recording,
        *,
        stats: ReplayStats | None = None,
        live: Callable[[str], Model] | None = None,
        fresh: bool = False,
    ) -> None:
        self.name = recording.run_id
        self._attempts = recording.attempts
        if live is not None:
            self._attempts = [a for a in recording.attempts if a.response is not None]
        self._live = live
        self._live_models: dict[str, Model] = {}
        self._cursor = 0
        self.stats = stats or ReplayStats()
        self._diverged = fresh and live is not None
        if self._diverged:
            self.stats.diverged_at_call = 1

    def view(self, agent: str, label: str) -> Model:
        """This model as one agent sees it: the label the recording showed for that agent."""
        return _AgentView(self, agent, label)

    async def answer(
        self, agent: str, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        index = self._cursor
        if self._live is not None:
            usable = not self._diverged and index < len(self._attempts)
            if usable and not _same(request.messages, self._attempts[index].expected):
                usable = False
            if not usable:
                if not self._diverged:
                    self._diverged = True
                    self.stats.diverged_at_call = index + 1
                model = self._live_models.get(agent)
                if model is None:
                    model = self._live_models[agent] = self._live(agent)
                self.stats.live_model_calls += 1
                return await model.generate(request, on_delta)
        if index >= len(self._attempts):
            raise ScriptMismatch(
                f"replay: the recording has {len(self._attempts)} model call(s) but call "
                f"{index + 1} was made",
                provider="replay",
            )
        attempt = self._attempts[index]
        self._cursor += 1
        self.stats.recorded_model_calls += 1
        if self._live is None and request.on_retry is not None:
            for retry in attempt.retries:
                error = _error(str(retry.get("code", "")), str(retry.get("error", "")), model=True)
                request.on_retry(int(retry.get("attempt", 0)), error, float(retry.get("delay", 0)))
        if attempt.response is None:
            code, message = attempt.error or ("internal_error", "the recorded call failed")
            raise _error(code, message, model=attempt.retried)
        if on_delta is not None and request.stream:
            for text in attempt.deltas:
                on_delta(text)
        return attempt.response

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        return await self.answer("", request, on_delta)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        deltas: list[str] = []
        response = await self.answer("", request, deltas.append)
        for text in deltas:
            yield TextDelta(text)
        yield response

    async def aclose(self) -> None:
        models, self._live_models = list(self._live_models.values()), {}
        for model in models:
            await model.aclose()


class _AgentView(Model):
    provider = "replay"

    def __init__(self, core: RecordedModel, agent: str, label: str) -> None:
        self._core = core
        self._agent = agent
        self._label = label
        self.name = core.name

    async def aclose(self) -> None:
        await self._core.aclose()

    @property
    def label(self) -> str:
        return self._label

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        return await self._core.answer(self._agent, request, on_delta)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        deltas: list[str] = []
        response = await self._core.answer(self._agent, request, deltas.append)
        for text in deltas:
            yield TextDelta(text)
        yield response


class RecordedTool(Tool):
    """A skill whose calls are answered from the recording, by call id. Never executes."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        calls: dict[str, RecordedCall],
        stats: ReplayStats,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self._calls = calls
        self._stats = stats

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        recorded = self._calls.get(ctx.call_id)
        if recorded is None or not recorded.done or recorded.name != self.name:
            raise ToolError(f"replay: no recorded result for call {ctx.call_id!r} of {self.name}")
        self._stats.recorded_tool_calls += 1
        if recorded.error:
            raise ToolError(recorded.error)
        return recorded.output


class MatchingTool(Tool):
    """For a changed spec: a recorded result when name and arguments match, else the real tool.

    Each recorded result is used at most once, in recorded order. With ``live`` ``None`` an
    unmatched call returns an error result instead of running anything.
    """

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        recorded: dict[str, deque[RecordedCall]],
        stats: ReplayStats,
        live: Callable[[], Tool] | None,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self._recorded = recorded
        self._stats = stats
        self._live_factory = live
        self._live: Tool | None = None

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        queue = self._recorded.get(call_key(self.name, arguments))
        if queue:
            found = queue.popleft()
            self._stats.recorded_tool_calls += 1
            if found.error:
                raise ToolError(found.error)
            return found.output
        if self._live_factory is None:
            raise ToolError(
                f"replay: {self.name} was called with arguments the recording never used "
                "(live tools are off)"
            )
        if self._live is None:
            self._live = self._live_factory()
            self.timeout = self._live.timeout
        self._stats.live_tool_calls += 1
        return await self._live.call(arguments, ctx)

    async def aclose(self) -> None:
        if self._live is not None:
            await self._live.aclose()


def recorded_by_call(recording: Recording) -> dict[str, deque[RecordedCall]]:
    """Recorded results grouped by :func:`call_key`, in recorded order."""
    grouped: dict[str, deque[RecordedCall]] = {}
    for call in recording.calls.values():
        if call.done:
            grouped.setdefault(call_key(call.name, call.arguments), deque()).append(call)
    return grouped
