"""Human approval of tool calls, and the reuse of recorded tool results.

A skill with ``approval: required`` (or any skill of an agent with ``approval: required``)
is not called until someone approves the call. Before calling it, the run emits
``approval.requested`` (call id, tool, arguments, optional timeout) and *parks*: the run's
status becomes ``waiting``, its task ends and its lease is released. ``Runtime.approve`` /
``Runtime.deny`` (CLI ``agentspec runs approve|deny``, HTTP
``POST /v1/runs/{id}/approvals/{call_id}``) record ``approval.decided`` in the log and resume
the run from it; a denied call is not executed and the model sees the error result
``denied by WHO: REASON``. Since the decision is in the log, a parked run survives restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentspec.engine import events as ev
from agentspec.models.base import ToolCall
from agentspec.tools.base import ToolResult

if TYPE_CHECKING:
    from agentspec.engine.compile import CompiledAgent
    from agentspec.engine.run import RunState


class RunParked(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised through the strategy when a run must wait for approval decisions.

    Attributes:
        call_ids: The calls waiting for a decision.
    """

    def __init__(self, call_ids: list[str]) -> None:
        super().__init__(f"waiting for approval of {', '.join(call_ids)}")
        self.call_ids = call_ids


def denial(decision: dict[str, Any]) -> str:
    """The error text the model sees for a denied call."""
    by = decision.get("by") or "an operator"
    reason = decision.get("reason") or "no reason given"
    return f"denied by {by}: {reason}"


def settle(
    state: RunState, agent: CompiledAgent, turn: int, calls: list[ToolCall]
) -> dict[str, ToolResult]:
    """Decide, before executing a turn's calls, which must not run: the calls whose result is
    already in the log (resume) and denied calls. Emits ``approval.requested`` for calls that
    need approval.

    Returns:
        The results of calls not to execute, by call id.

    Raises:
        RunParked: Some call needs a decision that has not been made.
    """
    durable = state.durable
    assert durable is not None
    cursor = durable.cursor
    done: dict[str, ToolResult] = {}
    if cursor is not None:
        for call in calls:
            stored = cursor.results.get(call.id)
            if stored is not None:
                done[call.id] = ToolResult(
                    stored.get("output"), stored.get("error", ""), stored.get("duration_ms", 0.0)
                )
    policy = durable.approval
    gated = [c for c in calls if policy is not None and policy(agent.agent.name, c.name)]
    undecided: list[str] = []
    for call in gated:
        data: dict[str, Any] = {
            "turn": turn,
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
        }
        if durable.approval_timeout is not None:
            data["timeout"] = durable.approval_timeout
            data["on_timeout"] = durable.approval_on_timeout
        state.emit(ev.APPROVAL_REQUESTED, data)
    decisions = cursor.decisions if cursor is not None else {}
    for call in gated:
        if call.id in done:
            continue
        decision = decisions.get(call.id)
        if decision is None:
            undecided.append(call.id)
        elif decision.get("decision") == "deny":
            done[call.id] = ToolResult(None, denial(decision), 0.0)
    if undecided:
        raise RunParked(undecided)
    live = durable.cursor
    if live is not None and any(call.id not in done for call in calls):
        # A call runs live: only stored results of this turn's calls, and events of other
        # (concurrent) turns, may remain in the log.
        pending = {call.id for call in calls if call.id in done}
        for left in live.left():
            if (
                not live.live
                and (left.type != ev.TOOL_RESULT or left.data.get("call_id") not in pending)
                and left.data.get("turn") == turn
            ):
                from agentspec.engine.resume import ResumeError, _summary

                raise ResumeError(
                    live.run_id,
                    left.seq,
                    f"re-execution runs tool calls where the log has "
                    f"{_summary(left.type, left.data)}",
                )
        if not any(
            e.type == ev.TOOL_RESULT and e.data.get("call_id") in pending for e in live.left()
        ):
            live.go_live(state)
    return done
