"""The ``reflexion`` strategy: answer, critique, revise until the critic approves or N rounds.

The answer is a react-style sub-loop (tools allowed). The critic is either the agent's own model
with critic instructions (``strategy_options.critic_prompt`` or the built-in ones), or a
declared agent (``strategy_options.critic``) run as a child run. Each critique is recorded as a
``critique.round`` event (``round``, ``verdict`` ``approve``/``revise``, ``feedback``) before it
is acted on. After ``strategy_options.max_rounds`` critiques without approval, the latest answer
is returned (the last ``critique.round`` says ``verdict: revise`` and ``final: true``).

Verdicts: the critic answers ``APPROVE`` (optionally followed by a remark), or its feedback
(optionally prefixed ``REVISE:``); a JSON ``{"approved": bool, "feedback": "..."}`` also works.
"""

from __future__ import annotations

from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.strategies import StrategyContext, register
from agentspec.engine.strategies._common import (
    ask,
    child_error,
    child_run,
    finish,
    parse_json,
    sub_loop,
    user_input,
)
from agentspec.models.base import Message

CRITIC_PROMPT = (
    "You are a strict reviewer. Check the answer against the task: is it correct, complete and "
    "clear? If it is good, reply with exactly APPROVE. Otherwise reply with REVISE: followed by "
    "what must change."
)
CRITIQUE_REQUEST = "Task:\n{task}\n\nAnswer to review:\n{answer}"
REVISE_REQUEST = "A reviewer asked for changes:\n{feedback}\n\nRevise your answer."


def parse_verdict(text: str) -> tuple[bool, str]:
    """``(approved, feedback)`` from a critic's reply (see the module docstring)."""
    stripped = text.strip()
    try:
        data: Any = parse_json(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("approved"), bool):
        return data["approved"], str(data.get("feedback") or "")
    head = stripped.upper()
    if head.startswith("APPROVE"):
        return True, stripped[len("APPROVE") :].lstrip(" .:!-").strip()
    if head.startswith("REVISE"):
        return False, stripped[len("REVISE") :].lstrip(" .:!-").strip() or stripped
    return False, stripped


async def _critique(ctx: StrategyContext, task: str, answer: str) -> tuple[str, str]:
    """The critic's reply text and the child run id ("" when the critic is in-run)."""
    options = ctx.agent.agent.strategy_options
    request = CRITIQUE_REQUEST.format(task=task, answer=answer)
    if options.critic:
        result = await child_run(ctx, options.critic, request)
        if not result.ok:
            raise child_error(result, f"critic agent {options.critic!r} failed")
        return result.output, result.run_id
    system = options.critic_prompt or CRITIC_PROMPT
    response = await ask(ctx, system, [Message("user", request)], tools=False)
    return response.message.content, ""


@register("reflexion")
async def reflexion(ctx: StrategyContext) -> str:
    """Run the ``reflexion`` strategy (see the module docstring)."""
    options = ctx.agent.agent.strategy_options
    messages = list(ctx.messages)
    task = user_input(ctx)
    answer = await sub_loop(ctx, ctx.system, messages, what="the first answer")
    for round_ in range(1, options.max_rounds + 1):
        reply, run_id = await _critique(ctx, task, answer)
        approved, feedback = parse_verdict(reply)
        final = approved or round_ == options.max_rounds
        data: dict[str, Any] = {
            "round": round_,
            "verdict": "approve" if approved else "revise",
            "feedback": feedback,
            "final": final,
        }
        if run_id:
            data["child_run_id"] = run_id
        ctx.state.emit(ev.CRITIQUE_ROUND, data)
        if final:
            break
        messages.append(Message("user", REVISE_REQUEST.format(feedback=feedback)))
        answer = await sub_loop(ctx, ctx.system, messages, what=f"revision {round_}")
    return finish(ctx, answer)
