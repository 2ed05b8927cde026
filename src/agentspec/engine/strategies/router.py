"""The ``router`` strategy: classify the input into one declared route and hand it over.

The routes are the agent's ``delegates`` (``delegate to agent "X" when "condition"``; the
condition describes the route to the model). The router's model sees the conversation and is
asked for exactly one route label (an agent name). An answer that names no route is rejected
(``route.rejected``) and asked again, at most ``strategy_options.format_retries`` times; then the
run fails with an error listing the valid labels.

The chosen agent answers as a **child run** (``runtime.run(..., parent_run_id=...)``), with its
own prompt, model, tools and log; ``route.chosen`` is recorded before it starts and
``route.finished`` (child run id, status, output) after. The child's output is the router's
answer; a failed child fails the router run with the child's error code.
"""

from __future__ import annotations

import json
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.strategies import StrategyContext, register
from agentspec.engine.strategies._common import (
    StrategyError,
    add_request,
    ask,
    child_error,
    child_run,
    finish,
    user_input,
)
from agentspec.ir.models import Delegate
from agentspec.models.base import Message

ROUTE_REQUEST = (
    "Choose the one agent that should handle the latest message. The agents:\n{routes}\n"
    "Reply with only the agent's name."
)
FIX_REQUEST = "{error}. Reply with only one of these names: {labels}."


def _routes(routes: tuple[Delegate, ...]) -> str:
    return "\n".join(f"- {d.agent}" + (f": {d.condition}" if d.condition else "") for d in routes)


def parse_label(text: str, labels: list[str]) -> str:
    """The route ``text`` names (case-insensitive; quotes, a trailing period, a JSON
    ``{"agent": ...}`` or ``{"route": ...}`` tolerated).

    Raises:
        ValueError: when it names none of ``labels``.
    """
    value: Any = text.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            value = str(data.get("agent") or data.get("route") or data.get("label") or "")
    cleaned = str(value).strip().strip("`'\"").rstrip(".!").strip().strip("`'\"")
    by_lower = {label.lower(): label for label in labels}
    found = by_lower.get(cleaned.lower())
    if found is None:
        shown = cleaned if len(cleaned) <= 80 else cleaned[:77] + "..."
        raise ValueError(f"{shown!r} is not one of the routes")
    return found


@register("router")
async def router(ctx: StrategyContext) -> str:
    """Run the ``router`` strategy (see the module docstring)."""
    spec = ctx.agent.agent
    routes = spec.delegates
    if not routes:
        raise StrategyError(
            f"agent {spec.name!r} uses the router strategy but declares no delegates to route to"
        )
    labels = [d.agent for d in routes]
    task = user_input(ctx)
    # the conversation as text: a router asks without tools, so tool traffic (e.g. the handoff
    # that made it the active agent) is left out
    messages = [
        m
        for m in ctx.messages
        if m.role in ("user", "assistant") and not m.tool_calls and m.content
    ]
    add_request(messages, ROUTE_REQUEST.format(routes=_routes(routes)))
    attempts = spec.strategy_options.format_retries + 1
    label = ""
    for attempt in range(1, attempts + 1):
        response = await ask(ctx, ctx.system, messages, tools=False)
        text = response.message.content
        try:
            label = parse_label(text, labels)
            break
        except ValueError as exc:
            retrying = attempt < attempts
            ctx.state.emit(
                ev.ROUTE_REJECTED,
                {"attempt": attempt, "answer": text, "error": str(exc), "retrying": retrying},
            )
            if not retrying:
                raise StrategyError(
                    f"agent {spec.name!r} (router) chose no valid route after {attempts} "
                    f"attempt(s): {exc}; valid routes: {', '.join(labels)}"
                ) from None
            messages.append(Message("assistant", text))
            messages.append(
                Message("user", FIX_REQUEST.format(error=exc, labels=", ".join(labels)))
            )
    ctx.state.emit(ev.ROUTE_CHOSEN, {"label": label, "agent": label, "attempt": attempt})
    result = await child_run(ctx, label, task)
    ctx.state.emit(
        ev.ROUTE_FINISHED,
        {
            "agent": label,
            "child_run_id": result.run_id,
            "status": result.status,
            "output": result.output,
            "error": result.error,
        },
    )
    if not result.ok:
        raise child_error(result, f"route {label!r} failed")
    return finish(ctx, result.output)
