"""Builders for workflow tests: packages with scripted agents, runtimes on real stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentspec.engine.events import Event
from agentspec.engine.result import RunResult
from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.engine.workflow import run_workflow
from agentspec.ir.check import check_package
from agentspec.ir.models import Agent, ModelConfig, Package, Prompt, PythonTool, Skill
from agentspec.store.memory import MemoryStore
from agentspec.tools.function import FunctionTool


def package(
    *,
    workflows: dict[str, Any] | None = None,
    state_machines: dict[str, Any] | None = None,
    behavior_trees: dict[str, Any] | None = None,
    agents: dict[str, list[dict[str, Any]]] | None = None,
    tools: list[FunctionTool] | None = None,
) -> Package:
    """A package; ``agents`` maps an agent name to its scripted model's script."""
    ir_agents = {
        name: Agent(
            name=name,
            prompt="sys",
            model=ModelConfig(provider="scripted", script=tuple(script)),
            stream=False,
        )
        for name, script in (agents or {}).items()
    }
    skills = {
        tool.name: Skill(
            name=tool.name,
            description=tool.description,
            input_schema=tool.parameters,
            tool=PythonTool(function=f"tests:{tool.name}"),
        )
        for tool in tools or []
    }
    built = Package(
        name="wf",
        prompts={"sys": Prompt(name="sys", content="You are a test agent.")},
        agents=ir_agents,
        skills=skills,
        workflows={n: {**w, "name": n} for n, w in (workflows or {}).items()},
        state_machines={n: {**m, "name": n} for n, m in (state_machines or {}).items()},
        behavior_trees={n: {**t, "name": n} for n, t in (behavior_trees or {}).items()},
    )
    problems = check_package(built)
    assert not problems, problems
    return built


def runtime(pkg: Package, *, tools: list[FunctionTool] | None = None, store: Any = None) -> Runtime:
    return Runtime(
        pkg,
        store=store or MemoryStore(),
        settings=Settings(store="memory"),
        functions={tool.name: tool for tool in tools or []},
    )


async def run(
    pkg: Package,
    name: str,
    data: Any,
    *,
    functions: dict[str, Callable[[Any], Any]] | None = None,
    tools: list[FunctionTool] | None = None,
    base_dir: Path | None = None,
) -> tuple[RunResult, list[Event]]:
    """Run ``name`` on a fresh in-memory runtime; the result and the stored events."""
    async with runtime(pkg, tools=tools) as rt:
        if base_dir is not None:
            rt.base_dir = base_dir
        result = await run_workflow(rt, name, data, functions=functions)
        return result, await rt.get_events(result.run_id)


def of(events: list[Event], type_: str) -> list[dict[str, Any]]:
    """The payloads of the events of one type, in order."""
    return [event.data for event in events if event.type == type_]


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A workflow mapping from node dicts."""
    return {"nodes": list(nodes)}
