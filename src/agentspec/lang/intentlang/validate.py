"""Structural (§7) and semantic (§8) validation of a parsed IntentLang file.

Beyond the original validator this also reports duplicate names per kind, pipeline
dependency cycles (with the cycle path) and environment overrides whose target does not
exist. Every diagnostic is located at ``file:line:col``; unknown references get a
"did you mean" hint from :func:`agentspec.ir.suggest.suggest`.
"""

from __future__ import annotations

from agentspec.exceptions import Diagnostic
from agentspec.ir.suggest import suggest
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang._checks import KINDS, ExtChecks

STRATEGIES = ("react", "plan-and-execute", "reflexion", "router", "map-reduce")
ON_ERROR = ("retry", "fail", "fallback")
TRANSPORTS_WITH_URL = ("sse", "streamable-http")
DEPLOY_TARGETS = ("process", "docker", "docker-compose", "kubernetes")
OVERRIDE_KINDS = {
    "agent": "Agent",
    "prompt": "Prompt",
    "skill": "Skill",
    "server": "MCPServer",
    "client": "MCPClient",
    "secret": "Secret",
}


class Validator(ExtChecks):
    """Collects the diagnostics of one (import-merged) file."""

    def run(self) -> list[Diagnostic]:
        if not self.header():
            return self.diagnostics
        seen: dict[tuple[str, str], ast.Pos] = {}
        for statement in self.tree.statements:
            kind = KINDS.get(type(statement))
            if kind and statement.name:
                first = seen.setdefault((kind, statement.name), statement.name_pos)
                if first is not statement.name_pos:
                    self.report(
                        statement.name_pos,
                        f'duplicate {kind} name "{statement.name}"',
                        f"first declared at {first.file}:{first.line}:{first.column}; "
                        "each resource must have a unique name within its kind",
                    )
            check = getattr(self, f"check_{type(statement).__name__.lower()}", None)
            if check is not None:
                check(statement)
        self.defaults()
        return self.diagnostics

    # ------------------------------------------------------------------ header
    def header(self) -> bool:
        header = self.tree.header
        if header is None:
            self.report(
                ast.Pos(self.tree.path, 1, 1),
                "missing package declaration",
                'add \'package "name" version "x.y.z" lang "2.0"\' at the start',
            )
            return False
        if not header.name:
            self.report(header.pos, "package name is required")
        if not header.version:
            self.report(header.pos, "package version is required", 'add version "x.y.z"')
        if not header.lang:
            self.report(header.pos, "lang version is required", 'add lang "2.0"')
        elif header.lang == "1.0":
            self.report(
                header.lang_pos or header.pos,
                "IntentLang 1.0 is no longer supported",
                "run 'agentspec migrate --to-v2' to upgrade to IntentLang 2.0",
            )
        return True

    # ------------------------------------------------------------------ resources
    def check_prompt(self, node: ast.Prompt) -> None:
        if not self.required(node, "prompt"):
            return
        if not node.content:
            self.report(node.pos, f'prompt "{node.name}" requires content', "add 'content \"...\"'")
        if node.has_variables and node.variables and node.content:
            declared = [v.name for v in node.variables]
            for var in _placeholders(node.content):
                if var not in declared:
                    close = suggest(var, declared, close_only=True)
                    self.report(
                        node.pos,
                        f'prompt "{node.name}" references undeclared variable {{{{{var}}}}}',
                        close or "add variable declaration in the variables block",
                    )

    def check_skill(self, node: ast.Skill) -> None:
        if not self.required(node, "skill"):
            return
        name = node.name
        if not node.description:
            self.report(
                node.pos, f'skill "{name}" requires a description', "add 'description \"...\"'"
            )
        if not node.input:
            self.report(
                node.pos, f'skill "{name}" requires an input schema', "add 'input { name type }'"
            )
        if not node.output:
            self.report(
                node.pos, f'skill "{name}" requires an output schema', "add 'output { name type }'"
            )
        if node.tool is None and node.execution is None:
            self.report(
                node.pos,
                f'skill "{name}" requires an execution or tool block',
                "add 'tool mcp \"server/tool\"' or 'tool command { binary \"...\" }'",
            )
        if node.tool is not None and node.execution is not None:
            self.report(
                node.pos,
                f'skill "{name}" has both execution and tool blocks',
                "use only one: 'tool' (2.0) or 'execution' (1.0)",
            )
        tool = node.tool
        if tool is not None and tool.kind == "mcp" and "/" in tool.attrs.get("server_tool", ""):
            reference = tool.attrs["server_tool"]
            server = reference.split("/", 1)[0]
            if server not in self.names["MCPServer"]:
                self.report(
                    tool.pos,
                    f'MCP server "{server}" not found in tool reference "{reference}"',
                    suggest(server, self.names["MCPServer"]),
                )

    def check_agent(self, node: ast.Agent) -> None:
        if not self.required(node, "agent"):
            return
        name = node.name
        if node.prompt is None:
            self.report(
                node.pos,
                f'agent "{name}" requires a prompt reference',
                "add 'uses prompt \"name\"'",
            )
        if node.model is None and node.models is None:
            self.report(
                node.pos,
                f'agent "{name}" requires a model or models list',
                "add 'model \"provider/model-name\"'",
            )
        if node.model is not None and node.models is not None:
            self.report(
                node.pos,
                f"agent \"{name}\" has both 'model' and 'models' — use one or the other",
                "remove either 'model' or 'models'",
            )
        for period in ("daily", "monthly"):
            value = getattr(node, f"budget_{period}")
            if value is not None and value < 0:
                self.report(node.pos, f'agent "{name}" has negative {period} budget')
        if node.strategy is not None and node.strategy not in STRATEGIES:
            self.report(
                node.strategy_pos or node.pos,
                f'agent "{name}" has invalid strategy "{node.strategy}"',
                suggest(node.strategy, STRATEGIES, close_only=True)
                or "valid strategies: " + ", ".join(STRATEGIES),
            )
        if node.on_error is not None and node.on_error not in ON_ERROR:
            self.report(
                node.pos,
                f'agent "{name}" has invalid on_error "{node.on_error}"',
                "valid values: " + ", ".join(ON_ERROR),
            )
        if node.on_error == "fallback" and node.fallback is None:
            self.report(
                node.pos,
                f'agent "{name}" uses on_error "fallback" but no fallback agent specified',
                "add 'fallback \"agent-name\"'",
            )
        if node.temperature is not None and not 0 <= node.temperature <= 2:
            self.report(
                node.pos,
                f'agent "{name}" has temperature {node.temperature:.1f} out of range [0, 2]',
            )
        self.check_ext(node)
        self.ref(node.prompt, "Prompt", "prompt")
        for skill in node.skills:
            self.ref(skill, "Skill", "skill")
        self.ref(node.client, "MCPClient", "client")
        if node.fallback is not None:
            if node.fallback.name == name:
                self.report(node.fallback.pos, f'agent "{name}" cannot fallback to itself')
            else:
                self.ref(node.fallback, "Agent", "fallback agent", exclude=name)
        for delegate in node.delegates:
            self.ref(delegate.agent, "Agent", "delegate agent", exclude=name)
        self.check_flow(node.on_input or [])
        for guardrail in node.guardrails:
            self.ref(guardrail, "Guardrail", "guardrail")

    def check_server(self, node: ast.Server) -> None:
        if not self.required(node, "server"):
            return
        name = node.name
        if not node.transport:
            self.report(
                node.pos,
                f'server "{name}" requires a transport',
                "add 'transport \"stdio\"' or 'transport \"sse\"'",
            )
        elif node.transport == "stdio" and not node.command:
            self.report(
                node.pos,
                f'server "{name}" with stdio transport requires a command',
                "add 'command \"...\"'",
            )
        elif node.transport in TRANSPORTS_WITH_URL and not node.url:
            self.report(
                node.pos,
                f'server "{name}" with {node.transport} transport requires a url',
                "add 'url \"...\"'",
            )
        for skill in node.exposes:
            self.ref(skill, "Skill", "skill")
        self.ref(node.auth, "Secret", "secret")

    def check_client(self, node: ast.Client) -> None:
        if not self.required(node, "client"):
            return
        if not node.servers:
            self.report(
                node.pos,
                f'client "{node.name}" requires at least one server connection',
                "add 'connects to server \"name\"'",
            )
        for server in node.servers:
            self.ref(server, "MCPServer", "server")

    def check_secret(self, node: ast.Secret) -> None:
        if not self.required(node, "secret"):
            return
        if not node.source:
            self.report(
                node.pos,
                f'secret "{node.name}" requires a source (env or store)',
                "add 'env(KEY)' or 'store(path)'",
            )
        elif not node.key:
            self.report(node.pos, f'secret "{node.name}" requires a key')

    def check_binding(self, node: ast.Binding) -> None:
        if self.required(node, "binding") and not node.adapter:
            self.report(
                node.pos,
                f'binding "{node.name}" requires an adapter',
                "add 'adapter \"local-mcp\"'",
            )

    def check_deploy(self, node: ast.Deploy) -> None:
        if not self.required(node, "deploy target"):
            return
        if not node.target:
            self.report(
                node.pos,
                f'deploy "{node.name}" requires a target type',
                "add 'target \"process\"', 'target \"docker\"', or 'target \"kubernetes\"'",
            )
        elif node.target not in DEPLOY_TARGETS:
            self.report(
                node.pos,
                f'deploy "{node.name}" has invalid target type "{node.target}"',
                suggest(node.target, DEPLOY_TARGETS, close_only=True)
                or "valid targets: " + ", ".join(DEPLOY_TARGETS),
            )

    def check_typedef(self, node: ast.TypeDef) -> None:
        if not self.required(node, "type"):
            return
        if not (node.fields or node.enum or node.list_of):
            self.report(
                node.pos,
                f'type "{node.name}" must have fields, enum values, or list type',
                "add fields in a block, enum [...], or list <type>",
            )
        for item in node.fields:
            if not item.name:
                self.report(item.pos, "type field name is required")
            elif not item.type:
                self.report(item.pos, f'type field "{item.name}" requires a type')

    def check_pipeline(self, node: ast.Pipeline) -> None:
        if not self.required(node, "pipeline"):
            return
        if not node.steps:
            self.report(
                node.pos,
                f'pipeline "{node.name}" requires at least one step',
                'add \'step "name" { agent "..." }\'',
            )
        steps: dict[str, ast.Step] = {}
        for step in node.steps:
            if not step.name:
                self.report(step.pos, "step name is required")
                continue
            if step.name in steps:
                self.report(
                    step.pos, f'duplicate step name "{step.name}" in pipeline "{node.name}"'
                )
            steps.setdefault(step.name, step)
            if step.agent is None:
                self.report(
                    step.pos, f'step "{step.name}" requires an agent', "add 'agent \"agent-name\"'"
                )
            elif step.agent.name not in self.names["Agent"]:
                self.report(
                    step.agent.pos,
                    f'step "{step.name}" references unknown agent "{step.agent.name}"',
                    suggest(step.agent.name, self.names["Agent"]),
                )
        for step in steps.values():
            for dep in step.depends_on:
                if dep == step.name:
                    self.report(step.pos, f'step "{step.name}" cannot depend on itself')
                elif dep not in steps:
                    self.report(
                        step.pos,
                        f'step "{step.name}" depends_on unknown step "{dep}"',
                        suggest(dep, [s for s in steps if s != step.name]),
                    )
        cycle = find_cycle(
            {s.name: [d for d in s.depends_on if d in steps] for s in steps.values()}
        )
        if cycle:
            self.report(
                node.pos,
                f'pipeline "{node.name}" has a dependency cycle: ' + " -> ".join(cycle),
                "remove one of the depends_on entries on the cycle",
            )

    def check_environment(self, node: ast.Environment) -> None:
        seen: set[tuple[str, str, str]] = set()
        for override in node.overrides:
            target = f"{override.kind}/{override.target}"
            key = (override.kind, override.target, override.attribute)
            if key in seen:
                self.report(
                    override.pos,
                    f'conflicting override in environment "{node.name}": '
                    f"{target}.{override.attribute} set multiple times",
                    "each attribute may only be overridden once per environment",
                )
            seen.add(key)
            kind = OVERRIDE_KINDS.get(override.kind)
            if kind is None:
                self.report(
                    override.pos,
                    f'environment "{node.name}": override target "{target}" not found',
                    "the kind must be one of: " + ", ".join(OVERRIDE_KINDS),
                )
            elif override.target not in self.names[kind]:
                self.report(
                    override.pos,
                    f'environment "{node.name}": override target "{target}" not found',
                    suggest(override.target, self.names[kind])
                    or "check the resource kind and name",
                )

    def check_import(self, node: ast.Import) -> None:
        if not node.name:
            self.report(node.pos, "import path is required")

    def defaults(self) -> None:
        for kind, label in ((ast.Binding, "bindings"), (ast.Deploy, "deploy targets")):
            marked = [s for s in self.tree.statements if isinstance(s, kind) and s.default]
            for extra in marked[1:]:
                first = marked[0]
                self.report(
                    extra.pos,
                    f"multiple {label} marked as default",
                    f'only one may be the default; "{first.name}" already is',
                )


def _placeholders(content: str) -> list[str]:
    """§8 S11 scan: every ``{{...}}``, trimmed, duplicates kept."""
    found: list[str] = []
    i = 0
    while True:
        start = content.find("{{", i)
        if start < 0 or start >= len(content) - 3:
            return found
        end = content.find("}}", start + 2)
        if end < 0:
            return found
        found.append(content[start + 2 : end].strip())
        i = end + 2


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """A dependency cycle as a path ``[a, b, a]`` (first found, names in sorted order), or ``[]``.

    Iterative depth-first search, so long pipelines cannot exhaust the stack.
    """
    state: dict[str, int] = {}
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        pending = [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                pending.append(iter(sorted(graph.get(dep, ()))))
    return []


def validate(tree: ast.File) -> list[Diagnostic]:
    """Every structural and semantic problem of ``tree`` (imports already merged)."""
    return Validator(tree).run()
