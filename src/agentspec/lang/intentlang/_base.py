"""Token-stream helpers shared by the parser modules (value classes of §3.2)."""

from __future__ import annotations

from collections.abc import Callable

from agentspec.exceptions import Diagnostic
from agentspec.lang.intentlang.ast import Field, Pos
from agentspec.lang.intentlang.lexer import EOF, NEWLINE, NUMBER, STRING, Token

_NOT_WORD = frozenset({NUMBER, NEWLINE, EOF, "{", "}", "[", "]", "(", ")", ",", ".", ":"})


def pos(token: Token) -> Pos:
    return Pos(token.file, token.line, token.column)


class ParserBase:
    """Cursor over the tokens, with error recording and the value-class readers."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.errors: list[Diagnostic] = []
        self.depth = 0

    # ------------------------------------------------------------------ cursor
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != EOF:
            self.i += 1
        return token

    def accept(self, kind: str) -> Token | None:
        return self.advance() if self.tok.kind == kind else None

    def skip_newlines(self) -> None:
        while self.tok.kind == NEWLINE:
            self.i += 1

    def error(self, token: Token, message: str, hint: str = "") -> None:
        self.errors.append(Diagnostic(token.file, token.line, token.column, message, hint))

    def expect(self, kind: str) -> bool:
        if self.tok.kind == kind:
            self.advance()
            return True
        self.error(self.tok, f"expected {kind}, got {self.tok.kind}")
        return False

    def _bad(self, ctx: str, wanted: str) -> Token:
        """Record a type mismatch; consume the token unless it closes a block or the file."""
        token = self.tok
        self.error(token, f"expected {wanted} for {ctx}, got {token.kind}")
        if token.kind not in ("}", EOF):
            self.advance()
        return token

    # ------------------------------------------------------------------ values
    def string(self, ctx: str) -> str:
        if self.tok.kind == STRING:
            return self.advance().text
        token = self._bad(ctx, "string")
        return "" if token.kind in (NEWLINE, "}", EOF) else token.text

    def string_at(self, ctx: str) -> tuple[str, Pos]:
        where = pos(self.tok)
        return self.string(ctx), where

    def word(self, ctx: str) -> str:
        if self.tok.kind not in _NOT_WORD:
            return self.advance().text
        token = self._bad(ctx, "string or identifier")
        return "" if token.kind in (NEWLINE, "}", EOF) else token.text

    def any_token(self) -> str:
        return self.advance().text

    def number(self, ctx: str, convert: Callable[[str], float | int], what: str) -> float | int:
        if self.tok.kind != NUMBER:
            self._bad(ctx, "number")
            return 0
        text = self.advance().text
        try:
            return convert(text)
        except ValueError:
            self.error(self.tok, f'invalid {what} for {ctx}: "{text}"')
            return 0

    def integer(self, ctx: str) -> int:
        value = self.number(ctx, int, "integer")
        if not -(2**63) <= int(value) < 2**63:
            self.error(self.tok, f'invalid integer for {ctx}: "{value}"')
            return 0
        return int(value)

    def floating(self, ctx: str) -> float:
        return float(self.number(ctx, _go_float, "float"))

    def boolean(self, ctx: str) -> bool:
        if self.tok.kind in ("true", "false"):
            return self.advance().kind == "true"
        self._bad(ctx, "true/false")
        return False

    def strlist(self, ctx: str = "list item") -> list[str]:
        """``[ "a", "b" ]`` on one line (commas optional) or one bare string."""
        if self.tok.kind == STRING:
            return [self.advance().text]
        if self.tok.kind != "[":
            self._bad("argument", "string")
            return []
        self.advance()
        items: list[str] = []
        while self.tok.kind not in ("]", EOF):
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind == STRING:
                items.append(self.advance().text)
            else:
                token = self._bad(ctx, "string")
                if token.kind in (NEWLINE, "}", EOF):
                    return items
        self.expect("]")
        return items

    def mapping(self, into: dict[str, str]) -> None:
        """``{ key value ... }``; silently ignored when ``{`` is not on this line (§3.1)."""
        if self.tok.kind != "{":
            return
        self.advance()
        while True:
            self.skip_newlines()
            if self.tok.kind in ("}", EOF):
                break
            key = self.any_token()
            self.skip_newlines()
            into[key] = self.word("metadata value")
        self.expect("}")

    def block(self, ctx: str, item: Callable[[Token], bool], hint: str = "") -> bool:
        """``{NL} "{" { NL | item } "}"``: unknown items are recorded and skipped (one token)."""
        self.skip_newlines()
        if not self.expect("{"):
            return False
        while True:
            self.skip_newlines()
            token = self.tok
            if token.kind == "}":
                self.advance()
                return True
            if token.kind == EOF:
                self.error(token, "expected }, got EOF", f"the {ctx} block is not closed")
                return True
            if not item(token):
                self.error(token, f"unexpected token {token.kind} in {ctx} block", hint)
                self.advance()

    def fields(self, ctx: str, *, modifiers: bool) -> list[Field]:
        """Lines ``name type [required] [default "v"]`` in a block."""
        found: list[Field] = []

        def item(token: Token) -> bool:
            name = self.any_token()
            if self.tok.kind in (NEWLINE, "}", EOF):
                self.error(self.tok, f"expected a type after {ctx} field {name!r}")
                return True
            entry = Field(name, self.any_token(), pos(token))
            while self.tok.kind in ("required", "default"):
                if self.advance().kind == "required":
                    entry.required = True
                elif modifiers:
                    entry.default = self.string("default value")
                else:
                    self.i -= 1
                    break
            found.append(entry)
            return True

        self.block(ctx, item)
        return found


def _go_float(text: str) -> float:
    if not text or any(c not in "0123456789.-" for c in text) or "-" in text[1:]:
        raise ValueError(text)
    return float(text)
