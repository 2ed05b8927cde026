"""Cross-resource checks of a package: references resolve, prompt variables are declared.

Front-ends call :func:`check_package` after building the IR and map each problem's ``path``
(a tuple of keys into the package, e.g. ``("agents", "triage", "skills", 1)``) back to a
source position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from agentspec.ir.models import (
    BINDING_MATCH_FIELDS,
    Agent,
    CommandTool,
    McpTool,
    Package,
    Prompt,
    SecretRef,
)
from agentspec.ir.suggest import suggest

SCALAR_TYPES = frozenset(
    {
        "string",
        "str",
        "int",
        "integer",
        "float",
        "number",
        "bool",
        "boolean",
        "object",
        "map",
        "list",
        "array",
        "any",
        "json",
    }
)
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Problem:
    path: tuple[str | int, ...]
    message: str
    hint: str = ""


def placeholders(content: str) -> list[str]:
    """Names of the ``{{var}}`` placeholders in ``content``, in order, duplicates kept."""
    return PLACEHOLDER.findall(content)


def check_package(package: Package) -> list[Problem]:
    return list(_problems(package))


def _problems(package: Package) -> Iterator[Problem]:
    for name, prompt in package.prompts.items():
        yield from _check_prompt(name, prompt)
    for name, agent in package.agents.items():
        yield from _check_agent(package, name, agent)
    for name, skill in package.skills.items():
        base: tuple[str | int, ...] = ("skills", name)
        for kind, fields in (("input", skill.input), ("output", skill.output)):
            for index, field in enumerate(fields):
                if field.type not in SCALAR_TYPES and field.type not in package.types:
                    yield Problem(
                        (*base, kind, index, "type"),
                        f'skill "{name}" field "{field.name}" has unknown type "{field.type}"',
                        suggest(field.type, [*SCALAR_TYPES, *package.types]),
                    )
        tool = skill.tool
        if isinstance(tool, McpTool) and "/" in tool.server_tool:
            wanted = tool.server_tool.split("/", 1)[0]
            if wanted not in package.mcp_servers:
                yield Problem(
                    (*base, "tool", "server_tool"),
                    f'MCP server "{wanted}" not found in tool reference "{tool.server_tool}"',
                    suggest(wanted, package.mcp_servers),
                )
        if isinstance(tool, CommandTool):
            for env_name, secret in tool.secrets.items():
                if secret not in package.secrets:
                    yield Problem(
                        (*base, "tool", "secrets", env_name),
                        f'secret "{secret}" not found',
                        suggest(secret, package.secrets),
                    )
    for server_name, server in package.mcp_servers.items():
        if server.auth and server.auth not in package.secrets:
            yield Problem(
                ("mcp_servers", server_name, "auth"),
                f'secret "{server.auth}" not found',
                suggest(server.auth, package.secrets),
            )
    for type_name, typedef in package.types.items():
        for index, type_field in enumerate(typedef.fields):
            if type_field.type not in SCALAR_TYPES and type_field.type not in package.types:
                yield Problem(
                    ("types", type_name, "fields", index, "type"),
                    f'type "{type_name}" field "{type_field.name}" has unknown type "{type_field.type}"',
                    suggest(type_field.type, [*SCALAR_TYPES, *package.types]),
                )
    yield from _check_bindings(package)
    yield from _check_strategies(package)
    from agentspec.ir.check_pipeline import check_pipelines  # here: it imports Problem

    yield from check_pipelines(package.pipelines, package.agents)
    from agentspec.ir.check_workflow import check_workflows  # here: it imports Problem

    yield from check_workflows(
        package.workflows,
        package.state_machines,
        package.behavior_trees,
        package.agents,
        package.skills,
    )


def _check_bindings(package: Package) -> Iterator[Problem]:
    """Bindings route to existing agents, one at most is the default, the others match."""
    default = ""
    for name, binding in package.bindings.items():
        base: tuple[str | int, ...] = ("bindings", name)
        if binding.agent not in package.agents:
            yield Problem(
                (*base, "agent"),
                f'agent "{binding.agent}" not found',
                suggest(binding.agent, package.agents),
            )
        if binding.default and default:
            yield Problem(
                (*base, "default"),
                "multiple bindings marked as default",
                f'only one binding may be the default; "{default}" already is',
            )
        elif binding.default:
            default = name
        if not binding.default and not binding.match:
            yield Problem(
                base,
                "a binding must match on at least one of " + ", ".join(BINDING_MATCH_FIELDS),
                "or set default: true to route every message nothing else matches",
            )


def _check_prompt(name: str, prompt: Prompt) -> Iterator[Problem]:
    if not prompt.variables:
        return
    declared = {v.name for v in prompt.variables}
    for var in placeholders(prompt.content):
        if var not in declared:
            yield Problem(
                ("prompts", name, "content"),
                f'prompt "{name}" references undeclared variable {{{{{var}}}}}',
                suggest(var, declared, close_only=True)
                or f"declare it under variables; declared: {', '.join(sorted(declared))}",
            )


def _check_agent(package: Package, name: str, agent: Agent) -> Iterator[Problem]:
    base: tuple[str | int, ...] = ("agents", name)
    prompt = package.prompts.get(agent.prompt)
    if prompt is None:
        yield Problem(
            (*base, "prompt"),
            f'prompt "{agent.prompt}" not found',
            suggest(agent.prompt, package.prompts),
        )
    for index, skill in enumerate(agent.skills):
        if skill not in package.skills:
            yield Problem(
                (*base, "skills", index),
                f'skill "{skill}" not found',
                suggest(skill, package.skills),
            )
    if agent.fallback and agent.fallback not in package.agents:
        yield Problem(
            (*base, "fallback"),
            f'fallback agent "{agent.fallback}" not found',
            suggest(agent.fallback, [a for a in package.agents if a != name]),
        )
    for index, delegate in enumerate(agent.delegates):
        if delegate.agent not in package.agents:
            yield Problem(
                (*base, "delegates", index, "agent"),
                f'delegate agent "{delegate.agent}" not found',
                suggest(delegate.agent, [a for a in package.agents if a != name]),
            )
    key = agent.model.api_key
    if isinstance(key, SecretRef) and key.source == "secret" and key.key not in package.secrets:
        yield Problem(
            (*base, "model", "api_key"),
            f'secret "{key.key}" not found',
            suggest(key.key, package.secrets),
        )
    if prompt is not None and prompt.variables:
        declared = {v.name for v in prompt.variables}
        for var in agent.variables:
            if var not in declared:
                yield Problem(
                    (*base, "variables", var),
                    f'agent "{name}" sets variable "{var}" that prompt "{prompt.name}" does not declare',
                    suggest(var, declared),
                )


def _check_strategies(package: Package) -> Iterator[Problem]:
    """Strategy options name existing agents; routers have routes; no delegation cycles."""
    agents = package.agents
    for name, agent in agents.items():
        base: tuple[str | int, ...] = ("agents", name, "strategy_options")
        options = agent.strategy_options
        for field, target in (("critic", options.critic), ("mapper", options.mapper)):
            if target is None:
                continue
            if target == name:
                yield Problem((*base, field), f'agent "{name}" cannot be its own {field}')
            elif target not in agents:
                others = [a for a in agents if a != name]
                yield Problem(
                    (*base, field), f'{field} agent "{target}" not found', suggest(target, others)
                )
        if agent.strategy == "router" and not agent.delegates:
            yield Problem(
                ("agents", name, "strategy"),
                f'agent "{name}" uses the router strategy but has no delegates to route to',
                'add delegates (delegate to agent "X" when "..."); they are the routes',
            )
    # Delegation (and critic/mapper child runs) must not loop: report each cycle once.
    edges: dict[str, list[tuple[str, tuple[str | int, ...]]]] = {}
    for name, agent in agents.items():
        out: list[tuple[str, tuple[str | int, ...]]] = [
            (d.agent, ("agents", name, "delegates", i, "agent"))
            for i, d in enumerate(agent.delegates)
        ]
        options = agent.strategy_options
        if agent.strategy == "reflexion" and options.critic not in (None, name):
            out.append((options.critic, ("agents", name, "strategy_options", "critic")))
        if agent.strategy == "map-reduce" and options.mapper not in (None, name):
            out.append((options.mapper, ("agents", name, "strategy_options", "mapper")))
        edges[name] = [(target, where) for target, where in out if target in agents]
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> Iterator[Problem]:
        for target, where in edges.get(node, ()):
            if target in path:
                cycle = [*path[path.index(target) :], target]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    yield Problem(
                        where,
                        "delegation cycle: " + " -> ".join(cycle),
                        "a delegation chain must end; remove one of these delegates",
                    )
            elif target not in done:
                yield from visit(target, [*path, target])
        done.add(node)

    for name in agents:
        if name not in done:
            yield from visit(name, [name])
