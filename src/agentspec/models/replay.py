"""The ``replay`` model: answers from the ``model.response`` events of a recorded run.

Each call returns the next recorded response, in order, streamed as the recorded deltas.
The run must ask what the recorded run was asked (its ``run.started`` input). A call the recording does not have,
or one sent with a different number of messages than recorded, raises
:class:`~agentspec.exceptions.ScriptMismatch`: the run has diverged from its recording.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from agentspec.engine.events import MODEL_REQUEST, MODEL_RESPONSE, MODEL_TEXT, RUN_STARTED, Event
from agentspec.exceptions import ScriptMismatch
from agentspec.models.base import Model, ModelRequest, ModelResponse, StreamItem, TextDelta


class ReplayModel(Model):
    provider = "replay"

    def __init__(self, events: Iterable[Event], *, name: str = "") -> None:
        self.name = name
        self._requests: list[int] = []
        self._responses: list[ModelResponse] = []
        self._deltas: list[list[str]] = []
        pending: list[str] = []
        self._input: str | None = None
        for event in events:
            if event.type == RUN_STARTED and self._input is None:
                self._input = event.data.get("input")
            elif event.type == MODEL_REQUEST:
                self._requests.append(int(event.data.get("messages", -1)))
                pending = []
            elif event.type == MODEL_TEXT:
                pending.append(event.data["text"])
            elif event.type == MODEL_RESPONSE:
                self._responses.append(ModelResponse.from_dict(event.data))
                self._deltas.append(pending)
                pending = []
        self._cursor = 0

    @property
    def remaining(self) -> int:
        return len(self._responses) - self._cursor

    def _next(self, request: ModelRequest) -> tuple[ModelResponse, list[str]]:
        index = self._cursor
        if index >= len(self._responses):
            raise ScriptMismatch(
                f"replay: the recording has {len(self._responses)} model call(s) but call "
                f"{index + 1} was made",
                provider="replay",
            )
        recorded = self._requests[index] if index < len(self._requests) else -1
        if recorded >= 0 and recorded != len(request.messages):
            raise ScriptMismatch(
                f"replay: call {index + 1} sent {len(request.messages)} message(s), the recording "
                f"sent {recorded}",
                provider="replay",
            )
        if self._input is not None:
            latest = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
            if latest != self._input:
                raise ScriptMismatch(
                    f"replay: the recorded run answered {self._input[:60]!r}, this run asks "
                    f"{latest[:60]!r}",
                    provider="replay",
                )
        self._cursor += 1
        return self._responses[index], self._deltas[index]

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        response, deltas = self._next(request)
        if request.stream:
            for text in deltas:
                yield TextDelta(text)
        yield response

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        response, deltas = self._next(request)
        if on_delta is not None and request.stream:
            for text in deltas:
                on_delta(text)
        return response
