"""Structured runs (``Runtime.run_flow``) and child agent runs carry their own logs."""

from __future__ import annotations

import asyncio

import pytest

from agentspec.engine import events as ev
from agentspec.engine.run import RunState
from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.ir.models import Agent, ModelConfig, Package, Prompt


def _package() -> Package:
    return Package(
        name="flows",
        prompts={"p": Prompt(name="p", content="You echo.")},
        agents={
            "echo": Agent(
                name="echo", prompt="p", model=ModelConfig(provider="scripted"), stream=False
            )
        },
    )


async def test_flow_run_records_body_events_and_child_runs() -> None:
    async with Runtime(_package(), settings=Settings(store="memory")) as runtime:
        children: list[str] = []

        async def body(state: RunState) -> str:
            state.emit("step.started", {"step": "one"})
            child = await runtime.run("echo", "hi", parent_run_id=state.run_id)
            children.append(child.run_id)
            state.emit("step.completed", {"step": "one", "run_id": child.run_id})
            return child.output

        result = await runtime.run_flow("pipeline", "demo", {"x": 1}, body)
        assert result.status == "completed"
        assert result.output == "hi"
        events = await runtime.get_events(result.run_id)
        assert [e.type for e in events] == [
            ev.RUN_STARTED,
            "step.started",
            "step.completed",
            ev.RUN_COMPLETED,
        ]
        assert events[0].data["kind"] == "pipeline"
        assert events[0].data["input"] == '{"x": 1}'
        record = await runtime.get_run(result.run_id)
        assert record is not None and record.agent == "demo" and record.status == "completed"
        child = await runtime.get_run(children[0])
        assert child is not None and child.parent_run_id == result.run_id
        child_events = await runtime.get_events(children[0])
        assert child_events[0].data["parent_run_id"] == result.run_id


async def test_flow_run_failure_and_cancellation_leave_terminal_events() -> None:
    async with Runtime(_package(), settings=Settings(store="memory")) as runtime:

        async def broken(state: RunState) -> str:
            raise ValueError("boom")

        result = await runtime.run_flow("workflow", "bad", "x", broken)
        assert result.status == "failed"
        assert result.error == "internal_error" and "boom" in result.error_message

        started = asyncio.Event()

        async def slow(state: RunState) -> str:
            started.set()
            await asyncio.sleep(30)
            return "never"

        handle = runtime.start_flow("workflow", "slow", "x", slow)
        await started.wait()
        handle.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handle.task  # type: ignore[misc]
        events = await runtime.get_events(handle.run_id)
        assert events[-1].type == ev.RUN_FAILED
        assert events[-1].data["error"] == "cancelled"
