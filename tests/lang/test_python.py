"""The Python front-end: @tool schemas, Agent lowering to IR, running on the same engine."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import pytest
from pydantic import BaseModel

import agentspec
from agentspec import ScriptedModel, SpecError, ToolContext, UsageError, tool
from agentspec.ir import ir_hash
from agentspec.tools.function import FunctionTool, parse_docstring
from tests.conftest import EXAMPLES


class Point(BaseModel):
    x: float
    y: float


@tool
def distance(a: Point, b: Point, unit: Literal["m", "km"] = "m") -> float:
    """Distance between two points.

    Longer explanation that is not the summary.

    Args:
        a: the first point
        b: the second point,
            described on two lines
        unit: the unit of the result

    Returns:
        The Euclidean distance.
    """
    return ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5


def test_schema_from_type_hints_and_docstring() -> None:
    assert distance.name == "distance"
    assert distance.description.startswith("Distance between two points.")
    assert "Returns" not in distance.description
    schema = distance.parameters
    assert schema["required"] == ["a", "b"]
    assert schema["properties"]["b"]["description"] == "the second point, described on two lines"
    assert schema["properties"]["unit"]["enum"] == ["m", "km"]
    assert schema["additionalProperties"] is False
    assert "Point" in str(schema["$defs"])
    # still a plain function
    assert distance(Point(x=0, y=0), Point(x=3, y=4)) == 5


def test_parse_docstring_without_args() -> None:
    assert parse_docstring("Just a summary.") == ("Just a summary.", {})
    assert parse_docstring(None) == ("", {})


async def test_validation_errors_name_the_field() -> None:
    with pytest.raises(agentspec.ToolError, match=r"invalid arguments for distance: a\.x"):
        await distance.call({"a": {"x": "far"}, "b": {"x": 1, "y": 1}}, ToolContext("r", "c", "a"))


async def test_sync_tools_run_in_a_worker_thread_and_context_is_injected() -> None:
    seen: dict[str, object] = {}

    @tool(name="whoami", timeout=3)
    def who(ctx: ToolContext, greeting: str = "hi") -> str:
        """Report the caller."""
        seen["thread"] = threading.current_thread() is threading.main_thread()
        return f"{greeting} {ctx.run_id}/{ctx.call_id} ({ctx.idempotency_key})"

    assert "ctx" not in who.parameters["properties"]
    assert who.timeout == 3
    out = await who.call({}, ToolContext("run_1", "call_2", "agent"))
    assert out == "hi run_1/call_2 (run_1:call_2)"
    assert seen["thread"] is False


def test_unsupported_signatures_are_usage_errors() -> None:
    def variadic(*args: int) -> int:
        return 0

    with pytest.raises(UsageError, match=r"\*args/\*\*kwargs"):
        FunctionTool(variadic)


async def test_agent_lowers_to_ir_and_runs() -> None:
    @tool
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
            {"expect": {"last": "tool"}, "text": "sum={{tool_result}}"},
        ]
    )
    agent = agentspec.Agent(
        "calc", instructions="You add.", model=model, tools=[add], max_turns=3, token_budget=500
    )
    package = agent.to_package()
    assert package.agents["calc"].skills == ("add",)
    assert package.skills["add"].input_schema == add.parameters
    assert package.agents["calc"].max_turns == 3
    assert ir_hash(package) == ir_hash(agent.to_package())
    async with agent.runtime(store="memory") as runtime:
        result = await runtime.run("calc", "2+3?")
    assert result.output == "sum=5"
    assert model.remaining == 0


async def test_agent_default_runtime_streams_events() -> None:
    agent = agentspec.Agent("echo", instructions="Repeat.", model="scripted")
    try:
        events = [event.type async for event in agent.start("hello world")]
        result = await agent.run("again")
    finally:
        await agent.aclose()
    assert events[0] == "run.started" and events[-1] == "run.completed"
    assert "model.text" in events
    assert result.output == "again"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 5}, "temperature: Input should be less than or equal to 2"),
        ({"max_turn": 3}, "unknown argument 'max_turn' (did you mean \"max_turns\"?)"),
        ({"model": "mystery:x"}, "unknown provider 'mystery'"),
        ({"strategy": "reactt"}, "strategy"),
    ],
)
def test_agent_mistakes_are_spec_errors(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"instructions": "x", **kwargs}
    with pytest.raises(SpecError) as caught:
        agentspec.Agent("bad", **options).to_package()  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "Agent('bad')" in str(caught.value)


def test_building_agents_is_cheap_and_lazy() -> None:
    agent = agentspec.Agent(
        "lazy", instructions="x", temperature=99
    )  # invalid, but not yet lowered
    assert repr(agent) == "Agent('lazy')"
    with pytest.raises(SpecError):
        agent.to_package()


def test_load_is_synchronous_and_suggests_agent_names() -> None:
    project = agentspec.load(EXAMPLES / "quickstart")
    assert project.agent("assistant").name == "assistant"
    with pytest.raises(UsageError, match='did you mean "assistant"'):
        project.agent("asistant")
    asyncio.run(project.aclose())
