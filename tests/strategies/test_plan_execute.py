"""plan-execute: plan as JSON, steps with tools, corrective re-asks, re-plans, failures."""

from __future__ import annotations

from typing import Any

from agentspec import tool
from agentspec.engine.strategies.plan_execute import validate_plan
from tests.engine.helpers import package, runtime
from tests.strategies.helpers import check_log, data_of, structure


@tool
async def price(item: str) -> int:
    """Look up the price of an item."""
    return {"apple": 3, "pear": 5}.get(item, 0)


def _agent(script: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    agent: dict[str, Any] = {"script": script, "strategy": "plan-execute", "skills": ["price"]}
    if options:
        agent["strategy_options"] = options
    return agent


async def test_plan_steps_with_tools_and_final_answer() -> None:
    script = [
        {"when": {"last": "tool"}, "text": "the apple costs {{tool.price}}"},
        {"when": {"contains": "Make a plan"}, "text": '```json\n["price the apple", "reply"]\n```'},
        {
            "when": {"regex": "Step 1 of 2"},
            "tool_calls": [{"name": "price", "arguments": {"item": "apple"}}],
        },
        {"when": {"regex": "Step 2 of 2"}, "text": "reply drafted"},
        {"when": {"contains": "All steps are done"}, "text": "An apple costs 3."},
    ]
    pkg = package({"shopper": _agent(script)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("shopper", "How much is an apple?")
        events = await rt.get_events(result.run_id)
    assert result.output == "An apple costs 3."
    assert structure(events, ("plan.", "tool.")) == [
        "plan.created",
        "plan.step.started",
        "tool.call",
        "tool.result",
        "plan.step.finished",
        "plan.step.started",
        "plan.step.finished",
    ]
    assert data_of(events, "plan.created") == [
        {"attempt": 1, "replan": 0, "steps": ["price the apple", "reply"]}
    ]
    finished = data_of(events, "plan.step.finished")
    assert [(f["index"], f["status"], f["output"]) for f in finished] == [
        (1, "completed", "the apple costs 3"),
        (2, "completed", "reply drafted"),
    ]
    # the plan is recorded before any step runs; turn numbers only grow
    types = [e.type for e in events]
    assert types.index("plan.created") < types.index("plan.step.started")
    turns = [e.data["turn"] for e in events if e.type == "model.request"]
    assert turns == sorted(turns) and len(set(turns)) == len(turns) == 5
    assert [c.tool_name for c in result.tool_calls] == ["price"]
    check_log(events, result)


async def test_invalid_plan_is_corrected_after_a_corrective_message() -> None:
    script = [
        {"text": "Sure! First I will look it up."},
        {"text": '{"steps": [{"step": "look it up"}]}', "expect": {"contains": "not a valid plan"}},
        {"text": "looked up", "expect": {"contains": "Step 1 of 1: look it up"}},
        {"text": "done: 42", "expect": {"contains": "All steps are done"}},
    ]
    pkg = package({"p": _agent(script)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("p", "question")
        events = await rt.get_events(result.run_id)
    assert result.output == "done: 42"
    rejected = data_of(events, "plan.rejected")
    assert len(rejected) == 1 and rejected[0]["retrying"] is True
    assert "not valid JSON" in rejected[0]["error"]
    assert data_of(events, "plan.created")[0]["attempt"] == 2
    check_log(events, result)


async def test_plan_that_stays_invalid_fails_the_run_clearly() -> None:
    script = [{"text": "no plan"}, {"text": "[]"}, {"text": '["a", 3]'}]
    pkg = package({"p": _agent(script, format_retries=2)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("p", "question", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed"
    assert "gave no valid plan after 3 attempt(s): step 2 is not a non-empty string" in (
        result.error_message
    )
    rejected = data_of(events, "plan.rejected")
    assert [r["retrying"] for r in rejected] == [True, True, False]
    assert "the plan has no steps" in rejected[1]["error"]
    assert not data_of(events, "plan.step.started")
    check_log(events, result)


async def test_failed_step_triggers_a_replan() -> None:
    script = [
        {"text": '["use the old API", "reply"]'},
        {"text": "STEP FAILED: the old API is gone"},
        {"text": '["use the new API"]', "expect": {"contains": "failed: the old API is gone"}},
        {"text": "new API says 7"},
        {"text": "The answer is 7."},
    ]
    pkg = package({"p": _agent(script)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("p", "question")
        events = await rt.get_events(result.run_id)
    assert result.output == "The answer is 7."
    assert [(d["replan"], d["steps"]) for d in data_of(events, "plan.created")] == [
        (0, ["use the old API", "reply"]),
        (1, ["use the new API"]),
    ]
    finished = data_of(events, "plan.step.finished")
    assert [(f["index"], f["status"], f["error"]) for f in finished] == [
        (1, "failed", "the old API is gone"),
        (1, "completed", ""),
    ]
    check_log(events, result)


async def test_replan_limit_fails_the_run() -> None:
    script = [{"text": '["a"]'}, {"text": "STEP FAILED: nope"}]
    pkg = package({"p": _agent(script, max_replans=0)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("p", "question", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed"
    assert "step 1 ('a') failed after 0 re-plan(s): nope" in result.error_message
    check_log(events, result)


async def test_step_out_of_turns_counts_as_a_failed_step() -> None:
    loop = {"tool_calls": [{"name": "price", "arguments": {"item": "pear"}}]}
    script = [{"text": '["loop"]'}, loop, loop, {"text": '["answer directly"]'}, {"text": "ok"}]
    script.append({"text": "final"})
    pkg = package({"p": {**_agent(script), "max_turns": 2}}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        result = await rt.run("p", "question")
        events = await rt.get_events(result.run_id)
    assert result.output == "final"
    failed = data_of(events, "plan.step.finished")[0]
    assert failed["status"] == "failed" and "used all 2 turns on plan step 1" in failed["error"]
    check_log(events, result)


def test_validate_plan_shapes() -> None:
    assert validate_plan(["a", " b "], 5) == ["a", "b"]
    assert validate_plan([{"description": "x"}, {"task": "y"}], 5) == ["x", "y"]
    for bad, message in [
        ({"plan": 1}, "got a JSON object"),
        ("a", "got a JSON string"),
        (["a", "b", "c"], "at most 2"),
    ]:
        try:
            validate_plan(bad, 2)
        except ValueError as exc:
            assert message in str(exc)
        else:  # pragma: no cover
            raise AssertionError(bad)


async def test_session_keeps_the_question_and_the_final_answer_only() -> None:
    script = [{"text": '["a"]'}, {"text": "did a"}, {"text": "final 1"}]
    script += [{"text": '["b"]', "expect": {"contains": "second"}}, {"text": "did b"}]
    script.append({"text": "final 2"})
    pkg = package({"p": _agent(script)}, tools=[price])
    async with runtime(pkg, tools=[price]) as rt:
        session = await rt.create_session("p")
        await rt.run("p", "first", session_id=session.id)
        second = await rt.run("p", "second", session_id=session.id)
        history = await rt.session_messages(session.id)
    assert second.output == "final 2"
    assert [(m.role, m.content) for m in history] == [
        ("user", "first"),
        ("assistant", "final 1"),
        ("user", "second"),
        ("assistant", "final 2"),
    ]
