"""Parser for ``agent`` blocks, including the [ext] ``config``/``validate``/``eval``/``on input``."""

from __future__ import annotations

from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang._base import ParserBase, pos
from agentspec.lang.intentlang.lexer import EOF, IDENT, NEWLINE, STRING, Token

MAX_DEPTH = 100
"""Deepest ``if``/``for`` nesting accepted in ``on input`` (keeps the parser off the C stack)."""
_FLOW_HINT = "expected 'use', 'delegate', 'respond', 'if', or 'for'"


class AgentParser(ParserBase):
    """``agent "name" { ... }`` (§4.5, §5)."""

    def stmt_agent(self, token: Token) -> ast.Agent:
        node = ast.Agent(pos(token), *self.string_at("agent name"))

        def item(tok: Token) -> bool:
            kind = tok.kind
            self.advance()
            if kind == "uses":
                self.uses(node)
            elif kind == "model":
                node.model_pos = pos(self.tok)
                node.model = self.string("model")
            elif kind == "models":
                node.ext_pos.append(("models", pos(tok)))
                node.models = self.strlist()
            elif kind == "connects":
                self.accept("to")
                self.accept("client")
                node.client = ast.Ref(*self.string_at("client reference"))
            elif kind in ("strategy", "loop"):
                node.strategy_pos = pos(self.tok)
                node.strategy = self.string("strategy" if kind == "strategy" else "loop strategy")
            elif kind in ("max_turns", "token_budget", "max_retries"):
                setattr(node, kind, self.integer(kind))
            elif kind == "timeout":
                node.timeout = self.string("timeout")
            elif kind == "temperature":
                node.temperature = self.floating("temperature")
            elif kind == "stream":
                node.stream = self.boolean("stream")
            elif kind == "on_error":
                node.on_error = self.string("on_error")
            elif kind == "fallback":
                node.fallback = ast.Ref(*self.string_at("fallback agent"))
            elif kind == "memory":
                node.memory = self.memory()
            elif kind == "delegate":
                self.accept("to")
                self.accept("agent")
                delegate = ast.Delegate(ast.Ref(*self.string_at("delegate agent name")))
                if self.accept("when"):
                    delegate.condition = self.string("delegate condition")
                node.delegates.append(delegate)
            elif kind == "metadata":
                self.mapping(node.metadata)
            elif kind == "budget":
                node.ext_pos.append(("budget", pos(tok)))
                self.budget(node)
            elif kind == "prompt":
                node.prompt = ast.Ref(pos=pos(self.tok), name=self.word("prompt reference"))
            elif kind == "config":
                node.ext_pos.append(("config", pos(tok)))
                node.config = [*(node.config or []), *self.config()]
            elif kind == "validate":
                node.ext_pos.append(("validate", pos(tok)))
                node.rules = [*(node.rules or []), *self.rules()]
            elif kind == "eval":
                node.ext_pos.append(("eval", pos(tok)))
                node.evals = [*(node.evals or []), *self.evals()]
            elif kind == "on":
                node.ext_pos.append(("on input", pos(tok)))
                if not self.accept("input"):
                    self.error(self.tok, "expected 'input' after 'on'")
                else:
                    node.on_input = [*(node.on_input or []), *self.flow_block("on input")]
            else:
                self.i -= 1
                return False
            return True

        self.block("agent", item)
        return node

    def uses(self, node: ast.Agent) -> None:
        kind = self.tok.kind
        if kind not in ("prompt", "skill", "guardrail"):
            self.error(self.tok, "expected 'prompt', 'skill', or 'guardrail' after 'uses'")
            return
        keyword = self.advance()
        ref = ast.Ref(*self.string_at(f"{kind} reference"))
        if kind == "prompt":
            node.prompt = ref
        elif kind == "skill":
            node.skills.append(ref)
        else:
            node.ext_pos.append(("uses guardrail", pos(keyword)))
            node.guardrails.append(ref)

    def memory(self) -> dict[str, str | int]:
        values: dict[str, str | int] = {}

        def item(tok: Token) -> bool:
            if tok.kind == "strategy":
                self.advance()
                values["strategy"] = self.string("memory strategy")
            elif tok.text == "max_messages":
                self.advance()
                values["max_messages"] = self.integer("max_messages")
            else:
                return False
            return True

        self.block("memory", item)
        return values

    def budget(self, node: ast.Agent) -> None:
        if self.tok.kind not in ("daily", "monthly"):
            self.error(self.tok, "expected 'daily' or 'monthly' after 'budget'")
            return
        period = self.advance().kind
        setattr(node, f"budget_{period}", self.floating(f"{period} budget"))

    # ------------------------------------------------------------------ [ext] config
    def config(self) -> list[ast.ConfigParam]:
        params: list[ast.ConfigParam] = []

        def item(tok: Token) -> bool:
            name = self.word("config param name")
            param = ast.ConfigParam(name, self.word("config param type"), pos(tok))
            while self.tok.kind in ("required", "secret", "default"):
                modifier = self.advance().kind
                if modifier == "default":
                    if self.tok.kind in (NEWLINE, "}", EOF):
                        self.error(self.tok, f"expected a value for default, got {self.tok.kind}")
                    else:
                        param.default = self.advance().text
                else:
                    setattr(param, modifier, True)
            save = self.i
            self.skip_newlines()
            if self.tok.kind == STRING:
                param.description = self.advance().text
            else:
                self.i = save
            params.append(param)
            return True

        self.block("config", item)
        return params

    # ------------------------------------------------------------------ [ext] validate
    def rules(self) -> list[ast.Rule]:
        rules: list[ast.Rule] = []

        def item(tok: Token) -> bool:
            if tok.kind != "rule":
                return False
            self.advance()
            where = pos(self.tok)
            name = self.word("rule name")
            rule = ast.Rule(name, self.word("rule severity"), where)
            while self.tok.kind not in ("rule", "}", EOF):
                if self.tok.kind == NEWLINE:
                    self.advance()
                elif self.accept("max_retries"):
                    rule.max_retries = self.integer("max_retries")
                elif self.tok.kind == STRING:
                    rule.message = self.advance().text
                elif self.accept("when"):
                    rule.when = self.expression(("rule", "}"))
                else:
                    self.error(self.tok, f"unexpected token {self.tok.kind} in validate block")
                    self.advance()
            rules.append(rule)
            return True

        self.block("validate", item, "expected 'rule'")
        return rules

    # ------------------------------------------------------------------ [ext] eval
    def evals(self) -> list[ast.EvalCase]:
        cases: list[ast.EvalCase] = []

        def item(tok: Token) -> bool:
            if tok.kind != "case":
                return False
            self.advance()
            case = ast.EvalCase("", pos(self.tok))
            case.name = self.word("eval case name")
            while self.tok.kind not in ("case", "}", EOF):
                kind = self.advance().kind
                if kind == NEWLINE:
                    continue
                if kind == "input":
                    case.input = self.string("eval input")
                elif kind == IDENT and self.tokens[self.i - 1].text == "expect":
                    case.expect = self.string("expected output")
                elif kind == "scoring":
                    case.scoring = self.word("scoring method")
                    if self.accept("threshold"):
                        case.threshold = self.floating("threshold")
                elif kind == "tags":
                    case.tags = self.strlist()
                else:
                    self.i -= 1
                    self.error(
                        self.tok,
                        f"unexpected token {self.tok.kind} in eval case",
                        "expected 'input', 'expect', 'scoring', or 'tags'",
                    )
                    self.advance()
            cases.append(case)
            return True

        self.block("eval", item, "expected 'case'")
        return cases

    # ------------------------------------------------------------------ [ext] on input
    def expression(self, stops: tuple[str, ...]) -> str:
        """Tokens up to a stop token, rebuilt as text (§5): strings re-quoted, ``.`` glued."""
        out = ""
        while self.tok.kind not in (*stops, EOF):
            token = self.advance()
            if token.kind == NEWLINE:
                continue
            text = f'"{token.text}"' if token.kind == STRING else token.text
            if token.kind == "." or out.endswith("."):
                out += text
            else:
                out = f"{out} {text}" if out else text
        return out

    def flow_block(self, ctx: str) -> list[ast.Flow]:
        body: list[ast.Flow] = []
        if self.depth >= MAX_DEPTH:
            self.error(self.tok, f"on input blocks are nested too deeply (more than {MAX_DEPTH})")
            while self.tok.kind != EOF:
                self.advance()
            return body
        self.depth += 1

        def item(tok: Token) -> bool:
            flow = self.flow(tok)
            if flow is None:
                return False
            body.append(flow)
            return True

        self.block(ctx, item, _FLOW_HINT)
        self.depth -= 1
        return body

    def flow(self, tok: Token) -> ast.Flow | None:
        kind = tok.kind
        if kind not in ("use", "delegate", "respond", "if", "for"):
            return None
        self.advance()
        flow = ast.Flow(kind, pos(tok))
        if kind == "use":
            self.accept("skill")
            flow.target = self.word("skill name")
            if self.accept("with"):
                self.params(flow.params)
        elif kind == "delegate":
            self.accept("to")
            flow.target = self.word("agent name")
        elif kind == "respond":
            if self.tok.kind == STRING and self.peek().kind in (NEWLINE, "}", EOF):
                flow.expr = f'"{self.advance().text}"'
            else:
                flow.expr = self.expression((NEWLINE, "}"))
        elif kind == "if":
            flow.expr = self.expression(("{",))
            flow.body = self.flow_block("on input")
            while self._else_follows():
                self.skip_newlines()
                self.advance()
                if self.tok.kind == "if":
                    where = pos(self.advance())
                    condition = self.expression(("{",))
                    flow.branches.append((condition, where, self.flow_block("on input")))
                else:
                    flow.orelse = self.flow_block("on input")
                    break
        else:
            self.accept("each")
            if self.tok.kind in ("in", "{", NEWLINE, EOF):
                flow.target = ""
            else:
                flow.target = self.word("loop variable")
            if not self.accept("in"):
                self.error(self.tok, "expected 'in' in for each loop")
            flow.expr = self.expression(("{",))
            flow.body = self.flow_block("on input")
        return flow

    def _else_follows(self) -> bool:
        offset = 0
        while self.peek(offset).kind == NEWLINE:
            offset += 1
        return self.peek(offset).kind == "else"

    def params(self, into: dict[str, str]) -> None:
        self.skip_newlines()
        if not self.expect("{"):
            return
        while True:
            self.skip_newlines()
            if self.tok.kind in ("}", EOF):
                break
            key = self.word("param key")
            self.expect(":")
            into[key] = self.expression((NEWLINE, "}", ","))
            self.accept(",")
        self.expect("}")
