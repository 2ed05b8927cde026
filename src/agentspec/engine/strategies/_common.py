"""Building blocks the strategies share: one model call, a react-style sub-loop, child runs.

Everything non-deterministic goes through the shared primitives
(:func:`~agentspec.engine.react.model_turn`, :func:`~agentspec.engine.react.run_tool_calls`,
``runtime.run``), so strategy runs persist, resume and replay like ``react`` runs. Turn numbers
are taken from ``RunState.turns`` and only ever grow within a run.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.compile import CompiledAgent
from agentspec.engine.react import model_turn, run_tool_calls
from agentspec.engine.result import RunResult
from agentspec.engine.strategies import StrategyContext
from agentspec.exceptions import BudgetExceeded, MaxTurnsExceeded, ModelError, RunError
from agentspec.models.base import Message, ModelRequest, ModelResponse


class StrategyError(RunError):
    """A strategy could not complete (no valid plan, no valid route, a failed chunk...)."""

    code = "internal_error"


def next_turn(ctx: StrategyContext) -> int:
    """Reserve the next turn number of the run (safe under asyncio concurrency)."""
    ctx.state.turns += 1
    return ctx.state.turns


def user_input(ctx: StrategyContext) -> str:
    """The text of the message this run answers (the latest user message)."""
    for message in reversed(ctx.messages):
        if message.role == "user":
            return message.content
    return ""


def add_request(messages: list[Message], text: str) -> None:
    """Append a user instruction; merged into the latest message when that is the user's too
    (providers expect alternating roles, and a script then sees the input and the ask)."""
    if messages and messages[-1].role == "user" and not messages[-1].tool_calls:
        messages[-1] = Message("user", f"{messages[-1].content}\n\n{text}")
    else:
        messages.append(Message("user", text))


def finish(ctx: StrategyContext, text: str) -> str:
    """Record the final answer in the conversation (what a session keeps) and return it."""
    ctx.messages.append(Message("assistant", text))
    return text


async def ask(
    ctx: StrategyContext,
    system: str,
    messages: list[Message],
    *,
    agent: CompiledAgent | None = None,
    tools: bool = True,
) -> ModelResponse:
    """One model call: budget check, ``model.request``, retries per ``on_error``, ``model_turn``."""
    agent = agent or ctx.agent
    state = ctx.state
    spec = agent.agent
    turn = next_turn(ctx)
    budget = spec.token_budget
    if budget is not None:
        needed = (len(system) + sum(len(m.content) for m in messages)) // 4 + 1
        used = state.usage.total
        if used + needed > budget:
            state.emit(
                ev.BUDGET_EXCEEDED,
                {"scope": "run", "used": used, "limit": budget, "needed": needed},
            )
            raise BudgetExceeded("run", used, budget, needed)

    def on_retry(attempt: int, error: Exception, delay: float) -> None:
        state.emit(
            ev.MODEL_RETRY,
            {
                "turn": turn,
                "attempt": attempt,
                "error": str(error),
                "code": getattr(error, "code", "unavailable"),
                "delay": round(delay, 3),
            },
        )

    defs = agent.tool_defs if tools else []
    temperature = (
        spec.temperature if spec.temperature is not None else agent.model_config.temperature
    )
    request = ModelRequest(
        system,
        list(messages),
        defs,
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
            "tools": [d.name for d in defs],
        },
    )
    attempt = 0
    while True:
        try:
            return await model_turn(state, agent, request, turn)
        except ModelError as exc:
            if spec.on_error != "retry" or attempt >= spec.max_retries:
                raise
            attempt += 1
            state.emit(
                ev.RUN_RETRY,
                {"turn": turn, "attempt": attempt, "error": exc.code, "message": str(exc)},
            )


async def sub_loop(
    ctx: StrategyContext,
    system: str,
    messages: list[Message],
    *,
    agent: CompiledAgent | None = None,
    what: str = "the answer",
) -> str:
    """A react loop on ``messages`` (extended in place): model, tools, repeat until a text
    answer, at most the agent's ``max_turns`` model calls."""
    agent = agent or ctx.agent
    names = [d.name for d in agent.tool_defs]
    for _ in range(agent.agent.max_turns):
        response = await ask(ctx, system, messages, agent=agent)
        message = response.message
        messages.append(message)
        if not message.tool_calls:
            return message.content
        await run_tool_calls(
            ctx.state,
            agent,
            ctx.state.turns,
            message.tool_calls,
            messages,
            ctx.tool_timeout,
            ctx.deadlines,
            names,
        )
    raise MaxTurnsExceeded(
        f"agent {agent.agent.name!r} used all {agent.agent.max_turns} turns on {what} "
        "without a final answer"
    )


async def child_run(ctx: StrategyContext, agent: str, text: str) -> RunResult:
    """Run ``agent`` on ``text`` as a child of this run (its own log, linked by parent id)."""
    return await ctx.runtime.run(
        agent, text, parent_run_id=ctx.state.run_id, raise_on_failure=False
    )


def child_error(result: RunResult, what: str) -> StrategyError:
    """The error for a failed child run, keeping its error code."""
    error = StrategyError(
        f"{what}: run {result.run_id} of agent {result.agent!r} {result.status}: "
        f"{result.error_message or result.error}"
    )
    error.code = result.error or "internal_error"
    return error


_FENCE = re.compile(r"^```[A-Za-z]*\s*\n?(.*?)\n?```$", re.DOTALL)


def parse_json(text: str) -> Any:
    """Parse a model's JSON answer, tolerating a surrounding Markdown code fence.

    Raises:
        ValueError: with a message fit to show the model.
    """
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
