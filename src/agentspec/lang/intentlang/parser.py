"""The IntentLang parser: recursive descent over the tokens of :mod:`.lexer` (§3).

Why hand-written rather than Lark: the grammar is token-driven and contextual (most name,
type and key slots accept *any* token, value slots accept keywords as text, and NEWLINE is
significant only in a few places), which a generated parser handles poorly; a hand-written
one gives precise ``file:line:col`` messages, recovers after an error (record it, skip one
token, continue — so every error is reported in one pass) and is several times faster.

Entry point: :func:`parse` returns the :class:`~.ast.File` and the list of diagnostics.
"""

from __future__ import annotations

from agentspec.exceptions import Diagnostic
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang._agent import AgentParser
from agentspec.lang.intentlang._base import pos
from agentspec.lang.intentlang.lexer import EOF, NEWLINE, STRING, LexError, Token, tokenize

_TOP_HINT = "expected a resource declaration (agent, prompt, skill, etc.)"


def parse(text: str, file: str = "<string>") -> tuple[ast.File, list[Diagnostic]]:
    """Parse one file. Returns the tree and every problem found (empty when valid)."""
    try:
        tokens = tokenize(text, file)
    except LexError as exc:
        return ast.File(file), [Diagnostic(exc.file, exc.line, exc.column, exc.message, exc.hint)]
    parser = Parser(tokens)
    tree = parser.file(file)
    return tree, parser.errors


class Parser(AgentParser):
    """Statement parsers; the agent and its [ext] blocks live in :mod:`._agent`."""

    def file(self, path: str) -> ast.File:
        tree = ast.File(path)
        self.skip_newlines()
        if self.tok.kind == "package":
            tree.header = self.header()
        elif self.tok.kind != EOF:
            self.error(self.tok, "expected 'package' declaration at start of file")
        while True:
            self.skip_newlines()
            token = self.tok
            if token.kind == EOF:
                return tree
            parse_statement = getattr(self, f"stmt_{token.kind}", None)
            if parse_statement is None:
                self.error(token, f"unexpected token {token.kind}", _TOP_HINT)
                self.advance()
                continue
            self.advance()
            tree.statements.append(parse_statement(token))

    def header(self) -> ast.Header:
        header = ast.Header(pos(self.advance()))
        header.name = self.string("package name")
        while self.tok.kind in ("version", "lang"):
            if self.advance().kind == "version":
                header.version = self.string("version")
            else:
                header.lang_pos = pos(self.tok)
                header.lang = self.string("lang version")
        if header.lang == "1.0":
            self.error(
                self.tok,
                "IntentLang 1.0 is no longer supported",
                "run 'agentspec migrate --to-v2' to upgrade to IntentLang 2.0",
            )
        return header

    def named(self, token: Token, ctx: str) -> tuple[ast.Pos, str, ast.Pos]:
        name, where = self.string_at(f"{ctx} name")
        return pos(token), name, where

    # ------------------------------------------------------------------ prompt
    def stmt_prompt(self, token: Token) -> ast.Prompt:
        node = ast.Prompt(*self.named(token, "prompt"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            if kind == "content":
                self.advance()
                node.content = self.string("prompt content")
            elif kind == "version":
                self.advance()
                node.version = self.string("version")
            elif kind == "variables":
                self.advance()
                node.has_variables = True
                node.variables.extend(self.fields("variables", modifiers=True))
            elif kind == "metadata":
                self.advance()
                self.mapping(node.metadata)
            else:
                return False
            return True

        self.block("prompt", item)
        return node

    # ------------------------------------------------------------------ skill
    def stmt_skill(self, token: Token) -> ast.Skill:
        node = ast.Skill(*self.named(token, "skill"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            if kind == "description":
                self.advance()
                node.description = self.string("description")
            elif kind in ("input", "output"):
                self.advance()
                found = self.fields(kind, modifiers=False)
                setattr(node, kind, [*(getattr(node, kind) or []), *found])
            elif kind == "tool":
                self.advance()
                node.tool = self.tool()
            elif kind == "execution":
                self.advance()
                where = pos(self.tok)
                exec_kind = self.any_token()
                node.execution = ast.Execution(exec_kind, self.string("execution value"), where)
            elif kind == "metadata":
                self.advance()
                self.mapping(node.metadata)
            else:
                return False
            return True

        self.block("skill", item)
        return node

    _TOOL_ATTRS = {
        "http": {
            "method": "http method",
            "url": "http url",
            "body_template": "body template",
            "timeout": "timeout",
        },
        "command": {"binary": "binary path", "timeout": "timeout"},
        "inline": {
            "language": "language",
            "code": "code",
            "timeout": "timeout",
            "memory": "memory limit",
        },
    }
    _TOOL_MAPS = {"http": ("headers",), "command": ("env", "secrets"), "inline": ()}

    def tool(self) -> ast.Tool | None:
        token = self.tok
        if token.kind == "mcp":
            self.advance()
            tool = ast.Tool("mcp", pos(token))
            tool.attrs["server_tool"] = self.string("mcp server/tool reference")
            return tool
        if token.kind not in self._TOOL_ATTRS:
            self.error(token, f"expected tool type (mcp, http, command, inline), got {token.kind}")
            return None
        self.advance()
        tool = ast.Tool(token.kind, pos(token))
        attrs, maps = self._TOOL_ATTRS[token.kind], self._TOOL_MAPS[token.kind]

        def item(tok: Token) -> bool:
            if tok.kind in attrs:
                self.advance()
                tool.attrs[tok.kind] = self.string(attrs[tok.kind])
            elif tok.kind == "args" and token.kind == "command":
                self.advance()
                tool.args = self.strlist()
            elif tok.kind in maps:
                self.advance()
                tool.maps[tok.kind] = {}
                self.mapping(tool.maps[tok.kind])
            else:
                return False
            return True

        self.block(f"tool {token.kind}", item)
        return tool

    # ------------------------------------------------------------------ server, client
    def stmt_server(self, token: Token) -> ast.Server:
        node = ast.Server(*self.named(token, "server"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            self.advance()
            if kind == "transport":
                node.transport = self.word("transport type")
            elif kind == "command":
                node.command = self.string("command")
            elif kind == "args":
                node.args = self.strlist()
            elif kind == "url":
                node.url = self.string("url")
            elif kind == "auth":
                node.auth = ast.Ref(*self.string_at("auth secret reference"))
            elif kind == "exposes":
                self.accept("skill")
                node.exposes.append(ast.Ref(*self.string_at("skill reference")))
            elif kind in ("env", "metadata"):
                self.mapping(node.env if kind == "env" else node.metadata)
            else:
                self.i -= 1
                return False
            return True

        self.block("server", item)
        return node

    def stmt_client(self, token: Token) -> ast.Client:
        node = ast.Client(*self.named(token, "client"))

        def item(tok: Token) -> bool:
            if tok.kind == "connects":
                self.advance()
                self.accept("to")
                self.accept("server")
                node.servers.append(ast.Ref(*self.string_at("server reference")))
            elif tok.kind == "metadata":
                self.advance()
                self.mapping(node.metadata)
            else:
                return False
            return True

        self.block("client", item)
        return node

    # ------------------------------------------------------------------ secret
    def stmt_secret(self, token: Token) -> ast.Secret:
        node = ast.Secret(*self.named(token, "secret"))

        def item(tok: Token) -> bool:
            if tok.kind not in ("env", "store"):
                return False
            self.advance()
            node.source = tok.kind
            ctx = "env key" if tok.kind == "env" else "store path"
            if self.accept("("):
                node.key = self.word(ctx)
                self.expect(")")
            else:
                node.key = self.word(ctx)
            return True

        self.block("secret", item, "expected 'env' or 'store'")
        return node

    # ------------------------------------------------------------------ environment, policy
    def stmt_environment(self, token: Token) -> ast.Environment:
        node = ast.Environment(*self.named(token, "environment"))

        def group(tok: Token) -> bool:
            kind = self.any_token()
            target = self.string("resource name")

            def override(attr_tok: Token) -> bool:
                attribute = self.any_token()
                value = self.word("override value")
                node.overrides.append(ast.Override(kind, target, attribute, value, pos(attr_tok)))
                return True

            self.block("environment", override)
            return True

        self.block("environment", group)
        return node

    def stmt_policy(self, token: Token) -> ast.Policy:
        node = ast.Policy(*self.named(token, "policy"))

        def item(tok: Token) -> bool:
            if tok.kind not in ("allow", "deny", "require"):
                return False
            self.advance()
            words: list[str] = []
            while self.tok.kind not in (NEWLINE, "}", EOF):
                words.append(self.any_token())
            resource = words[0] if words else ""
            node.rules.append(ast.PolicyRule(tok.kind, resource, " ".join(words[1:]), pos(tok)))
            return True

        self.block("policy", item, "expected 'deny', 'allow', or 'require'")
        return node

    # ------------------------------------------------------------------ plugin, import
    def stmt_plugin(self, token: Token) -> ast.Plugin:
        node = ast.Plugin(*self.named(token, "plugin"))
        if self.accept("version"):
            node.version = self.string("plugin version")
        return node

    def stmt_import(self, token: Token) -> ast.Import:
        node = ast.Import(*self.named(token, "import"))
        if self.accept("version"):
            node.version = self.string("import version")
        if self.accept("as"):
            node.alias = self.word("import alias")
        return node

    # ------------------------------------------------------------------ deploy
    def stmt_deploy(self, token: Token) -> ast.Deploy:
        node = ast.Deploy(*self.named(token, "deploy"))
        if self.accept("target"):
            node.target = self.string("deploy target type")
        else:
            self.error(self.tok, "expected 'target' keyword in deploy block")
        config = node.config

        def sub(name: str, keys: dict[str, tuple[str, str]]) -> None:
            values: dict[str, object] = {}
            config[name] = values

            def item(tok: Token) -> bool:
                if tok.text not in keys:
                    return False
                self.advance()
                ctx, kind = keys[tok.text]
                values[tok.text] = self.integer(ctx) if kind == "int" else self.string(ctx)
                return True

            self.block(name, item)

        def item(tok: Token) -> bool:
            kind = tok.kind
            self.advance()
            if kind in ("port", "replicas"):
                config[kind] = self.integer(kind)
            elif kind == "default":
                node.default = self.boolean("default")
            elif kind in ("namespace", "image"):
                config[kind] = self.string(kind)
            elif kind == "resources":
                sub(kind, {"cpu": ("cpu", "str"), "memory": ("memory", "str")})
            elif kind == "health":
                sub(kind, {k: (f"health {k}", "str") for k in ("path", "interval", "timeout")})
            elif kind == "autoscale":
                sub(
                    kind,
                    {
                        "min": ("min replicas", "int"),
                        "max": ("max replicas", "int"),
                        "metric": ("autoscale metric", "str"),
                        "target": ("autoscale target", "int"),
                    },
                )
            elif kind in ("env", "secrets"):
                values: dict[str, str] = {}
                self.mapping(values)
                existing = config.setdefault(kind, {})
                assert isinstance(existing, dict)
                existing.update(values)
            else:
                self.i -= 1
                return False
            return True

        self.block("deploy", item)
        return node

    # ------------------------------------------------------------------ pipeline
    def stmt_pipeline(self, token: Token) -> ast.Pipeline:
        node = ast.Pipeline(*self.named(token, "pipeline"))

        def step_item(tok: Token) -> bool:
            if tok.kind != "step":
                return False
            self.advance()
            name, where = self.string_at("step name")
            step = ast.Step(name, where)

            def attr(inner: Token) -> bool:
                kind = inner.kind
                self.advance()
                if kind == "agent":
                    step.agent = ast.Ref(*self.string_at("step agent"))
                elif kind in ("input", "output"):
                    setattr(step, kind, self.string(f"step {kind}"))
                elif kind == "depends_on":
                    step.depends_on = self.strlist()
                elif kind == "parallel":
                    step.parallel = self.boolean("parallel")
                elif kind == "when":
                    step.when = self.string("step condition")
                else:
                    self.i -= 1
                    return False
                return True

            self.block("step", attr)
            node.steps.append(step)
            return True

        self.block("pipeline", step_item, "expected 'step'")
        return node

    # ------------------------------------------------------------------ type
    def stmt_type(self, token: Token) -> ast.TypeDef:
        node = ast.TypeDef(*self.named(token, "type"))
        if self.accept("enum"):
            node.enum = self.strlist()
        elif self.accept("list"):
            if self.tok.kind in (NEWLINE, EOF):
                self.error(self.tok, "expected an element type after 'list'")
            else:
                node.list_of = self.any_token()
        elif self.tok.kind == "{":
            node.fields = self.fields("type", modifiers=True)
        else:
            self.error(self.tok, "expected '{', 'enum', or 'list' after type name")
        return node

    # ------------------------------------------------------------------ [1.0] binding
    def stmt_binding(self, token: Token) -> ast.Binding:
        node = ast.Binding(*self.named(token, "binding"))
        if self.accept("adapter"):
            node.adapter = self.string("adapter name")

        def item(tok: Token) -> bool:
            if tok.kind == "default":
                self.advance()
                node.default = True
                if self.tok.kind in ("true", "false"):
                    node.default = self.advance().kind == "true"
            elif tok.kind == "adapter":
                self.advance()
                node.adapter = self.string("adapter name")
            else:
                key = self.any_token()
                if self.tok.kind in (NEWLINE, "}", EOF):
                    self.error(self.tok, f"expected a value for binding key {key!r}")
                    return True
                node.config_pos[key] = pos(tok)
                node.config[key] = self.any_token()
            return True

        self.block("binding", item)
        return node

    # ------------------------------------------------------------------ [ext] user, guardrail, state
    def stmt_user(self, token: Token) -> ast.User:
        node = ast.User(*self.named(token, "user"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            self.advance()
            if kind == "key":
                if self.accept("secret"):
                    self.expect("(")
                    node.key = self.string("secret key reference")
                    self.expect(")")
                else:
                    node.key = self.string("key reference")
            elif kind == "agents":
                where = pos(self.tok)
                node.agents = [ast.Ref(name, where) for name in self.strlist()]
            elif kind == "role":
                node.role = self.string("role")
            else:
                self.i -= 1
                return False
            return True

        self.block("user", item, "expected 'key', 'agents', or 'role'")
        return node

    def stmt_guardrail(self, token: Token) -> ast.Guardrail:
        node = ast.Guardrail(*self.named(token, "guardrail"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            self.advance()
            if kind == "mode":
                node.mode = self.string("mode")
            elif kind in ("keywords", "patterns"):
                setattr(node, kind, self.strlist())
            elif kind == "fallback":
                node.fallback = self.string("fallback message")
            else:
                self.i -= 1
                return False
            return True

        self.block("guardrail", item, "expected 'mode', 'keywords', 'patterns', or 'fallback'")
        return node

    def stmt_state(self, token: Token) -> ast.State:
        where = pos(self.tok)
        name = self.advance().text if self.tok.kind == STRING else ""
        node = ast.State(pos(token), name, where)

        def item(tok: Token) -> bool:
            key = self.any_token()
            if key == "type":
                node.type = self.string("backend type")
            else:
                node.properties[key] = self.string(f"{key} value")
            return True

        self.block("state", item)
        return node
