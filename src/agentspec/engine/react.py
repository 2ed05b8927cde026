"""The ``react`` strategy: ask the model, run the tools it asks for, repeat until it answers.

Every model response and tool result is emitted (recorded) before it is used. Tool calls of one
turn run concurrently; their results are recorded in call order, so a run's log does not depend
on which tool happened to finish first.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.compile import CompiledAgent
from agentspec.engine.deadlines import Deadlines
from agentspec.engine.result import ToolCallRecord
from agentspec.engine.run import RunState
from agentspec.exceptions import BudgetExceeded, MaxTurnsExceeded, ModelError, ToolError
from agentspec.models.base import Message, ModelRequest, ModelResponse, ToolCall
from agentspec.tools.base import Tool, ToolContext, ToolResult


def _content(output: Any) -> str:
    kind = type(output)
    if kind is str:
        return output  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return repr(output)
    return json.dumps(output, ensure_ascii=False)


def _estimate_tokens(system: str, messages: list[Message]) -> int:
    return (len(system) + sum(len(m.content) for m in messages)) // 4 + 1


async def call_tool(
    tool: Tool | None,
    call: ToolCall,
    ctx: ToolContext,
    default_timeout: float,
    available: list[str],
    deadlines: Deadlines,
) -> ToolResult:
    """Run one tool call; every failure becomes an error result, never an exception."""
    started = time.perf_counter()
    if tool is None:
        listing = ", ".join(available) or "none"
        error = f"unknown tool {call.name!r}; available tools: {listing}"
        return ToolResult(None, error, 0.0)
    if call.arguments is None:
        error = f"invalid arguments for {call.name}: {call.arguments_error}: {call.raw_arguments[:200]!r}"
        return ToolResult(None, error, 0.0)
    timeout = tool.timeout or default_timeout
    try:
        async with deadlines.limit(timeout + 1.0 if tool.enforces_timeout else timeout):
            output = await tool.call(call.arguments, ctx)
        if not isinstance(output, str | int | float | bool | type(None)):
            try:
                output = json.loads(json.dumps(output, ensure_ascii=False))
            except (TypeError, ValueError) as exc:
                raise ToolError(
                    f"tool {call.name!r} returned a value that is not JSON ({type(output).__name__}): {exc}"
                ) from None
    except TimeoutError:
        return ToolResult(None, f"tool {call.name!r} timed out after {timeout:g}s", _ms(started))
    except ToolError as exc:
        return ToolResult(None, str(exc), _ms(started))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return ToolResult(
            None, f"tool {call.name!r} failed: {type(exc).__name__}: {exc}", _ms(started)
        )
    return ToolResult(output, "", _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


async def model_turn(
    state: RunState, agent: CompiledAgent, request: ModelRequest, turn: int
) -> ModelResponse:
    started = time.perf_counter()
    if state.durable is not None and state.durable.cursor is not None:
        from agentspec.engine.resume import reuse_response

        reused = reuse_response(state, turn)  # resuming: answered from the log
        if reused is not None:
            return reused
    on_delta = None
    if request.stream:

        def on_delta(text: str) -> None:
            state.emit(ev.MODEL_TEXT, {"turn": turn, "text": text})

    response = await agent.model.generate(request, on_delta)
    state.emit(
        ev.MODEL_RESPONSE,
        {
            "turn": turn,
            "message": response.message.to_dict(),
            "usage": response.usage.to_dict(),
            "stop_reason": response.stop_reason,
            "model": response.model,
            "duration_ms": _ms(started),
        },
    )
    state.usage.add(response.usage)
    state.responses += 1
    return response


async def run_react(
    state: RunState,
    agent: CompiledAgent,
    system: str,
    messages: list[Message],
    *,
    tool_timeout: float,
    deadlines: Deadlines,
    first_turn: int = 1,
    stop_after: frozenset[str] = frozenset(),
) -> str:
    """Drive the loop; ``messages`` is extended in place with everything the run adds.

    ``first_turn`` numbers the first model call (a run continuing after a handoff); when a turn
    calls a tool named in ``stop_after`` (a handoff tool), the loop returns ``""`` once that
    turn's tools have run (see :mod:`agentspec.engine.delegation`).
    """
    spec = agent.agent
    budget = spec.token_budget
    temperature = (
        spec.temperature if spec.temperature is not None else agent.model_config.temperature
    )
    tool_names = [d.name for d in agent.tool_defs]

    def on_retry(attempt: int, error: Exception, delay: float) -> None:
        state.emit(
            ev.MODEL_RETRY,
            {
                "turn": state.turns,
                "attempt": attempt,
                "error": str(error),
                "code": getattr(error, "code", "unavailable"),
                "delay": round(delay, 3),
            },
        )

    for turn in range(first_turn, first_turn + spec.max_turns):
        state.turns = turn
        if budget is not None:
            needed = _estimate_tokens(system, messages)
            used = state.usage.total
            if used + needed > budget:
                state.emit(
                    ev.BUDGET_EXCEEDED,
                    {"scope": "run", "used": used, "limit": budget, "needed": needed},
                )
                raise BudgetExceeded("run", used, budget, needed)
        request = ModelRequest(
            system,
            messages,
            agent.tool_defs,
            temperature,
            agent.model_config.max_tokens,
            spec.stream,
            on_retry,
        )
        state.emit(
            ev.MODEL_REQUEST,
            {
                "turn": turn,
                "model": agent.model.label,
                "messages": len(messages),
                "tools": tool_names,
            },
        )
        attempt = 0
        while True:
            try:
                response = await model_turn(state, agent, request, turn)
                break
            except ModelError as exc:
                if spec.on_error != "retry" or attempt >= spec.max_retries:
                    raise
                attempt += 1
                state.emit(
                    ev.RUN_RETRY,
                    {"turn": turn, "attempt": attempt, "error": exc.code, "message": str(exc)},
                )
        message = response.message
        messages.append(message)
        if not message.tool_calls:
            return message.content
        await run_tool_calls(
            state, agent, turn, message.tool_calls, messages, tool_timeout, deadlines, tool_names
        )
        if stop_after and any(call.name in stop_after for call in message.tool_calls):
            return ""
    raise MaxTurnsExceeded(
        f"agent {spec.name!r} used all {spec.max_turns} turns without a final answer "
        "(raise max_turns or check the tools' results)"
    )


async def run_tool_calls(
    state: RunState,
    agent: CompiledAgent,
    turn: int,
    calls: list[ToolCall],
    messages: list[Message],
    tool_timeout: float,
    deadlines: Deadlines,
    tool_names: list[str] | None = None,
) -> None:
    """Record and execute one turn's tool calls (concurrently), then record their results in
    call order and append the tool messages to ``messages``.

    Every strategy runs tools through this function, so durability features (resume, exactly-
    once effects, approvals) apply to all of them.
    """
    spec = agent.agent
    if tool_names is None:
        tool_names = [d.name for d in agent.tool_defs]
    records = state.tool_records
    for call in calls:
        state.emit(
            ev.TOOL_CALL,
            {"turn": turn, "call_id": call.id, "name": call.name, "arguments": call.arguments},
        )
        records.append(ToolCallRecord(call.id, call.name, call.arguments))
    done: dict[str, ToolResult] = {}
    if state.durable is not None:  # recorded results (resume), approvals, denials
        from agentspec.engine.approvals import settle

        done = settle(state, agent, turn, calls)
    contexts = [ToolContext(state.run_id, call.id, spec.name, state.session_id) for call in calls]
    if len(calls) == 1:
        results = [
            done[calls[0].id]
            if calls[0].id in done
            else await call_tool(
                agent.tools.get(calls[0].name),
                calls[0],
                contexts[0],
                tool_timeout,
                tool_names,
                deadlines,
            )
        ]
        _record(state, turn, calls[0], results[0], messages)
    else:
        tasks = [
            asyncio.ensure_future(
                _settled(done[call.id])
                if call.id in done
                else call_tool(
                    agent.tools.get(call.name), call, ctx, tool_timeout, tool_names, deadlines
                )
            )
            for call, ctx in zip(calls, contexts, strict=True)
        ]
        try:
            for call, task in zip(calls, tasks, strict=True):
                _record(state, turn, call, await task, messages)
        finally:
            for task in tasks:
                task.cancel()


async def _settled(result: ToolResult) -> ToolResult:
    return result


def _record(
    state: RunState, turn: int, call: ToolCall, result: ToolResult, messages: list[Message]
) -> None:
    state.emit(
        ev.TOOL_RESULT,
        {
            "turn": turn,
            "call_id": call.id,
            "name": call.name,
            "output": result.output,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 3),
        },
    )
    for record in reversed(state.tool_records):
        if record.id == call.id:
            record.output = result.output
            record.error = result.error
            record.duration_ms = round(result.duration_ms, 3)
            break
    content = f"error: {result.error}" if result.error else _content(result.output)
    messages.append(
        Message("tool", content, tool_call_id=call.id, name=call.name, is_error=result.is_error)
    )
