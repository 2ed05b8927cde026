"""reflexion: answer, critique, revise; in-run critic and critic agent; round limit."""

from __future__ import annotations

from typing import Any

from agentspec.engine.strategies.reflexion import parse_verdict
from tests.engine.helpers import package, runtime
from tests.strategies.helpers import check_log, data_of, structure


def _agent(script: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    agent: dict[str, Any] = {"script": script, "strategy": "reflexion"}
    if options:
        agent["strategy_options"] = options
    return agent


async def test_revises_until_the_critic_approves() -> None:
    script = [
        {"text": "Paris", "expect": {"last": "user"}},
        {
            "text": "REVISE: give the country too",
            "expect": {"contains": "Answer to review:\nParis"},
        },
        {"text": "Paris, France", "expect": {"contains": "give the country too"}},
        {"text": "APPROVE. Good.", "expect": {"contains": "Paris, France"}},
    ]
    pkg = package({"writer": _agent(script)})
    async with runtime(pkg) as rt:
        result = await rt.run("writer", "Capital of France?")
        events = await rt.get_events(result.run_id)
    assert result.output == "Paris, France"
    rounds = data_of(events, "critique.round")
    assert rounds == [
        {"round": 1, "verdict": "revise", "feedback": "give the country too", "final": False},
        {"round": 2, "verdict": "approve", "feedback": "Good.", "final": True},
    ]
    # each critique is recorded after the critic's answer and before the revision
    assert structure(events, ("critique", "model.response")) == [
        "model.response",
        "model.response",
        "critique.round",
        "model.response",
        "model.response",
        "critique.round",
    ]
    # the critic sees its own instructions, not the agent's
    requests = [e.data for e in events if e.type == "model.request"]
    assert requests[1]["tools"] == [] and requests[1]["messages"] == 1
    check_log(events, result)


async def test_critic_that_never_approves_stops_after_max_rounds() -> None:
    script = [
        {"text": "v1"},
        {"text": "too short"},
        {"text": "v2"},
        {"text": '{"approved": false, "feedback": "still too short"}'},
    ]
    pkg = package({"writer": _agent(script, max_rounds=2)})
    async with runtime(pkg) as rt:
        result = await rt.run("writer", "Write a poem")
        events = await rt.get_events(result.run_id)
    # exactly 4 model calls: the sequence script would fail on a 5th
    assert result.status == "completed" and result.output == "v2"
    assert result.turns == 4
    rounds = data_of(events, "critique.round")
    assert [(r["verdict"], r["feedback"], r["final"]) for r in rounds] == [
        ("revise", "too short", False),
        ("revise", "still too short", True),
    ]
    check_log(events, result)


async def test_declared_critic_agent_runs_as_a_child_run() -> None:
    pkg = package(
        {
            "writer": _agent([{"text": "draft"}], critic="reviewer"),
            "reviewer": {"script": [{"when": {"contains": "draft"}, "text": "APPROVE"}]},
        }
    )
    async with runtime(pkg) as rt:
        result = await rt.run("writer", "Write")
        events = await rt.get_events(result.run_id)
        (round_,) = data_of(events, "critique.round")
        child = await rt.get_run(round_["child_run_id"])
    assert result.output == "draft" and round_["verdict"] == "approve"
    assert child is not None and child.agent == "reviewer"
    assert child.parent_run_id == result.run_id
    assert "Answer to review:\ndraft" in child.input
    check_log(events, result)


async def test_failing_critic_agent_fails_the_run_naming_it() -> None:
    pkg = package(
        {
            "writer": _agent([{"text": "draft"}], critic="reviewer"),
            "reviewer": {"script": [{"error": {"code": "bad_request", "message": "no"}}]},
        }
    )
    async with runtime(pkg) as rt:
        result = await rt.run("writer", "Write", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed" and result.error == "invalid_request"
    assert "critic agent 'reviewer' failed" in result.error_message
    check_log(events, result)


def test_parse_verdict() -> None:
    assert parse_verdict("approve") == (True, "")
    assert parse_verdict("REVISE: more") == (False, "more")
    assert parse_verdict("needs work") == (False, "needs work")
    assert parse_verdict('{"approved": true}') == (True, "")
