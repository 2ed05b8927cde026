"""IR -> IntentLang source (``agentspec export --format ias``).

:func:`package_to_ias` builds an IntentLang tree from a :class:`~agentspec.ir.models.Package`
and prints it with the canonical formatter. Only values that differ from the IR defaults are
written, so lowering the text gives back the same package, except for what IntentLang has no
syntax for, which :func:`emit_package` returns as ``lost`` (dotted IR paths):

* package ``description``; agent ``description`` and ``variables``; prompt variable, field
  and type descriptions; skill ``approval``; command tool ``cwd``; inline tool ``cpu_time``;
* model settings other than provider and name (``temperature``, ``max_tokens``,
  ``base_url``, ``api_key``, ``timeout``, ``max_retries``, a scripted model's ``script``);
* ``python`` tools (the skill and the agents' references to it are left out);
* ``file(...)`` secrets; an agent ``max_retries`` of 0 (IntentLang reads 0 as "absent");
* a skill with no input or no output fields (IntentLang requires both: reported in
  ``errors``);
* any resource kind or field added to the IR that this module does not know (every one is
  found by comparing the round trip, so nothing is dropped silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agentspec.ir import models as ir
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.format import format_tree
from agentspec.lang.intentlang.lower import Lowering
from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import validate

_AGENT_DEFAULTS = {name: f.default for name, f in ir.Agent.model_fields.items()}
_STRATEGY_SPELLING = {"plan-execute": "plan-and-execute"}


@dataclass
class Emitted:
    """The IntentLang text of a package, and what it could not express.

    Attributes:
        text: the ``.ias`` source.
        lost: dotted IR paths whose value the text does not reproduce (empty: the text
            lowers to the same IR hash).
        errors: problems loading the text back (normally none).
    """

    text: str
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def emit_package(package: ir.Package, file: str = "export.ias") -> Emitted:
    """Emit ``package`` as IntentLang and check the round trip."""
    from agentspec.lang.export_yaml import ir_differences

    text = package_to_ias(package)
    tree, errors = parse(text, file)
    if errors:  # pragma: no cover - the formatter's output always parses
        return Emitted(text, ["(the whole package)"], [str(e) for e in errors])
    problems = [str(e) for e in validate(tree)]
    lowering = Lowering(tree)
    again = lowering.run()
    problems += [str(e) for e in lowering.errors]
    return Emitted(text, ir_differences(package, again), problems)


def package_to_ias(package: ir.Package) -> str:
    """The IntentLang source for ``package`` (see the module docstring for the limits)."""
    here = ast.Pos("<export>", 0, 0)
    header = ast.Header(here, package.name, package.version, package.lang_version or "2.0")
    tree = ast.File("<export>", header)
    python_skills = {
        name for name, skill in package.skills.items() if isinstance(skill.tool, ir.PythonTool)
    }
    out = tree.statements
    for typedef in package.types.values():
        out.append(
            ast.TypeDef(
                here,
                typedef.name,
                here,
                fields=[_field(f.name, f.type, f.required, f.default) for f in typedef.fields],
                enum=list(typedef.enum),
                list_of=typedef.list_of,
            )
        )
    for secret in package.secrets.values():
        if secret.source == "env":
            out.append(ast.Secret(here, secret.name, here, source="env", key=secret.key))
    for prompt in package.prompts.values():
        out.append(
            ast.Prompt(
                here,
                prompt.name,
                here,
                content=prompt.content,
                version=prompt.version,
                variables=[_field(v.name, v.type, v.required, v.default) for v in prompt.variables],
                has_variables=bool(prompt.variables),
                metadata=dict(prompt.metadata),
            )
        )
    for server in package.mcp_servers.values():
        out.append(
            ast.Server(
                here,
                server.name,
                here,
                transport=server.transport,
                command=server.command,
                args=list(server.args),
                url=server.url,
                auth=ast.Ref(server.auth, here) if server.auth else None,
                env=dict(server.env),
            )
        )
    for skill in package.skills.values():
        if skill.name in python_skills:
            continue
        out.append(
            ast.Skill(
                here,
                skill.name,
                here,
                description=skill.description,
                input=[_field(f.name, f.type, f.required) for f in skill.input],
                output=[_field(f.name, f.type, f.required) for f in skill.output],
                tool=_tool(skill.tool),
                metadata=dict(skill.metadata),
            )
        )
    for agent in package.agents.values():
        out.append(_agent(agent, python_skills))
    for binding in package.bindings.values():
        config = {"agent": binding.agent}
        config.update(
            {key: value for key in ir.BINDING_MATCH_FIELDS if (value := getattr(binding, key))}
        )
        out.append(
            ast.Binding(
                here,
                binding.name,
                here,
                adapter="agentspec",
                default=binding.default,
                config=config,
            )
        )
    for pipeline in getattr(package, "pipelines", {}).values():
        out.append(_pipeline(pipeline))
    return format_tree(tree)


def _field(name: str, type_: str, required: bool, default: str | None = None) -> ast.Field:
    return ast.Field(name, type_, ast.Pos("<export>", 0, 0), required, default)


def duration(seconds: float) -> str:
    """A duration string the IR parses back to ``seconds`` (``"30s"``, ``"0.5s"``)."""
    text = format(Decimal(repr(seconds)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"


def _tool(tool: Any) -> ast.Tool:
    here = ast.Pos("<export>", 0, 0)
    node = ast.Tool(tool.type, here)
    if isinstance(tool, ir.McpTool):
        node.attrs["server_tool"] = tool.server_tool
        return node
    if isinstance(tool, ir.CommandTool):
        node.attrs["binary"] = tool.binary
        node.args = list(tool.args)
        for key in ("env", "secrets"):
            if getattr(tool, key):
                node.maps[key] = dict(getattr(tool, key))
    elif isinstance(tool, ir.HttpTool):
        node.attrs["method"] = tool.method
        node.attrs["url"] = tool.url
        if tool.body_template is not None:
            node.attrs["body_template"] = tool.body_template
        if tool.headers:
            node.maps["headers"] = dict(tool.headers)
    elif isinstance(tool, ir.InlineTool):
        node.attrs["language"] = tool.language
        node.attrs["code"] = tool.code
        if tool.memory_limit is not None:
            node.attrs["memory"] = tool.memory_limit
    timeout = getattr(tool, "timeout", None)
    if timeout is not None:
        node.attrs["timeout"] = duration(timeout)
    return node


def _agent(agent: ir.Agent, python_skills: set[str]) -> ast.Agent:
    here = ast.Pos("<export>", 0, 0)
    model = agent.model
    node = ast.Agent(
        here,
        agent.name,
        here,
        prompt=ast.Ref(agent.prompt, here),
        skills=[ast.Ref(name, here) for name in agent.skills if name not in python_skills],
        model=f"{model.provider}:{model.name}" if model.name else model.provider,
        delegates=[ast.Delegate(ast.Ref(d.agent, here), d.condition) for d in agent.delegates],
        metadata=dict(agent.metadata),
    )

    def changed(name: str) -> bool:
        return bool(getattr(agent, name) != _AGENT_DEFAULTS.get(name))

    if changed("strategy"):
        node.strategy = _STRATEGY_SPELLING.get(agent.strategy, agent.strategy)
    for name in ("max_turns", "token_budget", "max_retries"):
        if changed(name) and getattr(agent, name):
            setattr(node, name, getattr(agent, name))
    if agent.timeout is not None:
        node.timeout = duration(agent.timeout)
    if agent.temperature is not None:
        node.temperature = agent.temperature
    if not agent.stream:
        node.stream = False
    if changed("on_error"):
        node.on_error = agent.on_error
    if agent.fallback:
        node.fallback = ast.Ref(agent.fallback, here)
    if agent.memory != ir.Memory():
        node.memory = {"strategy": agent.memory.strategy, "max_messages": agent.memory.max_messages}
    return node


def _pipeline(pipeline: Any) -> ast.Pipeline:
    here = ast.Pos("<export>", 0, 0)
    node = ast.Pipeline(here, pipeline.name, here)
    for step in pipeline.steps:
        node.steps.append(
            ast.Step(
                step.name,
                here,
                agent=ast.Ref(step.agent, here) if step.agent else None,
                input=step.input,
                output=step.output,
                depends_on=list(step.depends_on),
                parallel=step.parallel,
                when=step.when,
            )
        )
    return node
