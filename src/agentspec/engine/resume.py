"""Crash resume: re-execute a run against its own log.

A run's log records every source of nondeterminism before it is used (DESIGN.md §2), so a run
can continue after a crash by *re-driving* its strategy from the start with the stored log as a
cursor:

* every event the re-execution emits is matched with a stored event (the next one, or one
  further ahead: concurrent sub-tasks may interleave differently); a matched event is reused
  (nothing is appended again, listeners are not called again);
* a model call whose ``model.response`` is stored is answered from the log, never re-requested
  (:func:`reuse_response`, called by :func:`agentspec.engine.react.model_turn`); streamed
  ``model.text`` deltas of a call that has no stored response are *superseded*: the call is
  made again and its new deltas follow ``run.resumed``;
* a tool call whose ``tool.result`` is stored is never executed again
  (:func:`agentspec.engine.approvals.settle`, called by
  :func:`agentspec.engine.react.run_tool_calls`);
* child runs the interrupted execution started are reused (``Runtime.run`` with a
  ``parent_run_id`` asks :attr:`ResumeCursor.children` first);
* when the run needs live work (a model call or tool call without a stored answer, or an
  event the log does not have once it is used up), it goes *live*: it emits ``run.resumed``
  (``from_seq``, ``reused`` events, ``superseded`` deltas) with the next sequence number and
  carries on.

Before any of that, :func:`load_log` checks the log: contiguous ``seq`` from 1, readable
payloads, a ``run.started`` first, no terminal event, results and decisions that answer earlier
calls and requests. Re-execution that does not match the log before the run goes live (the log
was edited, or the spec, the tools or the prompt changed) stops with a :class:`ResumeError`
naming the run and the sequence number, before anything is appended: there is no partial
resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.exceptions import AgentspecError, ModelError
from agentspec.models.base import ModelResponse
from agentspec.store.base import Store

if TYPE_CHECKING:
    from agentspec.engine.run import RunState

_IGNORED_KEYS = frozenset({"ts", "duration_ms", "expires_at", "run_id", "child_run_id"})
"""Payload keys that may differ between the log and re-execution (timing, generated ids)."""
_KEYS: dict[str, tuple[str, ...]] = {
    ev.RUN_STARTED: ("agent", "input", "session_id"),
    ev.MODEL_REQUEST: ("turn", "messages", "tools"),
    ev.MODEL_RESPONSE: ("turn",),
    ev.TOOL_CALL: ("call_id", "name", "arguments"),
    ev.TOOL_RESULT: ("call_id", "name"),
    ev.APPROVAL_REQUESTED: ("call_id", "name"),
    ev.RUN_RETRY: ("turn", "attempt"),
    ev.RUN_FALLBACK: ("from", "to"),
    ev.BUDGET_EXCEEDED: ("scope", "limit"),
}
"""What must match per event type; other types must match on every non-timing key."""
_SKIPPED = frozenset({ev.RUN_RESUMED, ev.APPROVAL_DECIDED})
"""Stored events re-execution never emits itself: markers of earlier resumes, and decisions
(read by the approval gate from :attr:`ResumeCursor.decisions`)."""
_STREAM = frozenset({ev.MODEL_TEXT, ev.MODEL_RETRY})
"""Stored events of a model call, reused with its ``model.response`` or superseded."""


class ResumeError(AgentspecError):
    """A run cannot be resumed from its log (corrupted, or diverging from re-execution).

    Attributes:
        run_id: The run.
        seq: The sequence number of the offending event (0 when not about one event).
    """

    code = "conflict"

    def __init__(self, run_id: str, seq: int, problem: str) -> None:
        where = f"run {run_id}, event seq {seq}" if seq else f"run {run_id}"
        super().__init__(f"cannot resume {where}: {problem}; nothing was resumed")
        self.run_id = run_id
        self.seq = seq


def _summary(type_: str, data: dict[str, Any]) -> str:
    keys = _KEYS.get(type_) or tuple(k for k in sorted(data) if k not in _IGNORED_KEYS)[:4]
    parts = ", ".join(f"{k}={data.get(k)!r}"[:80] for k in keys)
    return f"{type_} ({parts})"


def _same(type_: str, stored: dict[str, Any], emitted: dict[str, Any]) -> bool:
    keys = _KEYS.get(type_)
    if keys is not None:
        return all(stored.get(k) == emitted.get(k) for k in keys)
    names = (set(stored) | set(emitted)) - _IGNORED_KEYS
    return all(stored.get(k) == emitted.get(k) for k in names if not k.endswith("_ms"))


async def load_log(store: Store, run_id: str) -> list[Event]:
    """Read and check a run's log for resuming.

    Raises:
        ResumeError: The log is empty, has a gap, an unreadable or unknown event, no
            ``run.started`` first, or a result/decision that answers nothing.
    """
    try:
        events = await store.get_events(run_id)
    except (ValueError, TypeError, KeyError):
        after = 0
        while True:  # find the unreadable event, one at a time
            try:
                page = await store.get_events(run_id, after=after, limit=1)
            except (ValueError, TypeError, KeyError) as exc:
                raise ResumeError(
                    run_id, after + 1, f"the stored event after seq {after} is unreadable ({exc})"
                ) from None
            if not page:
                raise
            after = page[0].seq
    check_log(run_id, events)
    return events


def check_log(run_id: str, events: list[Event]) -> None:
    """Check that ``events`` is a well-formed, unfinished log (see :func:`load_log`)."""
    if not events:
        raise ResumeError(run_id, 0, "the run has no stored events")
    calls: set[str] = set()
    results: set[str] = set()
    requested: set[str] = set()
    decided: set[str] = set()
    for index, event in enumerate(events, 1):
        seq = event.seq
        if seq != index:
            missing = f"event seq {index} is missing" if seq > index else "seq goes backwards"
            raise ResumeError(run_id, seq, f"the log has a gap ({missing})")
        if not isinstance(event.data, dict):
            raise ResumeError(run_id, seq, "the event payload is not a JSON object")
        if event.type not in ev.EVENT_TYPES:
            raise ResumeError(run_id, seq, f"unknown event type {event.type!r}")
        if index == 1 and event.type != ev.RUN_STARTED:
            raise ResumeError(run_id, seq, f"the log starts with {event.type}, not run.started")
        if event.type in ev.TERMINAL:
            raise ResumeError(run_id, seq, f"the run already ended ({event.type})")
        call_id = event.data.get("call_id")
        if event.type == ev.TOOL_CALL:
            calls.add(str(call_id))
        elif event.type == ev.TOOL_RESULT:
            if call_id not in calls or call_id in results:
                raise ResumeError(
                    run_id, seq, f"tool.result for call {call_id!r} answers no pending tool.call"
                )
            results.add(call_id)
        elif event.type == ev.APPROVAL_REQUESTED:
            requested.add(str(call_id))
        elif event.type == ev.APPROVAL_DECIDED:
            if call_id not in requested or call_id in decided:
                raise ResumeError(
                    run_id, seq, f"approval.decided for call {call_id!r} answers no request"
                )
            if event.data.get("decision") not in ("approve", "deny"):
                raise ResumeError(run_id, seq, "approval.decided has no valid decision")
            decided.add(call_id)


@dataclass(slots=True)
class ResumeCursor:
    """The stored log of a run being resumed, consumed as re-execution emits its events.

    Events are matched in log order; an event further ahead may match first (strategies that
    run sub-tasks concurrently interleave their events differently on every execution). Until
    the run goes *live* (a model call or a tool call without a stored answer), every emitted
    event must match a stored one. Once live, emitted events still consume matching stored
    events of concurrent sub-tasks, and are appended otherwise.

    Attributes:
        run_id: The run.
        events: The stored log (checked by :func:`check_log`).
        on_live: Called once, when the run goes live (before ``run.resumed`` is emitted).
    """

    run_id: str
    events: list[Event]
    on_live: Callable[[], None] | None = None
    pos: int = 0
    reused: int = 0
    superseded: int = 0
    live: bool = False
    used: list[bool] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Stored ``tool.result`` payloads by call id."""
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Stored ``approval.decided`` payloads by call id."""
    children: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """Child runs started by the interrupted execution, by ``(agent, input)``, oldest first
    (filled by the runtime; reused instead of starting new ones)."""

    def __post_init__(self) -> None:
        self.used = [event.type in _SKIPPED for event in self.events]
        for event in self.events:
            if event.type == ev.TOOL_RESULT:
                self.results[event.data["call_id"]] = event.data
            elif event.type == ev.APPROVAL_DECIDED:
                self.decisions[event.data["call_id"]] = event.data

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    @property
    def trace_id(self) -> str:
        return self.events[0].trace_id if self.events else ""

    def _advance(self) -> None:
        used = self.used
        while self.pos < len(used) and used[self.pos]:
            self.pos += 1

    def _take(self, index: int, state: RunState) -> Event:
        self.used[index] = True
        self.reused += 1
        stored = self.events[index]
        state.events.append(stored)
        self._advance()
        if self.live and self.pos >= len(self.events):
            self._detach(state)
        return stored

    def _detach(self, state: RunState) -> None:
        """Every stored event is consumed and the run is live: stop matching."""
        if state.durable is not None and state.durable.cursor is self:
            state.durable.cursor = None

    def _find(self, type_: str, data: dict[str, Any]) -> int:
        events, used = self.events, self.used
        for index in range(self.pos, len(events)):
            if not used[index]:
                stored = events[index]
                if stored.type == type_ and _same(type_, stored.data, data):
                    return index
        return -1

    def match(self, state: RunState, type_: str, data: dict[str, Any]) -> Event | None:
        """The stored event re-execution just emitted, or ``None``: the caller appends it (the
        run goes live first if it was not yet)."""
        self._advance()
        index = self._find(type_, data)
        if index >= 0:
            return self._take(index, state)
        first = self.first_left()
        if first is not None and not self.live:
            raise ResumeError(
                self.run_id,
                first.seq,
                f"the log has {_summary(first.type, first.data)} where re-execution produced "
                f"{_summary(type_, data)} (was the log edited, or did the spec, a prompt or a "
                "tool change?)",
            )
        self.go_live(state)
        return None

    def left(self) -> list[Event]:
        """Stored events not consumed yet (markers and decisions left out)."""
        return [e for e, u in zip(self.events, self.used, strict=True) if not u]

    def first_left(self) -> Event | None:
        self._advance()
        return self.events[self.pos] if self.pos < len(self.events) else None

    def done(self) -> bool:
        """Whether every stored event has been consumed."""
        return self.first_left() is None

    def go_live(self, state: RunState) -> None:
        """Start appending: the next event is ``run.resumed``, after the last stored one."""
        if self.live:
            return
        self.live = True
        state.seq = self.last_seq
        if self.on_live is not None:
            self.on_live()
        event = Event(
            self.run_id,
            state.seq + 1,
            time.time(),
            ev.RUN_RESUMED,
            {"from_seq": self.last_seq + 1, "reused": self.reused, "superseded": self.superseded},
            state.trace_id,
        )
        state.seq += 1
        state.events.append(event)
        state._sink(event)
        for listener in state.listeners:
            listener(event)
        if self.done():
            self._detach(state)

    def supersede(self, turn: int) -> None:
        """Drop the stored deltas and retries of a model call that is made again."""
        for index, event in enumerate(self.events):
            if not self.used[index] and event.type in _STREAM and event.data.get("turn") == turn:
                self.used[index] = True
                self.superseded += event.type == ev.MODEL_TEXT


def reuse_response(state: RunState, turn: int) -> ModelResponse | None:
    """Answer a model call from the log, or return ``None`` (the run is now live: call the
    model). Stored ``model.text``/``model.retry`` events of the call are reused with its
    response, or superseded when the log has no response for it.

    Raises:
        ModelError: The stored log shows this call failed (``run.retry`` follows it, or
            ``run.fallback``): re-raised so the strategy handles it exactly as it did.
        ResumeError: Re-execution calls the model where the log has something else.
    """
    assert state.durable is not None and state.durable.cursor is not None
    cursor = state.durable.cursor
    events, used = cursor.events, cursor.used
    for index in range(cursor.pos, len(events)):
        if used[index]:
            continue
        stored = events[index]
        kind, data = stored.type, stored.data
        if kind in _STREAM:
            continue
        if kind == ev.MODEL_RESPONSE and data.get("turn") == turn:
            _take_stream(cursor, state, index, turn)
            response = ModelResponse.from_dict(data)
            state.emit(ev.MODEL_RESPONSE, {**data, "turn": turn})  # reused, not appended
            state.usage.add(response.usage)
            state.responses += 1
            return response
        if (kind == ev.RUN_RETRY and data.get("turn") == turn) or kind == ev.RUN_FALLBACK:
            _take_stream(cursor, state, index, turn)
            error = ModelError(str(data.get("message", "model call failed")))
            error.code = str(data.get("error", "unavailable"))
            raise error
        if not cursor.live and data.get("turn") == turn:
            raise ResumeError(
                cursor.run_id,
                stored.seq,
                f"re-execution calls the model (turn {turn}) where the log has "
                f"{_summary(kind, data)}",
            )
    cursor.supersede(turn)
    cursor.go_live(state)
    return None


def _take_stream(cursor: ResumeCursor, state: RunState, before: int, turn: int) -> None:
    """Consume the stored deltas and retries of ``turn`` that precede event ``before``."""
    for index in range(cursor.pos, before):
        event = cursor.events[index]
        if not cursor.used[index] and event.type in _STREAM and event.data.get("turn") == turn:
            cursor._take(index, state)


@dataclass(slots=True)
class Durability:
    """Per-run durability state (``RunState.durable``): resume cursor, approval policy, fencing.

    Attributes:
        cursor: The stored log while a resumed run re-executes it; ``None`` when live.
        approval: ``(agent, tool) -> bool``: whether a call needs a human's approval.
        approval_timeout: Seconds after which an undecided approval is decided, or ``None``.
        approval_on_timeout: ``approve`` or ``deny``.
        fenced: Set when another process took the run's lease: nothing more is written.
        children: Child runs to reuse while resuming (see :attr:`ResumeCursor.children`).
    """

    cursor: ResumeCursor | None = None
    approval: Callable[[str, str], bool] | None = None
    approval_timeout: float | None = None
    approval_on_timeout: str = "deny"
    fenced: bool = False
    children: dict[tuple[str, str], list[str]] | None = None
    """Resuming: child runs of the interrupted execution to reuse, by ``(agent, input)``."""
