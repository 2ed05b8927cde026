"""Validation helpers and the [ext] checks (agent ``config``/``validate``/``eval``/``on input``,
``user``, ``guardrail``), split from :mod:`.validate` to keep modules small."""

from __future__ import annotations

from collections.abc import Sequence

from agentspec.exceptions import Diagnostic
from agentspec.ir.suggest import suggest
from agentspec.lang.intentlang import ast

KINDS: dict[type, str] = {
    ast.Prompt: "Prompt",
    ast.Skill: "Skill",
    ast.Agent: "Agent",
    ast.Binding: "Binding",
    ast.Secret: "Secret",
    ast.Environment: "Environment",
    ast.Policy: "Policy",
    ast.Server: "MCPServer",
    ast.Client: "MCPClient",
    ast.Deploy: "DeployTarget",
    ast.TypeDef: "Type",
    ast.Pipeline: "Pipeline",
    ast.User: "User",
    ast.Guardrail: "Guardrail",
}


class CheckBase:
    """Name tables, reporting and reference lookup."""

    def __init__(self, tree: ast.File) -> None:
        self.tree = tree
        self.diagnostics: list[Diagnostic] = []
        self.names: dict[str, list[str]] = {kind: [] for kind in KINDS.values()}
        for statement in tree.statements:
            kind = KINDS.get(type(statement))
            if kind:
                self.names[kind].append(statement.name)

    def report(self, where: ast.Pos, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(where.file, where.line, where.column, message, hint))

    # ------------------------------------------------------------------ helpers
    def ref(self, ref: ast.Ref | None, kind: str, label: str, exclude: str = "") -> None:
        if ref is None or ref.name in self.names[kind]:
            return
        candidates = [name for name in self.names[kind] if name != exclude]
        self.report(ref.pos, f'{label} "{ref.name}" not found', suggest(ref.name, candidates))

    def required(self, node: ast.Node, kind: str) -> bool:
        if not node.name:
            self.report(node.pos, f"{kind} name is required")
            return False
        return True


class ExtChecks(CheckBase):
    """A10, S6, S7, S13 and the user/guardrail rules of §7."""

    def check_ext(self, node: ast.Agent) -> None:
        """A10: [ext] config params, validation rules and eval cases."""
        for param in node.config or []:
            if not param.name:
                self.report(param.pos, "config param name is required")
                continue
            if param.type not in ("string", "int", "float", "bool"):
                self.report(
                    param.pos,
                    f'config param "{param.name}" has invalid type "{param.type}"',
                    "valid types: string, int, float, bool",
                )
            if param.secret and param.default is not None:
                self.report(
                    param.pos,
                    f'config param "{param.name}" is marked secret and cannot have a default value',
                    "remove the default value or remove the secret modifier",
                )
        for rule in node.rules or []:
            if not rule.name:
                self.report(rule.pos, "validation rule name is required")
                continue
            if rule.severity not in ("error", "warning"):
                self.report(
                    rule.pos,
                    f'validation rule "{rule.name}" has invalid severity "{rule.severity}"',
                    "valid severities: error, warning",
                )
            if rule.max_retries < 0:
                self.report(rule.pos, f'validation rule "{rule.name}" has negative max_retries')
            if not rule.when:
                self.report(
                    rule.pos,
                    f"validation rule \"{rule.name}\" requires a 'when' expression",
                    "add 'when <expression>'",
                )
        for case in node.evals or []:
            if not case.name:
                self.report(case.pos, "eval case name is required")
                continue
            if not case.input:
                self.report(
                    case.pos, f'eval case "{case.name}" requires an input', "add 'input \"...\"'"
                )
            if not case.expect:
                self.report(
                    case.pos,
                    f'eval case "{case.name}" requires an expected output',
                    "add 'expect \"...\"'",
                )
            if case.scoring and case.scoring not in ("exact", "contains", "semantic", "custom"):
                self.report(
                    case.pos,
                    f'eval case "{case.name}" has invalid scoring method "{case.scoring}"',
                    "valid methods: exact, contains, semantic, custom",
                )
            if not 0 <= case.threshold <= 1:
                self.report(
                    case.pos,
                    f'eval case "{case.name}" has threshold {case.threshold:g} out of range [0, 1]',
                )

    def check_flow(self, body: Sequence[ast.Flow]) -> None:
        for flow in body:
            if flow.kind == "use":
                if not flow.target:
                    self.report(flow.pos, "use skill requires a skill name")
                else:
                    self.ref(ast.Ref(flow.target, flow.pos), "Skill", "skill")
            elif flow.kind == "delegate":
                if not flow.target:
                    self.report(flow.pos, "delegate requires an agent name")
                else:
                    self.ref(ast.Ref(flow.target, flow.pos), "Agent", "delegate agent")
            elif flow.kind == "respond" and not flow.expr:
                self.report(flow.pos, "respond requires an expression")
            elif flow.kind == "if":
                if not flow.expr:
                    self.report(flow.pos, "if block requires a condition")
                for condition, where, _ in flow.branches:
                    if not condition:
                        self.report(where, "else if requires a condition")
            elif flow.kind == "for":
                if not flow.target:
                    self.report(flow.pos, "for each requires a variable name")
                if not flow.expr:
                    self.report(flow.pos, "for each requires a collection expression")
            self.check_flow(flow.body)
            for _, _, branch in flow.branches:
                self.check_flow(branch)
            self.check_flow(flow.orelse or [])

    def check_user(self, node: ast.User) -> None:
        if not self.required(node, "user"):
            return
        if not node.key:
            self.report(
                node.pos,
                f'user "{node.name}" requires a key reference',
                "add 'key secret(\"ENV_VAR\")'",
            )
        if node.role and node.role not in ("invoke", "admin"):
            self.report(
                node.pos,
                f'user "{node.name}" has invalid role "{node.role}"',
                "valid roles: invoke, admin",
            )
        for agent in node.agents:
            if agent.name not in self.names["Agent"]:
                self.report(
                    agent.pos,
                    f'user "{node.name}" references unknown agent "{agent.name}"',
                    suggest(agent.name, self.names["Agent"]),
                )

    def check_guardrail(self, node: ast.Guardrail) -> None:
        if not self.required(node, "guardrail"):
            return
        name = node.name
        if not node.mode:
            self.report(
                node.pos,
                f'guardrail "{name}" requires a mode',
                "add 'mode \"warn\"' or 'mode \"block\"'",
            )
        elif node.mode not in ("warn", "block"):
            self.report(
                node.pos,
                f'guardrail "{name}" has invalid mode "{node.mode}"',
                "valid modes: warn, block",
            )
        if not node.keywords and not node.patterns:
            self.report(
                node.pos,
                f'guardrail "{name}" requires at least one keyword or pattern',
                "add 'keywords [...]' or 'patterns [...]'",
            )
        if node.mode == "block" and not node.fallback:
            self.report(
                node.pos,
                f'guardrail "{name}" in block mode requires a fallback message',
                "add 'fallback \"message\"'",
            )
