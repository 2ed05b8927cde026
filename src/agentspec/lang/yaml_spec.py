"""The YAML front-end: map a project's YAML onto the IR and locate every problem.

:func:`load_yaml_project` reads a project (see ``docs/spec-yaml.md``), builds each resource
with the IR models, runs :func:`agentspec.ir.check_package`, and either returns the package or
raises one :class:`SpecError` listing every problem as ``file:line:col: path: message``.

Each resource is validated on its own, so one bad resource never hides the problems of
another; references to a resource that failed to build are not reported a second time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from agentspec.exceptions import SpecError
from agentspec.ir.check import check_package
from agentspec.ir.models import (
    NAME_PATTERN,
    Agent,
    Binding,
    CommandTool,
    Delegate,
    HttpTool,
    InlineTool,
    MCPServer,
    McpTool,
    Memory,
    ModelConfig,
    Package,
    Prompt,
    PythonTool,
    Secret,
    SecretRef,
    Skill,
    StrategyOptions,
    TypeDef,
    split_model_string,
)
from agentspec.ir.schema import object_schema as skill_schema
from agentspec.ir.suggest import suggest
from agentspec.lang.yaml_loader import Loc, Sources, YamlPath, describe, read_sources
from agentspec.lang.yaml_pipelines import build_pipeline
from agentspec.lang.yaml_report import NAME_HINT, IRPath, M, Reporter
from agentspec.lang.yaml_skills import ImportFailure, PythonImporter, fields_from_schema
from agentspec.lang.yaml_workflows import workflow_sections
from agentspec.tools.function import FunctionTool

PROVIDERS: tuple[str, ...] = get_args(ModelConfig.model_fields["provider"].annotation)
TOOL_FORMS: dict[str, type[BaseModel]] = {
    "python": PythonTool,
    "command": CommandTool,
    "http": HttpTool,
    "inline": InlineTool,
    "mcp": McpTool,
}
_SHORTHAND = {"python": "function", "mcp": "server_tool"}
_NAME = re.compile(NAME_PATTERN)


def _keys(model: type[BaseModel], *extra: str, drop: Collection[str] = ()) -> tuple[str, ...]:
    return tuple(k for k in (*model.model_fields, *extra) if k not in drop)


MODEL_KEYS = _keys(ModelConfig)
SECRET_KEYS = _keys(Secret)
TYPE_KEYS = _keys(TypeDef)
PROMPT_KEYS = _keys(Prompt)
VARIABLE_KEYS = ("name", "type", "required", "default", "description")
FIELD_KEYS = ("name", "type", "required", "description")
SKILL_KEYS = _keys(Skill, "python", "command", "http", "inline", "mcp", drop=("input_schema",))
SERVER_KEYS = _keys(MCPServer)
AGENT_KEYS = _keys(Agent, "instructions", "tools")
MEMORY_KEYS = _keys(Memory)
STRATEGY_OPTION_KEYS = _keys(StrategyOptions)
DELEGATE_KEYS = _keys(Delegate)
BINDING_KEYS = _keys(Binding)


@dataclass(slots=True)
class LoadedProject:
    """A YAML project turned into IR.

    Attributes:
        package: the validated package.
        root: the project directory (absolute); ``python:`` modules are resolved in it.
        files: the YAML files read, main file first.
        functions: skill name -> the loaded ``python:`` tool, ready to call.
        positions: YAML path (top-level section aliases normalised, e.g. ``tools`` ->
            ``skills``) -> ``(file, line, column)`` of the value written there.
    """

    package: Package
    root: Path
    files: list[Path]
    functions: dict[str, FunctionTool]
    positions: dict[tuple[str | int, ...], tuple[str, int, int]]


def load_yaml_project(path: str | Path) -> LoadedProject:
    """Load a YAML project: a directory with ``agentspec.yaml``, or a single YAML file.

    Raises:
        SpecError: listing every problem found, each at ``file:line:col``.
    """
    sources = read_sources(path)
    if not sources.files:
        raise SpecError(sources.diagnostics)
    builder = _Builder(sources)
    package = builder.build()
    if builder.diagnostics:
        raise SpecError(builder.diagnostics)
    return LoadedProject(package, sources.root, sources.files, builder.functions, builder.positions)


class _Builder(Reporter):
    def __init__(self, sources: Sources) -> None:
        super().__init__(sources)
        self.failed: set[tuple[str, str]] = set()
        self.stubbed: set[IRPath] = set()
        self.positions: dict[YamlPath, Loc] = dict(sources.values)
        self.functions: dict[str, FunctionTool] = {}
        self.importer = PythonImporter(sources.root)
        self.models: dict[str, ModelConfig] = {}
        self.prompts: dict[str, Prompt] = {}
        self.types: dict[str, TypeDef] = {}

    def build(self) -> Package:
        header = self.header()
        self.models = self.collect("models", self.model)
        secrets = self.collect("secrets", self.secret)
        self.types = self.collect("types", self.typedef)
        self.prompts = self.collect("prompts", self.prompt)
        servers = self.collect("mcp_servers", self.server)
        skills = self.collect("skills", self.skill)
        agents = self.collect("agents", self.agent)
        bindings = self.collect("bindings", self.binding)
        pipelines = self.collect(
            "pipelines", lambda v, p, n: build_pipeline(self, v, p, n, self.stubbed)
        )
        resources = {
            "agents": agents,
            "prompts": self.prompts,
            "skills": skills,
            "mcp_servers": servers,
            "secrets": secrets,
            "types": self.types,
            "bindings": bindings,
            "pipelines": pipelines,
            **workflow_sections(self),
        }
        package = None
        if "package" in self.s.header:
            package = self.validate(Package, {**header, **resources}, ())
        if package is None:
            package = Package.model_validate({**resources, "name": "_"})
        for problem in check_package(package):
            reference = _reference(package, problem.path)
            if problem.path in self.stubbed or (
                len(problem.path) == 2 and problem.path in self.failed
            ):
                continue
            if reference and (self.s.broken or reference in self.failed):
                continue
            self.report(problem.path, problem.message, problem.hint, key=len(problem.path) == 2)
        return package

    def collect(self, section: str, build: Callable[[Any, IRPath, str], M | None]) -> dict[str, M]:
        built: dict[str, M] = {}
        for name, value in self.s.sections[section].items():
            path: IRPath = (section, name)
            if not _NAME.fullmatch(name) or len(name) > 128:
                self.report(path, f'invalid name "{name}"', NAME_HINT, key=True)
                self.failed.add((section, name))
                continue
            before = len(self.diagnostics)
            resource = build(value, path, name)
            if resource is None or len(self.diagnostics) > before:
                self.failed.add((section, name))
            if resource is not None:
                built[name] = resource
        return built

    def header(self) -> dict[str, Any]:
        header = self.s.header
        data: dict[str, Any] = {}
        package = header.get("package")
        if isinstance(package, dict):
            data = self.fields(package, ("package",), ("name", "version", "description")) or {}
            self.trans.update({(k,): ("package", k) for k in data})
            if "name" not in data:
                self.report(("package",), 'missing required field "name"', key=True)
                data["name"] = "_"
        elif "package" in header:
            data["name"] = package
            self.trans[("name",)] = ("package",)
        elif self.s.main_ok:
            self.report((), 'missing required field "package" (the package name)')
        for key in ("version", "description"):
            if key in header and key in data:
                self.report((key,), f"{key} is already given under package", key=True)
            elif key in header:
                data[key] = header[key]
        return data

    def model(self, value: Any, path: IRPath, name: str) -> ModelConfig | None:
        if isinstance(value, str):
            return self.model_string(value, path, named=())
        return self.validate(ModelConfig, self.fields(value, path, MODEL_KEYS), path)

    def model_string(self, text: str, path: IRPath, named: Collection[str]) -> ModelConfig | None:
        parsed = split_model_string(text)
        if parsed is None:
            hint = suggest(text, named) if named else ""
            if not hint.startswith("did you mean"):
                hint = 'use "provider:name" with provider ' + ", ".join(PROVIDERS)
                hint += f"; named models: {', '.join(named)}" if named else ""
            self.report(path, f'unknown model "{text}": not a named model and no provider', hint)
            return None
        if parsed[0] not in PROVIDERS:
            self.report(
                path, f'unknown model provider "{parsed[0]}"', suggest(parsed[0], PROVIDERS)
            )
            return None
        return self.validate(ModelConfig, {"provider": parsed[0], "name": parsed[1]}, path)

    def secret(self, value: Any, path: IRPath, name: str) -> Secret | None:
        if isinstance(value, str):
            ref = self.validate(SecretRef, value, path)
            if ref is None:
                return None
            if ref.source == "secret":
                self.report(path, "a secret comes from env(NAME) or file(path), not another secret")
                return None
            self.trans[(*path, "source")] = self.trans[(*path, "key")] = path
            value = {"source": ref.source, "key": ref.key}
        data = self.fields(value, path, SECRET_KEYS, name=name)
        return None if data is None else self.validate(Secret, {**data, "name": name}, path)

    def typedef(self, value: Any, path: IRPath, name: str) -> TypeDef | None:
        data = self.fields(value, path, TYPE_KEYS, name=name)
        if data is None:
            return None
        if "fields" in data:
            data["fields"] = self.field_list(data["fields"], (*path, "fields"), VARIABLE_KEYS)
        return self.validate(TypeDef, {**data, "name": name}, path)

    def prompt(self, value: Any, path: IRPath, name: str) -> Prompt | None:
        if isinstance(value, str):
            self.trans[(*path, "content")] = path
            value = {"content": value}
        data = self.fields(value, path, PROMPT_KEYS, name=name)
        if data is None:
            return None
        if "variables" in data:
            data["variables"] = self.field_list(
                data["variables"], (*path, "variables"), VARIABLE_KEYS
            )
        return self.validate(Prompt, {**data, "name": name}, path)

    def server(self, value: Any, path: IRPath, name: str) -> MCPServer | None:
        data = self.fields(value, path, SERVER_KEYS, name=name)
        return None if data is None else self.validate(MCPServer, {**data, "name": name}, path)

    def skill(self, value: Any, path: IRPath, name: str) -> Skill | None:
        data = self.fields(value, path, SKILL_KEYS, name=name)
        if data is None:
            return None
        forms = [key for key in data if key in TOOL_FORMS or key == "tool"]
        if not forms:
            message = "missing the tool: set one of python, command, http, inline, mcp or tool"
            self.report(path, message, key=True)
        for extra in forms[1:]:
            message = f'a skill has one tool; "{forms[0]}" is already given'
            self.report((*path, extra), message, key=True)
        tool = self.tool(forms[0], data[forms[0]], path) if forms else None
        for form in forms:
            del data[form]
        for kind in ("input", "output"):
            if kind in data:
                data[kind] = self.field_list(data[kind], (*path, kind), FIELD_KEYS)
        function: FunctionTool | None = None
        if isinstance(tool, PythonTool):
            if "input" in data:
                message = "not allowed for a python skill: its input comes from the type hints"
                self.report((*path, "input"), message, key=True)
            function = self.python(tool, path, name, data.get("description", ""))
            if function is not None:
                data.setdefault("description", function.description)
                data["input"] = fields_from_schema(function.parameters)
        if tool is None or (isinstance(tool, PythonTool) and function is None):
            data.setdefault("description", "-")
        data.update(name=name, tool=tool or McpTool(server_tool="-"))
        skill = self.validate(Skill, data, path)
        if skill is None:
            return None
        if function is not None:
            self.functions[name] = function
            schema = function.parameters
        else:
            schema = skill_schema(skill.input, self.types)
        return skill.model_copy(update={"input_schema": schema})

    def tool(self, form: str, value: Any, skill: IRPath) -> BaseModel | None:
        path = (*skill, "tool")
        if form == "tool":
            kind = value.get("type") if isinstance(value, dict) else None
            model = TOOL_FORMS.get(kind) if isinstance(kind, str) else None
            if not isinstance(value, dict):
                self.report(path, f"must be a mapping with a type, got {describe(value)}")
            elif kind is None:
                self.report(path, 'missing required field "type"', key=True)
            elif model is None:
                self.report(
                    (*path, "type"), f'unknown tool type "{kind}"', suggest(str(kind), TOOL_FORMS)
                )
            data = self.fields(value, path, _keys(model)) if model else None
            return self.validate(model, data, path) if model and data is not None else None
        model = TOOL_FORMS[form]
        self.trans[path] = (*skill, form)
        if isinstance(value, str) and form in _SHORTHAND:
            self.trans[(*path, _SHORTHAND[form])] = (*skill, form)
            return self.validate(model, {_SHORTHAND[form]: value}, path)
        if value is None or not isinstance(value, dict):
            self.report(path, f"must be a mapping, got {describe(value)}")
            return None
        data = self.fields(value, path, _keys(model, drop=("type",)))
        return None if data is None else self.validate(model, data, path)

    def python(
        self, tool: PythonTool, skill: IRPath, name: str, description: Any
    ) -> FunctionTool | None:
        text = description if isinstance(description, str) else ""
        loaded = self.importer.load(tool, name, text)
        if isinstance(loaded, ImportFailure):
            self.report((*skill, "tool", "function"), loaded.message, loaded.hint)
            return None
        return loaded

    def agent(self, value: Any, path: IRPath, name: str) -> Agent | None:
        data = self.fields(value, path, AGENT_KEYS, name=name)
        if data is None:
            return None
        if "tools" in data and "skills" in data:
            self.report(
                (*path, "tools"), '"tools" and "skills" are the same field; use one', key=True
            )
            del data["tools"]
        elif "tools" in data:
            data["skills"] = data.pop("tools")
            self.trans[(*path, "skills")] = (*path, "tools")
        if not self.agent_prompt(data, path, name):
            data["prompt"] = "_"
            self.stubbed.add((*path, "prompt"))
        if "model" in data:
            data["model"] = self.agent_model(data["model"], (*path, "model")) or _STUB_MODEL
        if isinstance(data.get("memory"), dict):
            data["memory"] = self.fields(data["memory"], (*path, "memory"), MEMORY_KEYS)
        if isinstance(data.get("strategy_options"), dict):
            where = (*path, "strategy_options")
            options = data["strategy_options"]
            data["strategy_options"] = self.fields(options, where, STRATEGY_OPTION_KEYS)
        if isinstance(data.get("delegates"), list):
            delegates = enumerate(data["delegates"])
            data["delegates"] = [
                self.delegate(item, (*path, "delegates", i)) for i, item in delegates
            ]
        return self.validate(Agent, {**data, "name": name}, path)

    def agent_model(self, value: Any, path: IRPath) -> ModelConfig | None:
        named = self.s.sections["models"]
        if isinstance(value, str) and value in named:
            self.trans[path] = ("models", value)
            return self.models.get(value)
        if isinstance(value, str):
            return self.model_string(value, path, named)
        return self.validate(ModelConfig, self.fields(value, path, MODEL_KEYS), path)

    def agent_prompt(self, data: dict[str, Any], path: IRPath, name: str) -> bool:
        """Resolve ``prompt`` / ``instructions``; an ``instructions`` text becomes a prompt."""
        where = (*path, "instructions")
        if "instructions" not in data:
            if "prompt" in data:
                return True
            hint = "set prompt: <prompt name>, or instructions: <system prompt text>"
            self.report(path, 'missing required field "prompt"', hint, key=True)
            return False
        text = data.pop("instructions")
        if "prompt" in data:
            self.report(where, 'use either "prompt" or "instructions", not both', key=True)
            return False
        if name in self.s.sections["prompts"]:
            file, line, column = self.s.keys[("prompts", name)]
            hint = f"defined at {file}:{line}:{column}; use prompt: {name}, or rename one"
            self.report(where, f'a prompt named "{name}" already exists', hint, key=True)
            return False
        prompt_path = ("prompts", name)
        self.trans[prompt_path] = self.trans[(*prompt_path, "content")] = where
        prompt = self.validate(Prompt, {"name": name, "content": text}, prompt_path)
        if prompt is None:
            return False
        self.prompts[name] = prompt
        data["prompt"] = name
        if where in self.s.values:
            self.positions[prompt_path] = self.s.values[where]
            self.positions[(*prompt_path, "content")] = self.s.values[where]
        return True

    def binding(self, value: Any, path: IRPath, name: str) -> Binding | None:
        data = self.fields(value, path, BINDING_KEYS, name=name)
        return None if data is None else self.validate(Binding, {**data, "name": name}, path)

    def delegate(self, item: Any, path: IRPath) -> Any:
        if isinstance(item, str):
            self.trans[(*path, "agent")] = path
            return {"agent": item}
        return self.fields(item, path, DELEGATE_KEYS) if isinstance(item, dict) else item


_STUB_MODEL = ModelConfig(provider="scripted")


def _reference(package: Package, path: IRPath) -> tuple[str, str] | None:
    """``(section, name)`` of the resource a cross-reference problem at ``path`` points to."""
    match path:
        case ("agents", str(agent), "prompt"):
            return "prompts", package.agents[agent].prompt
        case ("agents", str(agent), "skills", int(index)):
            return "skills", package.agents[agent].skills[index]
        case ("agents", str(agent), "fallback"):
            return "agents", package.agents[agent].fallback or ""
        case ("agents", str(agent), "delegates", int(index), "agent"):
            return "agents", package.agents[agent].delegates[index].agent
        case ("agents", str(agent), "model", "api_key"):
            key = package.agents[agent].model.api_key
            return "secrets", key.key if key else ""
        case ("skills", str(skill), "input" | "output" as kind, int(index), "type"):
            return "types", getattr(package.skills[skill], kind)[index].type
        case ("skills", str(skill), "tool", "server_tool"):
            tool = package.skills[skill].tool
            server = tool.server_tool.split("/")[0] if isinstance(tool, McpTool) else ""
            return "mcp_servers", server
        case ("skills", str(skill), "tool", "secrets", str(env)):
            tool = package.skills[skill].tool
            return "secrets", tool.secrets[env] if isinstance(tool, CommandTool) else ""
        case ("mcp_servers", str(server), "auth"):
            return "secrets", package.mcp_servers[server].auth
        case ("pipelines", str(pipe), "steps", int(index), "agent"):
            return "agents", package.pipelines[pipe].steps[index].agent
        case ("bindings", str(binding), "agent"):
            return "agents", package.bindings[binding].agent
        case ("types", str(typedef), "fields", int(index), "type"):
            return "types", package.types[typedef].fields[index].type
    return None
