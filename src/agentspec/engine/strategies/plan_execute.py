"""The ``plan-execute`` strategy: plan as JSON, execute each step (with tools), re-plan on failure.

1. The model is asked for a plan: a JSON list of step descriptions. An answer that is not a valid
   plan is rejected (``plan.rejected``) and the model is asked again with the reason, at most
   ``strategy_options.format_retries`` times.
2. The plan is recorded (``plan.created``), then each step runs as a react-style sub-loop on the
   same conversation (``plan.step.started`` / ``plan.step.finished``).
3. A step fails when its sub-loop runs out of turns or the model answers ``STEP FAILED: why``.
   The model is then asked for a new plan for the remaining work, at most
   ``strategy_options.max_replans`` times; after that the run fails.
4. When every step is done the model writes the final answer.
"""

from __future__ import annotations

from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.strategies import StrategyContext, register
from agentspec.engine.strategies._common import (
    StrategyError,
    add_request,
    finish,
    parse_json,
    sub_loop,
)
from agentspec.exceptions import MaxTurnsExceeded
from agentspec.models.base import Message

PLAN_REQUEST = (
    "Make a plan for the task above. Reply with only a JSON list of short step descriptions, "
    'for example ["look up the order", "write the reply"]. At most {max_steps} steps.'
)
REPLAN_REQUEST = (
    "Step {index} ({step!r}) failed: {error}\n"
    "Make a new plan for the work that remains. Reply with only a JSON list of short step "
    "descriptions. At most {max_steps} steps."
)
FIX_REQUEST = (
    "That is not a valid plan: {error}. Reply with only a JSON list of step descriptions "
    '(strings), for example ["first step", "second step"].'
)
STEP_REQUEST = (
    "Step {index} of {count}: {step}\n"
    "Do this step now (use tools if needed) and reply with its result. If it cannot be done, "
    "reply with 'STEP FAILED: ' and the reason."
)
FINAL_REQUEST = "All steps are done. Now write the final answer to the task."
FAILED_PREFIX = "STEP FAILED"


def validate_plan(value: Any, max_steps: int) -> list[str]:
    """Check a parsed plan and return its steps.

    Accepts a list of strings, a list of ``{"step"|"description"|"task": text}`` objects, or
    ``{"steps": [...]}``.

    Raises:
        ValueError: naming what is wrong.
    """
    if isinstance(value, dict) and "steps" in value:
        value = value["steps"]
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list of steps, got a JSON {_kind(value)}")
    if not value:
        raise ValueError("the plan has no steps")
    if len(value) > max_steps:
        raise ValueError(f"the plan has {len(value)} steps; at most {max_steps} are allowed")
    steps: list[str] = []
    for index, item in enumerate(value, 1):
        if isinstance(item, dict):
            item = item.get("step") or item.get("description") or item.get("task")
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"step {index} is not a non-empty string")
        steps.append(item.strip())
    return steps


def _kind(value: Any) -> str:
    return {dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


async def _plan(
    ctx: StrategyContext, messages: list[Message], request: str, replan: int
) -> list[str]:
    """Ask for a plan until it is valid (bounded); record it before it is used."""
    options = ctx.agent.agent.strategy_options
    add_request(messages, request)
    attempts = options.format_retries + 1
    for attempt in range(1, attempts + 1):
        # tools stay offered: the conversation may hold tool calls (a re-plan), and a model
        # may look something up before it plans
        text = await sub_loop(ctx, ctx.system, messages, what="the plan")
        try:
            steps = validate_plan(parse_json(text), options.max_steps)
        except ValueError as exc:
            retrying = attempt < attempts
            ctx.state.emit(
                ev.PLAN_REJECTED,
                {"attempt": attempt, "replan": replan, "error": str(exc), "retrying": retrying},
            )
            if not retrying:
                raise StrategyError(
                    f"agent {ctx.agent.agent.name!r} (plan-execute) gave no valid plan after "
                    f"{attempts} attempt(s): {exc}"
                ) from None
            messages.append(Message("user", FIX_REQUEST.format(error=exc)))
            continue
        ctx.state.emit(ev.PLAN_CREATED, {"attempt": attempt, "replan": replan, "steps": steps})
        return steps
    raise AssertionError("unreachable")  # pragma: no cover


@register("plan-execute")
async def plan_execute(ctx: StrategyContext) -> str:
    """Run the ``plan-execute`` strategy (see the module docstring)."""
    options = ctx.agent.agent.strategy_options
    messages = list(ctx.messages)
    steps = await _plan(ctx, messages, PLAN_REQUEST.format(max_steps=options.max_steps), 0)
    replans = 0
    index = 0
    while index < len(steps):
        step = steps[index]
        number = index + 1
        ctx.state.emit(
            ev.PLAN_STEP_STARTED,
            {"index": number, "count": len(steps), "step": step, "replan": replans},
        )
        messages.append(
            Message("user", STEP_REQUEST.format(index=number, count=len(steps), step=step))
        )
        error = ""
        output = ""
        try:
            output = await sub_loop(ctx, ctx.system, messages, what=f"plan step {number}")
        except MaxTurnsExceeded as exc:
            error = str(exc)
        if not error and output.strip().upper().startswith(FAILED_PREFIX):
            error = output.strip()[len(FAILED_PREFIX) :].lstrip(" :").strip() or "no reason given"
        ctx.state.emit(
            ev.PLAN_STEP_FINISHED,
            {
                "index": number,
                "status": "failed" if error else "completed",
                "output": "" if error else output,
                "error": error,
                "replan": replans,
            },
        )
        if not error:
            index += 1
            continue
        if replans >= options.max_replans:
            raise StrategyError(
                f"agent {ctx.agent.agent.name!r} (plan-execute): step {number} ({step!r}) "
                f"failed after {replans} re-plan(s): {error}"
            )
        replans += 1
        request = REPLAN_REQUEST.format(
            index=number, step=step, error=error, max_steps=options.max_steps
        )
        steps = await _plan(ctx, messages, request, replans)
        index = 0
    messages.append(Message("user", FINAL_REQUEST))
    answer = await sub_loop(ctx, ctx.system, messages, what="the final answer")
    return finish(ctx, answer)
