"""Small builders for engine tests: IR packages with scripted models and Python tools."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.ir import Agent, ModelConfig, Package, Prompt, PythonTool, Skill, Variable
from agentspec.store.memory import MemoryStore
from agentspec.tools.function import FunctionTool


def package(
    agents: dict[str, dict[str, Any]],
    *,
    tools: Sequence[FunctionTool] = (),
    prompt: str = "You are a test agent.",
    variables: Sequence[Variable] = (),
) -> Package:
    skills = {
        t.name: Skill(
            name=t.name,
            description=t.description,
            input_schema=t.parameters,
            tool=PythonTool(function=f"tests:{t.name}"),
        )
        for t in tools
    }
    ir_agents = {}
    for name, options in agents.items():
        options = dict(options)
        script = options.pop("script", ())
        model = options.pop("model", None) or ModelConfig(provider="scripted", script=tuple(script))
        ir_agents[name] = Agent(name=name, prompt="sys", model=model, **options)
    return Package(
        name="test",
        prompts={"sys": Prompt(name="sys", content=prompt, variables=tuple(variables))},
        skills=skills,
        agents=ir_agents,
    )


def runtime(
    pkg: Package,
    *,
    tools: Sequence[FunctionTool] = (),
    store: Any = None,
    models: dict[str, Any] | None = None,
    **settings: Any,
) -> Runtime:
    return Runtime(
        pkg,
        store=store or MemoryStore(),
        functions={t.name: t for t in tools},
        settings=Settings(**settings),
        models=models,
    )


def types_of(events: Sequence[Any]) -> list[str]:
    return [e.type for e in events if e.type != "model.text"]


def fn_model(fn: Callable[..., Any]) -> Any:
    """Install a Python function as an agent's scripted model (see ScriptedModel)."""
    from agentspec.models.scripted import ScriptedModel

    return ScriptedModel(fn)
