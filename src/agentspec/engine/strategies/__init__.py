"""Strategies: how an agent turns one input into one answer (DESIGN.md: the engine reads IR).

A strategy is an async function taking a :class:`StrategyContext` and returning the final
output text. It must do all of its non-deterministic work through the shared primitives, so
every strategy streams, persists, resumes and replays alike:

* model calls: :func:`agentspec.engine.react.model_turn` (emits ``model.text``/``model.response``)
* tool calls: :func:`agentspec.engine.react.run_tool_calls` (emits ``tool.call``/``tool.result``)
* anything else it decides (a plan, a route, chunks, a critique) is emitted as an event
  *before* it is used, so the log alone explains the run.

Register a strategy with :func:`register`; the runtime dispatches on ``Agent.strategy``.
Built in: ``react`` (with delegation), ``plan-execute``, ``reflexion``, ``router`` and
``map-reduce`` (one module each; see ``docs/strategies.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentspec.engine.compile import CompiledAgent
from agentspec.engine.deadlines import Deadlines
from agentspec.engine.run import RunState
from agentspec.models.base import Message

if TYPE_CHECKING:
    from agentspec.engine.runtime import Runtime


@dataclass(slots=True)
class StrategyContext:
    """What a strategy gets for one run: the runtime, the run's log, the agent, the prompt, the
    conversation, and the tool timeout and deadlines to pass to the shared primitives."""

    runtime: Runtime
    """The runtime executing the run (compile other agents with ``runtime.agent(name)``)."""
    state: RunState
    agent: CompiledAgent
    system: str
    messages: list[Message]
    """The conversation so far (session history + the user's input); extended in place."""
    tool_timeout: float
    deadlines: Deadlines


StrategyFn = Callable[[StrategyContext], Awaitable[str]]
STRATEGIES: dict[str, StrategyFn] = {}


def register(name: str) -> Callable[[StrategyFn], StrategyFn]:
    """Decorator: make ``fn`` the strategy called ``name`` (what ``Agent.strategy`` names)."""

    def decorate(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        return fn

    return decorate


@register("react")
async def _react(ctx: StrategyContext) -> str:
    """The react loop; with delegates, also the handoff tools (``engine/delegation.py``)."""
    if ctx.agent.agent.delegates:
        from agentspec.engine.delegation import run_delegating

        return await run_delegating(ctx)
    from agentspec.engine.react import run_react

    return await run_react(
        ctx.state,
        ctx.agent,
        ctx.system,
        ctx.messages,
        tool_timeout=ctx.tool_timeout,
        deadlines=ctx.deadlines,
    )


# The other strategies register themselves on import (they import this module's names).
from agentspec.engine.strategies import map_reduce, plan_execute, reflexion, router  # noqa: E402

__all__ = [
    "STRATEGIES",
    "StrategyContext",
    "StrategyFn",
    "map_reduce",
    "plan_execute",
    "reflexion",
    "register",
    "router",
]
