"""Delegation: a ``react`` agent hands the conversation to one of its declared delegates.

Each delegate of the active agent (``delegate to agent "X" when "condition"``; YAML
``delegates:``) is offered to the model as a tool ``transfer_to_X`` (characters other than
letters, digits, ``_`` and ``-`` become ``_``) with an optional ``reason`` argument and the
condition in its description. When the model calls it:

1. the turn's tool calls run as usual (the transfer tool answers ``Transferred to X.``);
2. a ``handoff`` event records ``from``, ``to``, ``reason``, ``depth`` and the ``call_id``;
3. the run continues with the delegate's prompt, model and tools on the same conversation
   (a fresh ``max_turns`` allowance; turn numbers keep growing). A delegate whose strategy is
   not ``react`` answers with its own strategy (it plans, routes, ... on that conversation).

Bounds: the package check rejects delegation cycles (naming the cycle path); at run time a
transfer is offered only while the chain is shorter than the entry agent's
``strategy_options.max_delegation_depth`` and never back to an agent already in the chain.

Sessions: a session belongs to the agent it was created for (its entry agent), and clients keep
addressing that agent. The handoffs are part of the conversation (the transfer calls and their
results), so the next run of the session replays them from the history and continues with the
active delegate, recording a ``handoff`` event with ``restored: true`` first. If the session
window (``memory.max_messages``) no longer holds the transfer, the entry agent answers again.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.compile import CompiledAgent
from agentspec.engine.react import run_react
from agentspec.engine.strategies import STRATEGIES, StrategyContext
from agentspec.ir.models import Delegate
from agentspec.models.base import Message, ToolDef
from agentspec.tools.base import Tool, ToolContext

PREFIX = "transfer_to_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(agent: str) -> str:
    """The handoff tool's name for ``agent`` (safe for every provider's tool-name rules)."""
    return PREFIX + _UNSAFE.sub("_", agent)


class HandoffTool(Tool):
    """The tool a model calls to hand the conversation to ``delegate.agent``."""

    def __init__(self, delegate: Delegate) -> None:
        self.agent = delegate.agent
        self.name = tool_name(delegate.agent)
        when = f" Use it when {delegate.condition}." if delegate.condition else ""
        self.description = (
            f"Hand this conversation over to the agent {delegate.agent!r}, who continues it." + when
        )
        self.parameters = {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "Why the agent takes over."}
            },
        }

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        return f"Transferred to {self.agent}."


def _offered(
    compiled: CompiledAgent, chain: list[str], depth: int, limit: int
) -> dict[str, Delegate]:
    """Handoff tool name -> delegate, for the delegates the active agent may hand over to."""
    if depth >= limit:
        return {}
    offered = {tool_name(d.agent): d for d in compiled.agent.delegates if d.agent not in chain}
    return {name: d for name, d in offered.items() if name not in compiled.tools}


def _with_tools(compiled: CompiledAgent, offered: dict[str, Delegate]) -> CompiledAgent:
    """A view of ``compiled`` whose tools include the handoff tools."""
    if not offered:
        return compiled
    tools: dict[str, Tool] = dict(compiled.tools)
    defs = list(compiled.tool_defs)
    for name, delegate in offered.items():
        tool = HandoffTool(delegate)
        tools[name] = tool
        defs.append(ToolDef(name, tool.description, tool.parameters))
    return dataclasses.replace(compiled, tools=tools, tool_defs=defs)


def _handoff_call(messages: list[Message], offered: dict[str, Delegate]) -> tuple[str, str, str]:
    """``(delegate, reason, call_id)`` of the first handoff call of the latest assistant turn."""
    for message in reversed(messages):
        if message.role != "assistant":
            continue
        for call in message.tool_calls:
            delegate = offered.get(call.name)
            if delegate is not None:
                reason = (call.arguments or {}).get("reason", "")
                return delegate.agent, reason if isinstance(reason, str) else str(reason), call.id
        break
    return "", "", ""


def _restore(ctx: StrategyContext, limit: int) -> tuple[CompiledAgent, list[str]]:
    """Replay the handoffs recorded in the conversation history (a continuing session)."""
    compiled = ctx.agent
    chain = [compiled.agent.name]
    for message in ctx.messages:
        if message.role != "tool" or not message.name.startswith(PREFIX):
            continue
        delegate = _offered(compiled, chain, len(chain) - 1, limit).get(message.name)
        if delegate is None:
            continue
        compiled = ctx.runtime.agent(delegate.agent)
        chain.append(delegate.agent)
    return compiled, chain


async def run_delegating(ctx: StrategyContext) -> str:
    """The ``react`` strategy with handoffs to the agent's delegates (see the module docstring)."""
    limit = ctx.agent.agent.strategy_options.max_delegation_depth
    compiled, chain = _restore(ctx, limit)
    system = ctx.system
    if len(chain) > 1:
        system = compiled.system_prompt(None)
        ctx.state.emit(
            ev.HANDOFF,
            {
                "from": chain[0],
                "to": compiled.agent.name,
                "reason": "the session continues with the agent it was handed to",
                "depth": len(chain) - 1,
                "restored": True,
                "chain": list(chain),
            },
        )
    while True:
        if compiled.agent.strategy != "react":  # the delegate answers with its own strategy
            fn = STRATEGIES[compiled.agent.strategy]
            return await fn(dataclasses.replace(ctx, agent=compiled, system=system))
        offered = _offered(compiled, chain, len(chain) - 1, limit)
        output = await run_react(
            ctx.state,
            _with_tools(compiled, offered),
            system,
            ctx.messages,
            tool_timeout=ctx.tool_timeout,
            deadlines=ctx.deadlines,
            first_turn=ctx.state.turns + 1,
            stop_after=frozenset(offered),
        )
        if not offered or ctx.messages[-1].role != "tool":
            return output
        target, reason, call_id = _handoff_call(ctx.messages, offered)
        if not target:  # pragma: no cover - stop_after only fires on an offered tool
            return output
        ctx.state.emit(
            ev.HANDOFF,
            {
                "from": compiled.agent.name,
                "to": target,
                "reason": reason,
                "depth": len(chain),
                "call_id": call_id,
            },
        )
        compiled = ctx.runtime.agent(target)
        system = compiled.system_prompt(None)
        chain.append(target)
