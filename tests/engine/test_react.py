"""The react loop end to end: events, tools, limits, errors, fallback, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentspec import ScriptedModel, tool
from agentspec.engine.result import fold
from agentspec.exceptions import RunError, UsageError
from agentspec.ir import Variable
from agentspec.models.base import ModelRequest
from tests.engine.helpers import package, runtime, types_of

ADD_SCRIPT = [
    {"when": {"last": "user"}, "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"when": {"last": "tool"}, "text": "{{tool_result}}"},
]


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_tool_call_round_trip_records_every_step() -> None:
    pkg = package({"calc": {"script": ADD_SCRIPT, "skills": ["add"]}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        result = await rt.run("calc", "what is 2 + 3?")
        events = await rt.get_events(result.run_id)
    assert result.output == "5"
    assert result.status == "completed"
    assert result.turns == 2
    assert [c.to_dict()["output"] for c in result.tool_calls] == [5]
    assert types_of(events) == [
        "run.started",
        "model.request",
        "model.response",
        "tool.call",
        "tool.result",
        "model.request",
        "model.response",
        "run.completed",
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # the result is a pure function of the stored events
    assert fold(events).to_dict() == result.to_dict()
    started = events[0].data
    assert started["agent"] == "calc" and started["ir_hash"].startswith("sha256:")
    assert started["fqn"] == "test/Agent/calc"


async def test_stored_run_record_matches_result() -> None:
    pkg = package({"calc": {"script": ADD_SCRIPT, "skills": ["add"]}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        result = await rt.run("calc", "2+3")
        record = await rt.get_run(result.run_id)
    assert record is not None
    assert (record.status, record.output, record.turns) == ("completed", "5", 2)
    assert record.input_tokens == result.usage.input_tokens > 0


async def test_tool_calls_of_one_turn_run_concurrently_and_record_in_call_order() -> None:
    windows: dict[str, tuple[float, float]] = {}

    @tool
    async def slow(name: str, delay: float) -> str:
        """Sleep, then return the name."""
        start = time.perf_counter()
        await asyncio.sleep(delay)
        windows[name] = (start, time.perf_counter())
        return name

    script = [
        {
            "when": {"last": "user"},
            "tool_calls": [
                {"name": "slow", "arguments": {"name": "first", "delay": 0.3}},
                {"name": "slow", "arguments": {"name": "second", "delay": 0.05}},
            ],
        },
        {"when": {"last": "tool"}, "text": "{{tool_result}}"},
    ]
    pkg = package({"a": {"script": script, "skills": ["slow"]}}, tools=[slow])
    async with runtime(pkg, tools=[slow]) as rt:
        started = time.perf_counter()
        result = await rt.run("a", "go")
        elapsed = time.perf_counter() - started
        events = await rt.get_events(result.run_id)
    first, second = windows["first"], windows["second"]
    assert second[0] < first[1], "the second call started before the first finished"
    assert elapsed < 0.3 + 0.2
    results = [e.data["output"] for e in events if e.type == "tool.result"]
    assert results == ["first", "second"]
    assert result.output == "first, second"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise ValueError('boom')", "ValueError: boom"),
        ("return object()", "not JSON"),
    ],
)
async def test_failing_tool_becomes_an_error_result(body: str, expected: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"async def broken(x: int) -> object:\n    '''Broken.'''\n    {body}\n", namespace)
    broken = tool(namespace["broken"])
    script = [
        {"when": {"last": "user"}, "tool_calls": [{"name": "broken", "arguments": {"x": 1}}]},
        {"when": {"last": "tool"}, "text": "saw: {{tool_result}}"},
    ]
    pkg = package({"a": {"script": script, "skills": ["broken"]}}, tools=[broken])
    async with runtime(pkg, tools=[broken]) as rt:
        result = await rt.run("a", "go")
    assert result.status == "completed"
    assert expected in result.tool_calls[0].error
    assert result.output.startswith("saw: error: ")


async def test_tool_that_hangs_times_out() -> None:
    @tool(timeout=0.1)
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(30)
        return "never"

    script = [
        {"when": {"last": "user"}, "tool_calls": [{"name": "hang", "arguments": {}}]},
        {"when": {"last": "tool"}, "text": "{{tool_result}}"},
    ]
    pkg = package({"a": {"script": script, "skills": ["hang"]}}, tools=[hang])
    async with runtime(pkg, tools=[hang]) as rt:
        started = time.perf_counter()
        result = await rt.run("a", "go")
    assert time.perf_counter() - started < 2
    assert "timed out after 0.1s" in result.tool_calls[0].error


async def test_default_tool_timeout_from_settings() -> None:
    @tool
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(30)
        return "never"

    script = [
        {"when": {"last": "user"}, "tool_calls": [{"name": "hang", "arguments": {}}]},
        {"when": {"last": "tool"}, "text": "{{tool_result}}"},
    ]
    pkg = package({"a": {"script": script, "skills": ["hang"]}}, tools=[hang])
    async with runtime(pkg, tools=[hang], tool_timeout=0.05) as rt:
        result = await rt.run("a", "go")
    assert "timed out after 0.05s" in result.output


async def test_malformed_arguments_and_unknown_tool_are_reported_to_the_model() -> None:
    script = [
        {
            "when": {"last": "user"},
            "tool_calls": [
                {"name": "add", "raw_arguments": "{not json"},
                {"name": "subtract", "arguments": {"a": 1}},
                {"name": "add", "arguments": {"a": "two", "b": 3}},
            ],
        },
        {"when": {"last": "tool"}, "text": "{{tool_result}}"},
    ]
    pkg = package({"a": {"script": script, "skills": ["add"]}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        result = await rt.run("a", "go")
    errors = [c.error for c in result.tool_calls]
    assert "invalid arguments for add: arguments are not valid JSON" in errors[0]
    assert "unknown tool 'subtract'; available tools: add" in errors[1]
    assert "invalid arguments for add: a:" in errors[2]
    assert result.status == "completed"


async def test_max_turns_fails_the_run_with_a_reason() -> None:
    script = [{"when": {}, "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}]}]
    pkg = package({"a": {"script": script, "skills": ["add"], "max_turns": 3}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        result = await rt.run("a", "loop", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
        with pytest.raises(RunError, match="used all 3 turns"):
            await rt.run("a", "loop")
    assert result.status == "failed"
    assert events[-1].type == "run.failed"
    assert "used all 3 turns" in events[-1].data["message"]
    assert result.turns == 3


async def test_token_budget_refuses_the_call_that_would_exceed_it() -> None:
    script = [
        {
            "when": {"last": "user"},
            "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}],
            "usage": {"input_tokens": 90, "output_tokens": 5},
        },
        {
            "when": {"last": "tool"},
            "text": "done",
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    ]
    pkg = package({"a": {"script": script, "skills": ["add"], "token_budget": 100}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        result = await rt.run("a", "go", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    kinds = types_of(events)
    assert kinds.count("model.request") == 1, "the second call was refused before it was made"
    budget = next(e for e in events if e.type == "budget.exceeded")
    assert budget.data["used"] == 95 and budget.data["limit"] == 100
    assert result.status == "failed"
    assert result.error_message.startswith("token budget exceeded (run: 95/100)")


async def test_run_timeout() -> None:
    script = [{"delay": 5, "text": "late"}]
    pkg = package({"a": {"script": script, "timeout": 0.1}})
    async with runtime(pkg) as rt:
        result = await rt.run("a", "go", raise_on_failure=False)
    assert result.status == "failed"
    assert result.error == "timeout"
    assert "timed out after 0.1s" in result.error_message


async def test_gateway_retries_transient_errors_and_records_them() -> None:
    script = [
        {"error": {"code": "rate_limit", "message": "slow down", "retry_after": 0.01}},
        {"text": "ok"},
    ]
    pkg = package({"a": {"script": script}})
    async with runtime(pkg) as rt:
        result = await rt.run("a", "go")
        events = await rt.get_events(result.run_id)
    assert result.output == "ok"
    retry = next(e for e in events if e.type == "model.retry")
    assert retry.data["attempt"] == 1 and retry.data["delay"] == 0.01
    assert retry.data["code"] == "rate_limited"


async def test_on_error_retry_repeats_a_failed_turn() -> None:
    script = [{"error": {"code": "bad_request", "message": "nope"}}, {"text": "recovered"}]
    pkg = package({"a": {"script": script, "on_error": "retry", "max_retries": 1}})
    async with runtime(pkg) as rt:
        result = await rt.run("a", "go")
        events = await rt.get_events(result.run_id)
    assert result.output == "recovered"
    assert [e.data["attempt"] for e in events if e.type == "run.retry"] == [1]


async def test_on_error_fail_does_not_retry() -> None:
    script = [{"error": {"code": "bad_request", "message": "nope"}}, {"text": "unused"}]
    pkg = package({"a": {"script": script, "on_error": "fail"}})
    async with runtime(pkg) as rt:
        result = await rt.run("a", "go", raise_on_failure=False)
    assert result.status == "failed"
    assert result.error == "invalid_request"
    assert "nope" in result.error_message


async def test_on_error_fallback_hands_the_run_to_another_agent() -> None:
    pkg = package(
        {
            "primary": {
                "script": [{"error": {"code": "bad_request", "message": "primary broke"}}],
                "on_error": "fallback",
                "fallback": "backup",
            },
            "backup": {"script": [{"text": "backup answered"}]},
        }
    )
    async with runtime(pkg) as rt:
        result = await rt.run("primary", "go")
        events = await rt.get_events(result.run_id)
    assert result.output == "backup answered"
    fallback = next(e for e in events if e.type == "run.fallback")
    assert fallback.data["from"] == "primary" and fallback.data["to"] == "backup"
    assert "primary broke" in fallback.data["message"]


async def test_prompt_variables_render_and_missing_ones_are_usage_errors() -> None:
    seen: list[str] = []

    def capture(request: ModelRequest) -> str:
        seen.append(request.system)
        return "ok"

    pkg = package(
        {"a": {"variables": {"team": "ops"}}},
        prompt="Help {{user}} from {{team}}.",
        variables=[Variable(name="user", required=True), Variable(name="team")],
    )
    async with runtime(pkg, models={"a": ScriptedModel(capture)}) as rt:
        await rt.run("a", "hi", variables={"user": "Ada"})
        with pytest.raises(UsageError, match="missing prompt variable"):
            await rt.run("a", "hi")
        page = await rt.list_runs()
    assert seen == ["Help Ada from ops."]
    assert len(page.runs) == 1, "no run is recorded for a usage error"


async def test_unknown_agent_suggests_a_name() -> None:
    pkg = package({"assistant": {}})
    async with runtime(pkg) as rt:
        with pytest.raises(UsageError, match='did you mean "assistant"'):
            await rt.run("asistant", "hi")


async def test_streaming_handle_yields_every_event_then_stops() -> None:
    pkg = package({"calc": {"script": ADD_SCRIPT, "skills": ["add"]}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        handle = rt.start("calc", "2+3")
        seen = [event async for event in handle]
        result = await handle.result()
        stored = await rt.get_events(result.run_id)
    assert seen[-1].type == "run.completed"
    assert [e.seq for e in seen] == [e.seq for e in stored]
    assert result.output == "5"


async def test_cancelled_run_ends_with_a_failed_event_and_status() -> None:
    pkg = package({"a": {"script": [{"delay": 10, "text": "late"}]}})
    async with runtime(pkg) as rt:
        handle = rt.start("a", "go")
        await asyncio.sleep(0.05)
        handle.cancel()
        result = await handle.result()
        record = await rt.get_run(handle.run_id)
        events = await rt.get_events(handle.run_id)
    assert result.status == "cancelled"
    assert record is not None and record.status == "cancelled"
    assert events[-1].type == "run.failed" and events[-1].data["error"] == "cancelled"


async def test_scripted_sequence_mismatch_fails_loudly() -> None:
    script = [{"expect": {"contains": "hello"}, "text": "hi"}]
    pkg = package({"a": {"script": script}})
    async with runtime(pkg) as rt:
        bad = await rt.run("a", "goodbye", raise_on_failure=False)
    assert bad.status == "failed"
    assert "expected the last message to contain 'hello'" in bad.error_message
    pkg = package({"a": {"script": [{"text": "only one"}]}})
    async with runtime(pkg) as rt:
        await rt.run("a", "one")
        exhausted = await rt.run("a", "two", raise_on_failure=False)
    assert "the script has 1 step(s) but call 2 was made" in exhausted.error_message


async def test_echo_model_without_script() -> None:
    pkg = package({"a": {}})
    async with runtime(pkg) as rt:
        result = await rt.run("a", "echo me")
    assert result.output == "echo me"


async def test_secret_values_never_reach_events_or_the_run_record(monkeypatch) -> None:
    monkeypatch.setenv("DEMO_TOKEN", "s3cr3t-value-123")
    from agentspec.ir import Secret

    pkg = package(
        {
            "a": {
                "script": [
                    {"error": {"code": "bad_request", "message": "token s3cr3t-value-123 refused"}}
                ]
            }
        }
    )
    pkg = pkg.model_copy(
        update={"secrets": {"tok": Secret(name="tok", source="env", key="DEMO_TOKEN")}}
    )
    async with runtime(pkg) as rt:
        rt.secrets.resolve_name("tok")
        result = await rt.run("a", "go", raise_on_failure=False)
        record = await rt.get_run(result.run_id)
        events = await rt.get_events(result.run_id)
    assert result.error_message == "token *** refused"
    assert record is not None and "s3cr3t" not in record.error
    assert all("s3cr3t" not in str(e.data) for e in events)
