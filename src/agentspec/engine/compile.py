"""Turn an IR agent into what the loop needs: a model, tools, tool definitions, a prompt.

Done once per agent per runtime; runs reuse the result, so the hot path does no validation,
schema building or imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentspec._template import render
from agentspec.exceptions import ToolError, UsageError
from agentspec.ir.check import placeholders
from agentspec.ir.models import (
    Agent,
    CommandTool,
    HttpTool,
    InlineTool,
    McpTool,
    ModelConfig,
    Package,
    Prompt,
    PythonTool,
    Skill,
)
from agentspec.models.base import Model, ToolDef
from agentspec.models.registry import create_model
from agentspec.secrets.resolver import SecretResolver
from agentspec.tools.base import Tool, ToolContext
from agentspec.tools.function import FunctionTool

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class _NotExecutable(Tool):
    """An MCP skill: declared and validated now, executed once the MCP client lands."""

    def __init__(self, skill: Skill, reason: str) -> None:
        self.name = skill.name
        self.description = skill.description
        self.parameters = skill.input_schema or EMPTY_SCHEMA
        self._reason = reason

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        raise ToolError(self._reason)


def import_function(ref: str, base_dir: Path) -> FunctionTool:
    """Import ``module:function`` with ``base_dir`` first on ``sys.path``."""
    module_name, _, attr = ref.partition(":")
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise UsageError(
            f"cannot import python tool {ref!r}: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    return target if isinstance(target, FunctionTool) else FunctionTool(target)


def build_tool(
    skill: Skill,
    *,
    functions: Mapping[str, FunctionTool],
    secrets: SecretResolver,
    base_dir: Path,
    http_client: Any = None,
) -> Tool:
    spec = skill.tool
    tool: Tool
    if isinstance(spec, PythonTool):
        function = functions.get(skill.name) or import_function(spec.function, base_dir)
        function.name = skill.name
        function.description = skill.description or function.description
        if spec.timeout is not None:
            function.timeout = spec.timeout
        return function
    if isinstance(spec, CommandTool):
        from agentspec.tools.command import CommandRunner

        tool = CommandRunner(skill, spec, secrets=secrets, base_dir=base_dir)
    elif isinstance(spec, HttpTool):
        from agentspec.tools.http import HttpRequestTool

        tool = HttpRequestTool(skill, spec, secrets=secrets, client=http_client)
    elif isinstance(spec, InlineTool):
        from agentspec.tools.inline import InlineCodeTool

        tool = InlineCodeTool(skill, spec, base_dir=base_dir)
    elif isinstance(spec, McpTool):
        tool = _NotExecutable(
            skill,
            f"MCP tool {spec.server_tool!r} cannot run yet: MCP execution is not implemented in this release",
        )
    else:  # pragma: no cover - the IR union is closed
        raise UsageError(f"skill {skill.name!r}: unsupported tool kind {type(spec).__name__}")
    return tool


@dataclass(slots=True)
class CompiledAgent:
    agent: Agent
    prompt: Prompt
    model: Model
    model_config: ModelConfig
    tools: dict[str, Tool]
    tool_defs: list[ToolDef]
    fqn: str
    required_vars: frozenset[str]
    var_defaults: dict[str, str]
    _system_cache: str | None = field(default=None)

    def system_prompt(self, variables: Mapping[str, Any] | None) -> str:
        """Render the system prompt; raises UsageError naming a missing variable."""
        if not variables and self._system_cache is not None:
            return self._system_cache
        values: dict[str, Any] = dict(self.var_defaults)
        if variables:
            values.update(variables)
        missing = sorted(name for name in self.required_vars if name not in values)
        if missing:
            names = ", ".join(missing)
            raise UsageError(
                f"agent {self.agent.name!r}: missing prompt variable(s) {names} "
                f"(pass them with --var NAME=VALUE or variables={{...}})"
            )
        text = render(self.prompt.content, values, missing=lambda name: "{{" + name + "}}")
        if not variables:
            self._system_cache = text
        return text


def compile_agent(
    package: Package,
    name: str,
    *,
    functions: Mapping[str, FunctionTool],
    secrets: SecretResolver,
    base_dir: Path,
    model_override: ModelConfig | None = None,
    model: Model | None = None,
    http_client: Any = None,
    tools: Mapping[str, Tool] | None = None,
) -> CompiledAgent:
    """Compile agent ``name``; ``tools`` replaces the tools of those skill names (replay)."""
    agent = package.agents.get(name)
    if agent is None:
        from agentspec.ir.suggest import suggest

        hint = suggest(name, package.agents)
        raise UsageError(f"unknown agent {name!r}" + (f" ({hint})" if hint else ""))
    prompt = package.prompts[agent.prompt]
    config = agent.model
    if model_override is not None:
        keep_script = model_override.provider == "scripted" and config.provider == "scripted"
        config = config if keep_script else model_override
    built: dict[str, Tool] = {}
    for skill_name in agent.skills:
        skill = package.skills[skill_name]
        if tools is not None and skill_name in tools:
            built[skill_name] = tools[skill_name]
            continue
        built[skill_name] = build_tool(
            skill, functions=functions, secrets=secrets, base_dir=base_dir, http_client=http_client
        )
    tool_defs = [
        ToolDef(name, tool.description, tool.parameters or EMPTY_SCHEMA)
        for name, tool in built.items()
    ]
    declared = {v.name: v for v in prompt.variables}
    defaults = {v.name: v.default for v in prompt.variables if v.default is not None}
    defaults.update(agent.variables)
    used = set(placeholders(prompt.content))
    required = {n for n, v in declared.items() if v.required} | {
        n for n in used if n not in declared
    }
    required -= set(defaults)
    return CompiledAgent(
        agent=agent,
        prompt=prompt,
        model=model if model is not None else create_model(config, secrets),
        model_config=config,
        tools=built,
        tool_defs=tool_defs,
        fqn=package.fqn("Agent", name),
        required_vars=frozenset(required),
        var_defaults=defaults,
    )
