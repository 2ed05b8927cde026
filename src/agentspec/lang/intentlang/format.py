"""Canonical formatting of IntentLang source (``agentspec fmt``), printed from the AST.

Rules (close to ``shared/INTENTLANG.md`` §9, minus the original's defects):

* header on one line, then each statement in source order, separated by one empty line;
  two-space indentation, no blank lines inside blocks, one final newline;
* attributes in a fixed order per block (§9.8), one per line, blocks expanded, maps sorted
  by key, alternative spellings normalised (``prompt X`` -> ``uses prompt "X"``,
  ``loop`` -> ``strategy``, ``connects "c"`` -> ``connects to client "c"``, ...);
* strings are quoted with only ``\\`` and ``"`` escaped, so multi-line strings stay
  multi-line; name/type/key slots are printed bare when they are one identifier and quoted
  otherwise; numbers are printed in plain decimal (never ``1e+06``, which would not re-lex);
* comments are kept: a comment on its own line stays before the construct that follows it,
  a trailing comment stays at the end of the line that starts its construct.

Unlike the original formatter, the output always re-parses to the same tree (hence the same
IR): :func:`format_source` checks it and refuses (``SpecError``) rather than return text
that would change the meaning. Files with syntax errors are refused with their errors.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agentspec.exceptions import Diagnostic, SpecError
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.lexer import (
    EOF,
    NEWLINE,
    STRING,
    Comment,
    LexError,
    Token,
    _is_ident_part,
    _is_ident_start,
    tokenize,
)
from agentspec.lang.intentlang.parser import Parser

INDENT = "  "
_SKIP = frozenset(
    {"pos", "name_pos", "lang_pos", "model_pos", "strategy_pos", "ext_pos", "config_pos", "path"}
)


# ---------------------------------------------------------------------------- public API
def parse_with_comments(
    text: str, file: str = "<string>"
) -> tuple[ast.File, list[Comment], list[Token], list[Diagnostic]]:
    """Parse ``text`` keeping its comments; returns tree, comments, tokens and errors."""
    comments: list[Comment] = []
    try:
        tokens = tokenize(text, file, comments)
    except LexError as exc:
        diagnostic = Diagnostic(exc.file, exc.line, exc.column, exc.message, exc.hint)
        return ast.File(file), [], [], [diagnostic]
    parser = Parser(tokens)
    tree = parser.file(file)
    return tree, comments, tokens, parser.errors


def format_source(text: str, file: str = "<string>") -> str:
    """Return the canonical form of one ``.ias`` source text.

    Raises:
        SpecError: the text has syntax errors (all of them are listed), or (never expected)
            the canonical form would not parse back to the same tree.
    """
    tree, comments, tokens, errors = parse_with_comments(text, file)
    if errors:
        raise SpecError(errors)
    result = format_tree(tree, comments, tokens)
    check_same(tree, result, file)
    return result


def format_tree(
    tree: ast.File, comments: Iterable[Comment] = (), tokens: list[Token] | None = None
) -> str:
    """Print a (syntactically valid) tree canonically; ``comments`` need ``tokens``."""
    printer = _Printer()
    printer.file(tree)
    return printer.render(list(comments), tokens or [])


def check_same(tree: ast.File, text: str, file: str) -> None:
    """Raise :class:`SpecError` unless ``text`` parses back to ``tree`` (positions aside)."""
    again, _, _, errors = parse_with_comments(text, file)
    if errors:
        first = errors[0]
        raise SpecError(
            [
                Diagnostic(
                    file,
                    first.line,
                    first.column,
                    f"internal formatter error: the canonical form does not parse ({first.message})",
                    "please report this file; it was left unchanged",
                )
            ]
        )
    if ast_key(again) == ast_key(tree):
        return
    where = ast.Pos(file, 1, 1)
    for old, new in zip(tree.statements, again.statements, strict=False):
        if ast_key(old) != ast_key(new):
            where = old.pos
            break
    raise SpecError(
        [
            Diagnostic(
                where.file,
                where.line,
                where.column,
                "this statement cannot be formatted canonically without changing its meaning",
                "it contains a value the formatter cannot reproduce (e.g. an expression "
                'holding a string with \\" in it); the file was left unchanged',
            )
        ]
    )


def ast_key(node: Any) -> Any:
    """A comparable form of a tree with every position dropped (two trees with the same
    key lower to the same IR)."""
    kind = type(node)
    if kind is ast.File:
        return ast_key(node.header), [ast_key(s) for s in node.statements]
    if kind is ast.Pos:
        return None
    if kind is ast.Ref:
        return node.name
    if kind is str or kind is int or kind is bool or kind is float or node is None:
        return node
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(node):
        names = tuple(f.name for f in dataclasses.fields(node) if f.name not in _SKIP)
        _FIELDS[kind] = names
    if names is not None:
        return kind.__name__, tuple((name, ast_key(getattr(node, name))) for name in names)
    if isinstance(node, dict):
        return {key: ast_key(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [ast_key(item) for item in node]
    return node


_FIELDS: dict[type, tuple[str, ...]] = {}


# ---------------------------------------------------------------------------- value printing
def quote(text: str) -> str:
    """A string literal for ``text``: ``\\``, ``"`` and tabs are escaped (§2.7); line breaks
    stay raw, so multi-line strings stay multi-line."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def is_ident(text: str) -> bool:
    """True if ``text`` lexes as exactly one identifier or keyword."""
    return bool(text) and _is_ident_start(text[0]) and all(_is_ident_part(c) for c in text[1:])


def bare(text: str) -> str:
    """A name/type/key slot (TOK or WORD): bare when one identifier, else quoted."""
    return text if is_ident(text) else quote(text)


def number(value: float | int) -> str:
    """Plain decimal, shortest round trip (``1e-07`` -> ``0.0000001``)."""
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _policy_word(text: str) -> str:
    """A policy token: bare when it re-lexes to itself as one token (not a string or ``}``)."""
    if is_ident(text):
        return text
    try:
        tokens = tokenize(text)
    except LexError:
        return quote(text)
    if len(tokens) == 2 and tokens[0].text == text and tokens[0].kind not in (STRING, "}"):
        return text
    return quote(text)


def _spaced(expr: str) -> str:
    return f"{expr} " if expr else ""


def _strlist(items: list[str]) -> str:
    return "[" + ", ".join(quote(item) for item in items) + "]"


# ---------------------------------------------------------------------------- the printer
@dataclass
class _Line:
    depth: int
    text: str
    line: int | None
    stmt: int
    word: str
    before: list[str] = dataclasses.field(default_factory=list)
    after: str = ""
    blank: bool = False


class _Printer:
    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.stmt = -1
        self.starts: list[int] = []
        """Source line of each statement."""
        self.first: list[int] = []
        """Index in ``lines`` of each statement's first line."""

    # ------------------------------------------------------------------ output helpers
    def emit(self, depth: int, text: str, at: ast.Pos | None = None) -> _Line:
        word = text.split(" ", 1)[0]
        line = _Line(depth, text, at.line if at else None, self.stmt, word)
        self.lines.append(line)
        return line

    def block(self, depth: int, head: str, at: ast.Pos | None, body: Callable[[int], None]) -> None:
        opener = self.emit(depth, head + " {", at)
        count = len(self.lines)
        body(depth + 1)
        if len(self.lines) == count:
            opener.text = head + " {}"
        else:
            self.emit(depth, "}")

    def mapping(self, depth: int, name: str, values: dict[str, str], always: bool = False) -> None:
        if not values and not always:
            return

        def body(inner: int) -> None:
            for key in sorted(values):
                self.emit(inner, f"{bare(key)} {quote(values[key])}")

        self.block(depth, name, None, body)

    def scalar(
        self, depth: int, keyword: str, value: str | None, at: ast.Pos | None = None
    ) -> None:
        if value:
            self.emit(depth, f"{keyword} {quote(value)}", at)

    def fields(
        self,
        depth: int,
        name: str,
        items: list[ast.Field],
        modifiers: bool,
        at: ast.Pos | None = None,
    ) -> None:
        def body(inner: int) -> None:
            for item in items:
                text = f"{bare(item.name)} {bare(item.type)}"
                if item.required:
                    text += " required"
                if modifiers and item.default is not None:
                    text += f" default {quote(item.default)}"
                self.emit(inner, text, item.pos)

        self.block(depth, name, at, body)

    # ------------------------------------------------------------------ file
    def file(self, tree: ast.File) -> None:
        header = tree.header
        if header is not None:
            text = f"package {quote(header.name)}"
            if header.version:
                text += f" version {quote(header.version)}"
            if header.lang:
                text += f" lang {quote(header.lang)}"
            self.emit(0, text, header.pos)
        for index, statement in enumerate(tree.statements):
            self.stmt = index
            self.starts.append(statement.pos.line)
            first = len(self.lines)
            self.first.append(first)
            getattr(self, "s_" + type(statement).__name__.lower())(statement)
            if first:
                self.lines[first].blank = True

    def s_prompt(self, node: ast.Prompt) -> None:
        def body(d: int) -> None:
            if node.content is not None:
                self.emit(d, f"content {quote(node.content)}")
            self.scalar(d, "version", node.version)
            if node.has_variables:
                self.fields(d, "variables", node.variables, modifiers=True)
            self.mapping(d, "metadata", node.metadata)

        self.block(0, f"prompt {quote(node.name)}", node.pos, body)

    def s_skill(self, node: ast.Skill) -> None:
        def body(d: int) -> None:
            if node.description is not None:
                self.emit(d, f"description {quote(node.description)}")
            for kind in ("input", "output"):
                items = getattr(node, kind)
                if items is not None:
                    self.fields(d, kind, items, modifiers=False)
            if node.execution is not None:
                ex = node.execution
                self.emit(d, f"execution {bare(ex.kind)} {quote(ex.value)}", ex.pos)
            if node.tool is not None:
                self.tool(d, node.tool)
            self.mapping(d, "metadata", node.metadata)

        self.block(0, f"skill {quote(node.name)}", node.pos, body)

    _TOOL_ORDER = {
        "http": ("method", "url", "headers", "body_template", "timeout"),
        "command": ("binary", "args", "timeout", "env", "secrets"),
        "inline": ("language", "code", "timeout", "memory"),
    }

    def tool(self, depth: int, tool: ast.Tool) -> None:
        if tool.kind == "mcp":
            self.emit(depth, f"tool mcp {quote(tool.attrs.get('server_tool', ''))}", tool.pos)
            return

        def body(d: int) -> None:
            for key in self._TOOL_ORDER[tool.kind]:
                if key == "args":
                    if tool.args:
                        self.emit(d, f"args {_strlist(tool.args)}")
                elif key in ("headers", "env", "secrets"):
                    if key in tool.maps:
                        self.mapping(d, key, tool.maps[key], always=True)
                elif key in tool.attrs:
                    self.emit(d, f"{key} {quote(tool.attrs[key])}")

        self.block(depth, f"tool {tool.kind}", tool.pos, body)

    def s_agent(self, node: ast.Agent) -> None:
        def body(d: int) -> None:
            if node.prompt is not None:
                self.emit(d, f"uses prompt {quote(node.prompt.name)}", node.prompt.pos)
            for ref in node.skills:
                self.emit(d, f"uses skill {quote(ref.name)}", ref.pos)
            if node.model is not None:
                self.emit(d, f"model {quote(node.model)}", node.model_pos)
            if node.models is not None:
                self.emit(d, f"models {_strlist(node.models)}")
            for period in ("daily", "monthly"):
                value = getattr(node, f"budget_{period}")
                if value is not None:
                    self.emit(d, f"budget {period} {number(value)}")
            for ref in node.guardrails:
                self.emit(d, f"uses guardrail {quote(ref.name)}", ref.pos)
            if node.client is not None:
                self.emit(d, f"connects to client {quote(node.client.name)}", node.client.pos)
            if node.strategy is not None:
                self.emit(d, f"strategy {quote(node.strategy)}", node.strategy_pos)
            if node.max_turns:
                self.emit(d, f"max_turns {node.max_turns}")
            if node.timeout is not None:
                self.emit(d, f"timeout {quote(node.timeout)}")
            if node.token_budget:
                self.emit(d, f"token_budget {node.token_budget}")
            if node.temperature is not None:
                self.emit(d, f"temperature {number(node.temperature)}")
            if node.stream is not None:
                self.emit(d, f"stream {'true' if node.stream else 'false'}")
            if node.on_error is not None:
                self.emit(d, f"on_error {quote(node.on_error)}")
            if node.max_retries:
                self.emit(d, f"max_retries {node.max_retries}")
            if node.fallback is not None:
                self.emit(d, f"fallback {quote(node.fallback.name)}", node.fallback.pos)
            if node.memory is not None:
                self.memory(d, node.memory)
            for delegate in node.delegates:
                text = f"delegate to agent {quote(delegate.agent.name)}"
                if delegate.condition:
                    text += f" when {quote(delegate.condition)}"
                self.emit(d, text, delegate.agent.pos)
            if node.config is not None:
                self.config(d, node.config)
            if node.rules is not None:
                self.rules(d, node.rules)
            if node.evals is not None:
                self.evals(d, node.evals)
            if node.on_input is not None:
                self.block(d, "on input", None, lambda inner: self.flows(inner, node.on_input))
            self.mapping(d, "metadata", node.metadata)

        self.block(0, f"agent {quote(node.name)}", node.pos, body)

    def memory(self, depth: int, values: dict[str, str | int]) -> None:
        def body(d: int) -> None:
            if "strategy" in values:
                self.emit(d, f"strategy {quote(str(values['strategy']))}")
            if "max_messages" in values:
                self.emit(d, f"max_messages {values['max_messages']}")

        self.block(depth, "memory", None, body)

    def config(self, depth: int, params: list[ast.ConfigParam]) -> None:
        def body(d: int) -> None:
            for index, param in enumerate(params):
                text = f"{bare(param.name)} {bare(param.type)}"
                if param.required:
                    text += " required"
                if param.secret:
                    text += " secret"
                if param.default is not None:
                    text += f" default {quote(param.default)}"
                self.emit(d, text, param.pos)
                following = params[index + 1] if index + 1 < len(params) else None
                # A quoted next name would be read as this param's description: print one.
                if param.description or (following and not is_ident(following.name)):
                    self.emit(d + 1, quote(param.description))

        self.block(depth, "config", None, body)

    def rules(self, depth: int, rules: list[ast.Rule]) -> None:
        def body(d: int) -> None:
            for rule in rules:
                text = f"rule {bare(rule.name)} {bare(rule.severity)}"
                if rule.max_retries:
                    text += f" max_retries {rule.max_retries}"
                self.emit(d, text, rule.pos)
                if rule.message:
                    self.emit(d + 1, quote(rule.message))
                if rule.when:
                    self.emit(d + 1, f"when {rule.when}")

        self.block(depth, "validate", None, body)

    def evals(self, depth: int, cases: list[ast.EvalCase]) -> None:
        def body(d: int) -> None:
            for case in cases:
                self.emit(d, f"case {bare(case.name)}", case.pos)
                if case.input:
                    self.emit(d + 1, f"input {quote(case.input)}")
                if case.expect:
                    self.emit(d + 1, f"expect {quote(case.expect)}")
                if case.scoring or case.threshold != 0.8:
                    text = f"scoring {bare(case.scoring)}"
                    if case.threshold != 0.8:
                        text += f" threshold {number(case.threshold)}"
                    self.emit(d + 1, text)
                if case.tags:
                    self.emit(d + 1, f"tags {_strlist(case.tags)}")

        self.block(depth, "eval", None, body)

    def flows(self, depth: int, flows: list[ast.Flow] | None) -> None:
        for flow in flows or []:
            if flow.kind == "use":
                text = f"use skill {bare(flow.target)}"
                if flow.params:
                    params = ", ".join(f"{bare(k)}: {flow.params[k]}" for k in sorted(flow.params))
                    text += f" with {{ {params} }}"
                self.emit(depth, text, flow.pos)
            elif flow.kind == "delegate":
                self.emit(depth, f"delegate to {bare(flow.target)}", flow.pos)
            elif flow.kind == "respond":
                expr = flow.expr
                if len(expr) >= 2 and expr[0] == expr[-1] == '"':
                    expr = quote(expr[1:-1])
                self.emit(depth, f"respond {expr}" if expr else "respond", flow.pos)
            elif flow.kind == "if":
                self.emit(depth, f"if {_spaced(flow.expr)}{{", flow.pos)
                self.flows(depth + 1, flow.body)
                for condition, where, body in flow.branches:
                    self.emit(depth, f"}} else if {_spaced(condition)}{{", where)
                    self.flows(depth + 1, body)
                if flow.orelse is not None:
                    self.emit(depth, "} else {")
                    self.flows(depth + 1, flow.orelse)
                self.emit(depth, "}")
            else:
                target = f" {bare(flow.target)}" if flow.target else ""
                self.emit(depth, f"for each{target} in {_spaced(flow.expr)}{{", flow.pos)
                self.flows(depth + 1, flow.body)
                self.emit(depth, "}")

    def s_server(self, node: ast.Server) -> None:
        def body(d: int) -> None:
            if node.transport is not None:
                self.emit(d, f"transport {quote(node.transport)}")
            self.scalar(d, "command", node.command)
            if node.args:
                self.emit(d, f"args {_strlist(node.args)}")
            self.scalar(d, "url", node.url)
            if node.auth is not None:
                self.emit(d, f"auth {quote(node.auth.name)}", node.auth.pos)
            for ref in node.exposes:
                self.emit(d, f"exposes skill {quote(ref.name)}", ref.pos)
            self.mapping(d, "env", node.env)
            self.mapping(d, "metadata", node.metadata)

        self.block(0, f"server {quote(node.name)}", node.pos, body)

    def s_client(self, node: ast.Client) -> None:
        def body(d: int) -> None:
            for ref in node.servers:
                self.emit(d, f"connects to server {quote(ref.name)}", ref.pos)
            self.mapping(d, "metadata", node.metadata)

        self.block(0, f"client {quote(node.name)}", node.pos, body)

    def s_secret(self, node: ast.Secret) -> None:
        def body(d: int) -> None:
            if node.source:
                self.emit(d, f"{node.source}({bare(node.key)})")

        self.block(0, f"secret {quote(node.name)}", node.pos, body)

    def s_environment(self, node: ast.Environment) -> None:
        groups: list[tuple[str, str, list[ast.Override]]] = []
        for override in node.overrides:
            if groups and groups[-1][:2] == (override.kind, override.target):
                groups[-1][2].append(override)
            else:
                groups.append((override.kind, override.target, [override]))

        def body(d: int) -> None:
            for kind, target, overrides in groups:

                def inner(i: int, items: list[ast.Override] = overrides) -> None:
                    for item in items:
                        self.emit(i, f"{bare(item.attribute)} {quote(item.value)}", item.pos)

                self.block(d, f"{bare(kind)} {quote(target)}", None, inner)

        self.block(0, f"environment {quote(node.name)}", node.pos, body)

    def s_policy(self, node: ast.Policy) -> None:
        def body(d: int) -> None:
            for rule in node.rules:
                words = [rule.resource, *rule.subject.split(" ")] if rule.subject else []
                if not words and rule.resource:
                    words = [rule.resource]
                text = " ".join([rule.action, *(_policy_word(w) for w in words)])
                self.emit(d, text, rule.pos)

        self.block(0, f"policy {quote(node.name)}", node.pos, body)

    def s_plugin(self, node: ast.Plugin) -> None:
        text = f"plugin {quote(node.name)}"
        if node.version:
            text += f" version {quote(node.version)}"
        self.emit(0, text, node.pos)

    def s_import(self, node: ast.Import) -> None:
        text = f"import {quote(node.name)}"
        if node.version:
            text += f" version {quote(node.version)}"
        if node.alias:
            text += f" as {bare(node.alias)}"
        self.emit(0, text, node.pos)

    _DEPLOY_SUBS = {
        "resources": ("cpu", "memory"),
        "health": ("path", "interval", "timeout"),
        "autoscale": ("min", "max", "metric", "target"),
    }

    def s_deploy(self, node: ast.Deploy) -> None:
        config = node.config

        def body(d: int) -> None:
            if "port" in config:
                self.emit(d, f"port {config['port']}")
            if node.default:
                self.emit(d, "default true")
            for key in ("namespace", "replicas", "image"):
                if key in config:
                    value = config[key]
                    self.emit(d, f"{key} {value if isinstance(value, int) else quote(str(value))}")
            for key, subkeys in self._DEPLOY_SUBS.items():
                sub = config.get(key)
                if isinstance(sub, dict):

                    def inner(
                        i: int, values: dict[str, Any] = sub, keys: tuple[str, ...] = subkeys
                    ) -> None:
                        for subkey in keys:
                            if subkey in values:
                                value = values[subkey]
                                shown = value if isinstance(value, int) else quote(str(value))
                                self.emit(i, f"{subkey} {shown}")

                    self.block(d, key, None, inner)
            for key in ("env", "secrets"):
                values = config.get(key)
                if isinstance(values, dict):
                    self.mapping(d, key, values, always=True)

        head = f"deploy {quote(node.name)} target {quote(node.target)}"
        self.block(0, head, node.pos, body)

    def s_pipeline(self, node: ast.Pipeline) -> None:
        def body(d: int) -> None:
            for step in node.steps:

                def inner(i: int, step: ast.Step = step) -> None:
                    if step.agent is not None:
                        self.emit(i, f"agent {quote(step.agent.name)}", step.agent.pos)
                    self.scalar(i, "input", step.input)
                    self.scalar(i, "output", step.output)
                    if step.depends_on:
                        self.emit(i, f"depends_on {_strlist(step.depends_on)}")
                    if step.parallel:
                        self.emit(i, "parallel true")
                    self.scalar(i, "when", step.when)

                self.block(d, f"step {quote(step.name)}", step.pos, inner)

        self.block(0, f"pipeline {quote(node.name)}", node.pos, body)

    def s_typedef(self, node: ast.TypeDef) -> None:
        head = f"type {quote(node.name)}"
        if node.enum:
            self.emit(0, f"{head} enum {_strlist(node.enum)}", node.pos)
        elif node.list_of:
            self.emit(0, f"{head} list {bare(node.list_of)}", node.pos)
        else:
            self.fields(0, head, node.fields, modifiers=True, at=node.pos)

    def s_binding(self, node: ast.Binding) -> None:
        head = f"binding {quote(node.name)}"
        if node.adapter:
            head += f" adapter {quote(node.adapter)}"

        def body(d: int) -> None:
            if node.default:
                self.emit(d, "default true")
            for key in sorted(node.config):
                shown_key = quote(key) if key in ("default", "adapter") else bare(key)
                self.emit(d, f"{shown_key} {quote(node.config[key])}", node.config_pos.get(key))

        self.block(0, head, node.pos, body)

    def s_user(self, node: ast.User) -> None:
        def body(d: int) -> None:
            self.scalar(d, "key", node.key)
            if node.agents:
                self.emit(d, f"agents {_strlist([r.name for r in node.agents])}")
            self.scalar(d, "role", node.role)

        self.block(0, f"user {quote(node.name)}", node.pos, body)

    def s_guardrail(self, node: ast.Guardrail) -> None:
        def body(d: int) -> None:
            self.scalar(d, "mode", node.mode)
            for key in ("keywords", "patterns"):
                items = getattr(node, key)
                if items:
                    self.emit(d, f"{key} {_strlist(items)}")
            self.scalar(d, "fallback", node.fallback)

        self.block(0, f"guardrail {quote(node.name)}", node.pos, body)

    def s_state(self, node: ast.State) -> None:
        def body(d: int) -> None:
            self.scalar(d, "type", node.type)
            for key, value in node.properties.items():
                self.emit(d, f"{bare(key)} {quote(value)}")

        head = f"state {quote(node.name)}" if node.name else "state"
        self.block(0, head, node.pos, body)

    # ------------------------------------------------------------------ comments and text
    def render(self, comments: list[Comment], tokens: list[Token]) -> str:
        trailer = self.attach(comments, tokens) if comments else []
        out: list[str] = []
        for line in self.lines:
            pad = INDENT * line.depth
            if line.blank and out:
                out.append("")
            out.extend(pad + text for text in line.before)
            out.append(pad + line.text + (f"  {line.after}" if line.after else ""))
        if trailer and out:
            out.append("")
        out.extend(trailer)
        return "\n".join(out) + "\n" if out else ""

    def attach(self, comments: list[Comment], tokens: list[Token]) -> list[str]:
        """Hang each comment on an output line; return the ones left for the end of file."""
        real = [t for t in tokens if t.kind not in (NEWLINE, EOF)]
        keys = [(t.line, t.column) for t in real]
        first_on_line: dict[int, Token] = {}
        for token in real:
            first_on_line.setdefault(token.line, token)
        by_line: dict[int, _Line] = {}
        for line in self.lines:
            if line.line is not None:
                by_line.setdefault(line.line, line)
        trailer: list[str] = []
        for comment in comments:
            first = first_on_line.get(comment.line)
            if first is not None and first.column < comment.column:
                target = self.closing(first) if first.kind == "}" else self.find(first, by_line)
                if target is not None and not target.after:
                    target.after = comment.text
                    continue
            index = bisect.bisect_left(keys, (comment.line, comment.column))
            following = real[index] if index < len(real) else None
            if following is None:
                trailer.append(comment.text)
                continue
            if following.kind == "}":
                closing = self.closing(following)
                if closing is not None:
                    closing.before.append(INDENT + comment.text)
                    continue
            target = self.find(following, by_line)
            if target is None:
                trailer.append(comment.text)
            else:
                target.before.append(comment.text)
        return trailer

    def _statement_lines(self, stmt: int) -> list[_Line]:
        begin = self.first[stmt] if stmt >= 0 else 0
        end = self.first[stmt + 1] if stmt + 1 < len(self.first) else len(self.lines)
        return (
            self.lines[begin:end]
            if stmt >= 0
            else self.lines[: self.first[0] if self.first else end]
        )

    def closing(self, token: Token) -> _Line | None:
        """The last line (a closing brace) of the statement holding ``token``."""
        stmt = bisect.bisect_right(self.starts, token.line) - 1
        lines = self._statement_lines(stmt) if stmt >= 0 else []
        return lines[-1] if lines and lines[-1].text == "}" else None

    def find(self, token: Token, by_line: dict[int, _Line]) -> _Line | None:
        """The output line that the construct starting at ``token`` became."""
        exact = by_line.get(token.line)
        if exact is not None:
            return exact
        stmt = bisect.bisect_right(self.starts, token.line) - 1
        for line in self._statement_lines(stmt):
            if line.word == token.text and line.line is None and line.word != "}":
                return line
        if stmt + 1 < len(self.first):
            return self.lines[self.first[stmt + 1]]
        return None
