"""The IntentLang lexer (``shared/INTENTLANG.md`` §2), hand-written.

Tokens carry ``file``, ``line`` and ``column`` (1-based, columns count code points, a tab is
one column). ``NEWLINE`` is a real token because the grammar depends on it (§3.1). Keywords
are their own token kinds, named by their spelling. Lexer errors raise :class:`LexError`
located at the offending character (not at 1:1 like the original toolchain).
"""

from __future__ import annotations

from dataclasses import dataclass

KEYWORDS = frozenset(
    [
        "package",
        "version",
        "lang",
        "prompt",
        "skill",
        "agent",
        "uses",
        "model",
        "input",
        "output",
        "description",
        "content",
        "default",
        "secret",
        "environment",
        "policy",
        "plugin",
        "server",
        "client",
        "connects",
        "exposes",
        "env",
        "store",
        "command",
        "require",
        "deny",
        "allow",
        "to",
        "true",
        "false",
        "required",
        "import",
        "transport",
        "url",
        "auth",
        "args",
        "metadata",
        "tool",
        "deploy",
        "target",
        "pipeline",
        "step",
        "delegate",
        "type",
        "strategy",
        "max_turns",
        "timeout",
        "token_budget",
        "temperature",
        "stream",
        "parallel",
        "depends_on",
        "from",
        "when",
        "health",
        "autoscale",
        "resources",
        "memory",
        "on_error",
        "max_retries",
        "fallback",
        "variables",
        "enum",
        "list",
        "mcp",
        "http",
        "inline",
        "method",
        "headers",
        "body_template",
        "binary",
        "language",
        "code",
        "port",
        "namespace",
        "replicas",
        "image",
        "secrets",
        "binding",
        "adapter",
        "execution",
        "as",
        "if",
        "else",
        "for",
        "each",
        "in",
        "config",
        "validate",
        "eval",
        "rule",
        "case",
        "on",
        "use",
        "with",
        "respond",
        "scoring",
        "threshold",
        "tags",
        "query",
        "loop",
        "user",
        "guardrail",
        "models",
        "budget",
        "agents",
        "keywords",
        "patterns",
        "mode",
        "key",
        "role",
        "daily",
        "monthly",
        "state",
    ]
)

IDENT = "Ident"
STRING = "String"
NUMBER = "Number"
NEWLINE = "Newline"
EOF = "EOF"
PUNCT = frozenset("{}[](),.:")
OPERATORS = ("==", "!=", ">=", "<=", ">", "<")


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``kind`` is ``Ident``/``String``/``Number``/``Newline``/``EOF``, the
    punctuation or operator itself, or the keyword's spelling. ``text`` is the literal text
    (for strings: the unescaped contents)."""

    kind: str
    text: str
    file: str
    line: int
    column: int

    @property
    def is_keyword(self) -> bool:
        return self.kind in KEYWORDS


@dataclass(frozen=True, slots=True)
class Comment:
    """A ``#`` or ``//`` comment (trivia kept only when :func:`tokenize` is asked to).

    ``text`` runs from the marker to the end of the line, trailing whitespace removed.
    """

    text: str
    line: int
    column: int


class LexError(Exception):
    """A lexer error at ``line:column`` of ``file``."""

    def __init__(self, file: str, line: int, column: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _is_ident_start(char: str) -> bool:
    return char == "_" or char.isalpha()


def _is_ident_part(char: str) -> bool:
    return char in "_-" or char.isalpha() or char.isdecimal()


def tokenize(
    text: str, file: str = "<string>", comments: list[Comment] | None = None
) -> list[Token]:
    """Split ``text`` into tokens, ending with one ``EOF`` token.

    Comments are skipped; when a ``comments`` list is given they are appended to it (the
    formatter keeps them), which costs nothing when it is not.

    Raises:
        LexError: at the first illegal character or unterminated string.
    """
    tokens: list[Token] = []
    append = tokens.append
    i, n, line, line_start = 0, len(text), 1, 0
    while i < n:
        char = text[i]
        column = i - line_start + 1
        if char in " \t\r":
            i += 1
        elif char == "\n":
            append(Token(NEWLINE, "\n", file, line, column))
            i += 1
            line += 1
            line_start = i
        elif char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            if comments is not None:
                comments.append(Comment(text[i : n if end < 0 else end].rstrip(), line, column))
            i = n if end < 0 else end
        elif char == '"':
            i, line, line_start = _string(text, i, file, line, line_start, tokens)
        elif (
            char.isascii()
            and char.isdigit()
            or (char == "-" and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit())
        ):
            start = i
            i += 1
            while i < n and (text[i] in ".-" or (text[i].isascii() and text[i].isdigit())):
                i += 1
            append(Token(NUMBER, text[start:i], file, line, column))
        elif _is_ident_start(char):
            start = i
            i += 1
            while i < n and _is_ident_part(text[i]):
                i += 1
            word = text[start:i]
            append(Token(word if word in KEYWORDS else IDENT, word, file, line, column))
        elif char in PUNCT:
            append(Token(char, char, file, line, column))
            i += 1
        else:
            two = text[i : i + 2]
            op = two if two in OPERATORS else char if char in OPERATORS else ""
            if not op:
                hint = ""
                if char == "=":
                    hint = "did you mean '=='? IntentLang writes attributes as 'name value'"
                elif char == "/":
                    hint = "comments start with '#' or '//'; quote values containing '/'"
                elif char == "'":
                    hint = "strings use double quotes"
                raise LexError(file, line, column, f"unexpected character {char!r}", hint)
            append(Token(op, op, file, line, column))
            i += len(op)
    last = tokens[-1] if tokens else None
    if last is None:
        append(Token(EOF, "", file, 1, 1))
    else:
        append(Token(EOF, "", file, line, n - line_start + 1))
    return tokens


def _string(
    text: str, i: int, file: str, line: int, line_start: int, tokens: list[Token]
) -> tuple[int, int, int]:
    """Lex the string opening at ``text[i]``; return the new index, line and line start."""
    start_line, start_column = line, i - line_start + 1
    parts: list[str] = []
    i += 1
    n = len(text)
    while True:
        end = i
        while end < n and text[end] not in '"\\\n':
            end += 1
        parts.append(text[i:end])
        if end >= n:
            raise LexError(file, start_line, start_column, "unterminated string")
        char = text[end]
        if char == '"':
            tokens.append(Token(STRING, "".join(parts), file, start_line, start_column))
            return end + 1, line, line_start
        if char == "\n":
            parts.append("\n")
            line += 1
            i = line_start = end + 1
            continue
        if end + 1 >= n:
            raise LexError(file, line, end - line_start + 2, "unterminated string escape")
        escaped = text[end + 1]
        if escaped == "\n":
            parts.append("\\\n")
            line += 1
            i = line_start = end + 2
            continue
        parts.append(_ESCAPES.get(escaped, "\\" + escaped))
        i = end + 2


def describe(token: Token) -> str:
    """How a token kind is printed in messages (``EOF``, ``Newline``, ``Ident``, ``model``)."""
    return token.kind
