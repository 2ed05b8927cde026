"""The IntentLang lexer (§2)."""

from __future__ import annotations

import pytest

from agentspec.lang.intentlang.lexer import LexError, tokenize


def kinds(text: str) -> list[str]:
    return [t.kind for t in tokenize(text)]


def test_keywords_identifiers_and_positions() -> None:
    tokens = tokenize('agent "a" {\n\tmodel claude-haiku-3 Agent x_1\n}', "f.ias")
    assert [t.kind for t in tokens] == [
        "agent", "String", "{", "Newline", "model", "Ident", "Ident", "Ident", "Newline", "}", "EOF",
    ]  # fmt: skip
    model = tokens[4]
    assert (model.file, model.line, model.column) == ("f.ias", 2, 2)
    assert tokens[5].text == "claude-haiku-3"


def test_columns_count_code_points() -> None:
    tokens = tokenize('"héllo" x')
    assert tokens[1].column == 9


def test_comments() -> None:
    assert kinds('a # b "c"\n// d\nx "#not" // y') == [
        "Ident", "Newline", "Newline", "Ident", "String", "EOF",
    ]  # fmt: skip
    assert tokenize('"#not"')[0].text == "#not"


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"a\\b"', "a\\b"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"\d+"', "\\d+"),
        ('"two\nlines"', "two\nlines"),
    ],
)
def test_string_escapes(source: str, value: str) -> None:
    assert tokenize(source)[0].text == value


def test_triple_quotes_are_three_strings() -> None:
    assert [t.text for t in tokenize('"""x"""')[:-1]] == ["", "x", ""]


def test_multiline_string_advances_lines() -> None:
    tokens = tokenize('"a\nb" x')
    assert (tokens[1].line, tokens[1].column) == (2, 4)


@pytest.mark.parametrize(
    ("source", "texts"),
    [
        ("42", ["42"]),
        ("-0.5", ["-0.5"]),
        ("1.2.3", ["1.2.3"]),
        ("1-2", ["1-2"]),
        ("007", ["007"]),
    ],
)
def test_numbers(source: str, texts: list[str]) -> None:
    tokens = tokenize(source)
    assert [t.text for t in tokens[:-1]] == texts
    assert tokens[0].kind == "Number"


def test_exponent_is_not_number_syntax() -> None:
    assert kinds("1e5") == ["Number", "Ident", "EOF"]


def test_operators_and_punctuation() -> None:
    assert kinds("== != >= <= > < { } [ ] ( ) , . :")[:-1] == [
        "==", "!=", ">=", "<=", ">", "<", "{", "}", "[", "]", "(", ")", ",", ".", ":",
    ]  # fmt: skip


def test_crlf() -> None:
    assert kinds("a\r\nb") == ["Ident", "Newline", "Ident", "EOF"]


@pytest.mark.parametrize(
    ("source", "where", "message"),
    [
        ('agent "a" {\n  model / x', (2, 9), "unexpected character '/'"),
        ("x = 1", (1, 3), "unexpected character '='"),
        ("x !", (1, 3), "unexpected character '!'"),
        ("a - b", (1, 3), "unexpected character '-'"),
        ('x "abc', (1, 3), "unterminated string"),
        ('"abc\\', (1, 6), "unterminated string escape"),
        ("'x'", (1, 1), 'unexpected character "\'"'),
    ],
)
def test_errors_at_the_real_position(source: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(LexError) as info:
        tokenize(source, "f.ias")
    assert (info.value.line, info.value.column) == where
    assert info.value.message == message


def test_equals_hint() -> None:
    with pytest.raises(LexError) as info:
        tokenize("a = b")
    assert "==" in info.value.hint


def test_empty_input() -> None:
    tokens = tokenize("")
    assert [(t.kind, t.line, t.column) for t in tokens] == [("EOF", 1, 1)]
