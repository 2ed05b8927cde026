"""Lower an IntentLang tree into agentspec's IR (:class:`agentspec.ir.Package`), and load files.

:func:`load_intentlang` reads one ``.ias`` file or every ``*.ias`` file of a directory (not
recursive), resolves local ``import`` statements (§4.15), parses, validates (§7, §8) and
lowers. Any problem raises :class:`~agentspec.exceptions.SpecError` carrying every
diagnostic at ``file:line:col``.

Decisions:

* **Pipelines** lower to :class:`agentspec.ir.pipeline.Pipeline` (steps in source order).
* **Constructs with no IR equivalent yet** — environments, policies, deploy
  targets, plugins, users, guardrails, state blocks, MCP clients, incompatible ``binding``
  blocks, ``models`` fallback chains, budgets, and the agent ``config``/``validate``/``eval``/
  ``on input`` blocks — are parsed and validated (environment overrides must name
  existing targets) and the file is
  accepted, but they are not silently dropped: each one is listed, one diagnostic per
  construct at its keyword, in :attr:`LoadedIntentLang.unsupported`, for the CLI to print as
  notes. :class:`~agentspec.exceptions.Diagnostic` has no severity, so these are never raised.
* **Errors** (raised): parse and validation errors, ``lang "1.0"``, models whose provider
  cannot be inferred, ``store(...)`` secrets (no IR source yet: the secret would be
  missing at run time), registry imports, and IR-level problems from
  :func:`agentspec.ir.check_package`, mapped back to the AST positions.
* Absent attributes take the IR defaults (``on_error`` ``fail``, ``stream`` true, ...), so a
  ``.ias`` package and a YAML package describing the same resources hash identically.
  ``max_turns``/``token_budget``/``max_retries`` of ``0`` mean "absent" (§4.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentspec.exceptions import Diagnostic, SpecError
from agentspec.ir import check_package
from agentspec.ir import models as ir
from agentspec.ir.pipeline import Pipeline
from agentspec.ir.schema import object_schema
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import validate

IRPath = tuple[str | int, ...]
_IGNORED = {
    ast.Environment: "environments",
    ast.Policy: "policies",
    ast.Deploy: "deploy targets",
    ast.Plugin: "plugins",
    ast.User: "users",
    ast.Guardrail: "guardrails",
    ast.State: "state blocks",
    ast.Client: 'MCP clients (skills name their server directly: tool mcp "server/tool")',
}


@dataclass
class LoadedIntentLang:
    """A loaded IntentLang package: the IR, where it lives, its files, and ignored constructs."""

    package: ir.Package
    root: Path
    files: list[Path]
    unsupported: list[Diagnostic] = field(default_factory=list)


def load_intentlang(path: str | Path) -> LoadedIntentLang:
    """Load a ``.ias`` file or a directory of ``*.ias`` files into the IR.

    Raises:
        SpecError: with every problem found, each at ``file:line:col``.
    """
    target = Path(path)
    if target.is_dir():
        roots = sorted(target.glob("*.ias"))
        root = target
        if not roots:
            raise SpecError([Diagnostic(str(target), 0, 0, "no .ias files in this directory")])
    elif target.is_file():
        roots, root = [target], target.parent
    else:
        raise SpecError([Diagnostic(str(target), 0, 0, "no such file or directory")])
    merged, files, errors = _read(roots)
    if errors:
        raise SpecError(errors)
    errors = validate(merged)
    if errors:
        raise SpecError(errors)
    lowering = Lowering(merged)
    package = lowering.run()
    if lowering.errors:
        raise SpecError(lowering.errors)
    return LoadedIntentLang(package, root, files, lowering.unsupported)


def _read(roots: list[Path]) -> tuple[ast.File, list[Path], list[Diagnostic]]:
    """Parse the roots and everything they import; merge the statements into one tree."""
    errors: list[Diagnostic] = []
    merged: ast.File | None = None
    seen: set[Path] = set()
    files: list[Path] = []
    queue: list[tuple[Path, ast.Import | None]] = [(p, None) for p in roots]
    while queue:
        path, via = queue.pop(0)
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        files.append(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            where = via.pos if via else ast.Pos(str(path), 0, 0)
            errors.append(
                Diagnostic(where.file, where.line, where.column, f"cannot read {path}: {exc}")
            )
            continue
        tree, problems = parse(text, str(path))
        errors.extend(problems)
        if merged is None:
            merged = ast.File(str(path), tree.header)
        elif (
            via is None and tree.header and merged.header and tree.header.name != merged.header.name
        ):
            errors.append(
                _diag(
                    tree.header.pos,
                    f'package "{tree.header.name}" differs from "{merged.header.name}" '
                    f"declared in {merged.path}",
                    "every .ias file of a directory belongs to one package",
                )
            )
        for statement in tree.statements:
            if isinstance(statement, ast.Import):
                found = _resolve(statement, path, errors)
                if found is not None:
                    queue.append((found, statement))
            else:
                merged.statements.append(statement)
    assert merged is not None
    return merged, files, errors


def _resolve(node: ast.Import, importer: Path, errors: list[Diagnostic]) -> Path | None:
    spec = node.name
    if not spec:
        return None
    if not (spec.startswith(("./", "../")) or spec.endswith(".ias")):
        errors.append(
            _diag(
                node.name_pos,
                f'package import "{spec}" is not supported yet',
                'import local files with a relative path, e.g. import "./common.ias"',
            )
        )
        return None
    base = importer.parent / spec
    for candidate in (base, base.with_name(base.name + ".ias"), base / "index.ias"):
        if candidate.is_file():
            return candidate
    errors.append(_diag(node.name_pos, f'import "{spec}" not found', f"looked for {base}"))
    return None


def _diag(where: ast.Pos, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(where.file, where.line, where.column, message, hint)


class Lowering:
    """AST -> IR. ``positions`` maps IR paths to source positions for error mapping."""

    def __init__(self, tree: ast.File) -> None:
        self.tree = tree
        self.errors: list[Diagnostic] = []
        self.unsupported: list[Diagnostic] = []
        self.positions: dict[IRPath, ast.Pos] = {}
        self.types: dict[str, ir.TypeDef] = {}

    def error(self, path: IRPath, message: str, hint: str = "") -> None:
        self.errors.append(_diag(self._where(path), message, hint))

    def ignore(self, where: ast.Pos, message: str, hint: str = "") -> None:
        self.unsupported.append(_diag(where, message, hint))

    def _where(self, path: IRPath) -> ast.Pos:
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        header = self.tree.header
        return header.pos if header else ast.Pos(self.tree.path, 1, 1)

    def build(self, model: type[BaseModel], data: dict[str, Any], path: IRPath) -> Any:
        """Validate ``data`` as ``model``; report each pydantic error at its mapped position."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for item in exc.errors():
                loc = tuple(item["loc"])
                label = ".".join(str(part) for part in loc) or path[-1]
                self.error((*path, *loc), f"{label}: {item['msg']}")
            return None

    # ------------------------------------------------------------------ package
    def run(self) -> ir.Package:
        header = self.tree.header
        assert header is not None
        statements = self.tree.statements
        self.types = self.collect(ast.TypeDef, "types", self.typedef)
        prompts = self.collect(ast.Prompt, "prompts", self.prompt)
        secrets = self.collect(ast.Secret, "secrets", self.secret)
        servers = self.collect(ast.Server, "mcp_servers", self.server)
        skills = self.collect(ast.Skill, "skills", self.skill)
        agents = self.collect(ast.Agent, "agents", self.agent)
        bindings = self.collect(ast.Binding, "bindings", self.binding)
        pipelines = self.collect(ast.Pipeline, "pipelines", self.pipeline)
        for statement in statements:
            label = _IGNORED.get(type(statement))
            if label:
                kind = type(statement).__name__.lower()
                note = "it is validated but not run" if kind in ("pipeline", "environment") else ""
                self.ignore(
                    statement.pos,
                    f'{kind} "{statement.name}" ignored: {label} are not supported by this '
                    "version's IR yet",
                    note,
                )
        data: dict[str, Any] = {
            "name": header.name,
            "version": header.version or "0.0.0",
            "lang_version": header.lang,
            "agents": agents,
            "prompts": prompts,
            "skills": skills,
            "mcp_servers": servers,
            "secrets": secrets,
            "types": self.types,
            "bindings": bindings,
            "pipelines": pipelines,
        }
        self.positions[()] = header.pos
        package = self.build(ir.Package, data, ())
        if package is None:
            return ir.Package(name="_")
        if not self.errors:
            for problem in check_package(package):
                self.error(problem.path, problem.message, problem.hint)
        assert isinstance(package, ir.Package)
        return package

    def collect(self, kind: type, section: str, lower: Any) -> dict[str, Any]:
        built: dict[str, Any] = {}
        for statement in self.tree.statements:
            if isinstance(statement, kind):
                path: IRPath = (section, statement.name)
                self.positions[path] = statement.pos
                resource = lower(statement, path)
                if resource is not None:
                    built[statement.name] = resource
        return built

    # ------------------------------------------------------------------ resources
    def typedef(self, node: ast.TypeDef, path: IRPath) -> ir.TypeDef | None:
        fields = []
        for index, item in enumerate(node.fields):
            self.positions[(*path, "fields", index)] = item.pos
            fields.append(
                {
                    "name": item.name,
                    "type": item.type,
                    "required": item.required,
                    "default": item.default,
                }
            )
        data = {"name": node.name, "fields": fields, "enum": node.enum, "list_of": node.list_of}
        result: ir.TypeDef | None = self.build(ir.TypeDef, data, path)
        return result

    def prompt(self, node: ast.Prompt, path: IRPath) -> ir.Prompt | None:
        variables = []
        for index, var in enumerate(node.variables):
            self.positions[(*path, "variables", index)] = var.pos
            variables.append(
                {
                    "name": var.name,
                    "type": var.type,
                    "required": var.required,
                    "default": var.default,
                }
            )
        data = {
            "name": node.name,
            "content": node.content or "",
            "version": node.version,
            "variables": variables,
            "metadata": node.metadata,
        }
        result: ir.Prompt | None = self.build(ir.Prompt, data, path)
        return result

    def secret(self, node: ast.Secret, path: IRPath) -> ir.Secret | None:
        if node.source == "store":
            self.error(
                path,
                f'secret "{node.name}": store secrets are not supported yet',
                f"use env({node.key or 'NAME'}) and export the value in the environment",
            )
            return None
        result: ir.Secret | None = self.build(
            ir.Secret, {"name": node.name, "source": "env", "key": node.key}, path
        )
        return result

    def server(self, node: ast.Server, path: IRPath) -> ir.MCPServer | None:
        for skill in node.exposes:
            self.ignore(skill.pos, f'server "{node.name}": exposes is not supported yet; ignored')
        if node.metadata:
            self.ignore(node.pos, f'server "{node.name}": metadata is not kept by the IR')
        data = {
            "name": node.name,
            "transport": node.transport,
            "command": node.command,
            "args": node.args,
            "url": node.url,
            "env": node.env,
            "auth": node.auth.name if node.auth else "",
        }
        if node.auth:
            self.positions[(*path, "auth")] = node.auth.pos
        result: ir.MCPServer | None = self.build(ir.MCPServer, data, path)
        return result

    def skill(self, node: ast.Skill, path: IRPath) -> ir.Skill | None:
        data: dict[str, Any] = {
            "name": node.name,
            "description": node.description or "",
            "metadata": node.metadata,
        }
        for kind in ("input", "output"):
            items = getattr(node, kind) or []
            for index, item in enumerate(items):
                self.positions[(*path, kind, index)] = item.pos
            data[kind] = [{"name": f.name, "type": f.type, "required": f.required} for f in items]
        tool = self.tool(node, path)
        if tool is None:
            return None
        skill: ir.Skill | None = self.build(ir.Skill, {**data, "tool": tool}, path)
        if skill is None:
            return None
        return skill.model_copy(update={"input_schema": object_schema(skill.input, self.types)})

    def tool(self, node: ast.Skill, path: IRPath) -> dict[str, Any] | None:
        tool_path = (*path, "tool")
        if node.tool is None:
            execution = node.execution
            if execution is None:
                return None
            self.positions[tool_path] = execution.pos
            if execution.kind == "http":
                return {"type": "http", "url": execution.value}
            return {"type": "command", "binary": execution.value}
        tool = node.tool
        self.positions[tool_path] = tool.pos
        attrs = dict(tool.attrs)
        if tool.kind == "inline" and "memory" in attrs:
            attrs["memory_limit"] = attrs.pop("memory")
        data: dict[str, Any] = {"type": tool.kind, **attrs, **tool.maps}
        if tool.kind == "command" and tool.args:
            data["args"] = tool.args
        if tool.kind == "http" and "method" in data:
            data["method"] = data["method"].upper()
        return data

    def agent(self, node: ast.Agent, path: IRPath) -> ir.Agent | None:
        if node.model is not None:
            model_text, where = node.model, node.model_pos or node.pos
        else:
            models = node.models or []
            model_text, where = (models[0] if models else ""), node.pos
            if len(models) > 1:
                self.ignore(
                    node.pos,
                    f'agent "{node.name}": models fallback chains are not supported yet; '
                    f'only "{model_text}" is used',
                )
        self.positions[(*path, "model")] = where
        model = self.model(model_text, (*path, "model"))
        for label, item_pos in node.ext_pos:
            if label != "models":
                self.ignore(
                    item_pos,
                    f'agent "{node.name}": {label} is not supported by this version\'s IR yet; ignored',
                )
        if node.client is not None:
            self.ignore(
                node.client.pos,
                f'agent "{node.name}": connects to client is ignored; an agent reaches MCP '
                "servers through its skills",
            )
        data: dict[str, Any] = {
            "name": node.name,
            "prompt": node.prompt.name if node.prompt else "",
            "skills": [ref.name for ref in node.skills],
            "delegates": [
                {"agent": d.agent.name, "condition": d.condition} for d in node.delegates
            ],
            "metadata": node.metadata,
        }
        if node.prompt:
            self.positions[(*path, "prompt")] = node.prompt.pos
        for index, ref in enumerate(node.skills):
            self.positions[(*path, "skills", index)] = ref.pos
        for index, delegate in enumerate(node.delegates):
            self.positions[(*path, "delegates", index)] = delegate.agent.pos
        if node.fallback:
            self.positions[(*path, "fallback")] = node.fallback.pos
            data["fallback"] = node.fallback.name
        if node.strategy_pos:
            self.positions[(*path, "strategy")] = node.strategy_pos
        optional = {
            "strategy": node.strategy,
            "timeout": node.timeout,
            "temperature": node.temperature,
            "stream": node.stream,
            "on_error": node.on_error,
            "max_turns": node.max_turns or None,
            "token_budget": node.token_budget or None,
            "max_retries": node.max_retries or None,
            "memory": node.memory,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        if model is None:
            return None
        result: ir.Agent | None = self.build(ir.Agent, {**data, "model": model}, path)
        return result

    def model(self, text: str, path: IRPath) -> ir.ModelConfig | None:
        parsed = ir.split_model_string(text)
        providers = ", ".join(ir.MODEL_PROVIDERS)
        if parsed is None:
            self.error(
                path,
                f'cannot tell the provider of model "{text}"',
                f'write "provider/name" with provider one of {providers}',
            )
            return None
        if parsed[0] not in ir.MODEL_PROVIDERS:
            self.error(path, f'unknown model provider "{parsed[0]}"', f"providers: {providers}")
            return None
        result: ir.ModelConfig | None = self.build(
            ir.ModelConfig, {"provider": parsed[0], "name": parsed[1]}, path
        )
        return result

    def binding(self, node: ast.Binding, path: IRPath) -> ir.Binding | None:
        allowed = {"agent", *ir.BINDING_MATCH_FIELDS}
        extra = sorted(set(node.config) - allowed)
        if "agent" not in node.config or extra:
            reason = f"unknown keys {', '.join(extra)}" if extra else "no agent key"
            self.ignore(
                node.pos,
                f'binding "{node.name}" ignored: it cannot be mapped to an agentspec binding '
                f"({reason})",
                "a binding needs 'agent \"name\"' and only channel, account, peer, guild, team "
                "keys; 'agentspec migrate --to-v2' turns legacy bindings into deploy targets",
            )
            return None
        for key, where in node.config_pos.items():
            self.positions[(*path, key)] = where
        if node.adapter:
            self.ignore(node.pos, f'binding "{node.name}": adapter "{node.adapter}" is ignored')
        data = {"name": node.name, "default": node.default, **node.config}
        result: ir.Binding | None = self.build(ir.Binding, data, path)
        return result

    def pipeline(self, node: ast.Pipeline, path: IRPath) -> Pipeline | None:
        steps: list[dict[str, Any]] = []
        for index, step in enumerate(node.steps):
            where = (*path, "steps", index)
            self.positions[where] = step.pos
            data: dict[str, Any] = {
                "name": step.name,
                "agent": step.agent.name if step.agent else "",
                "input": step.input,
                "output": step.output,
                "depends_on": step.depends_on,
                "parallel": step.parallel,
                "when": step.when,
            }
            if step.agent:
                self.positions[(*where, "agent")] = step.agent.pos
            steps.append(data)
        result: Pipeline | None = self.build(Pipeline, {"name": node.name, "steps": steps}, path)
        return result
