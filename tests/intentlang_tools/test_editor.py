"""``editors/vscode``: valid JSON, a grammar covering every keyword, snippets that parse."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agentspec.lang.intentlang.format import format_source
from agentspec.lang.intentlang.lexer import KEYWORDS

from .conftest import REPO

VSCODE = REPO / "editors" / "vscode"
JSON_FILES = ["package.json", "language-configuration.json", "snippets/intentlang.json",
              "syntaxes/intentlang.tmLanguage.json"]  # fmt: skip


def _load(name: str) -> Any:
    return json.loads((VSCODE / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", JSON_FILES)
def test_json_files_parse(name: str) -> None:
    assert _load(name)


def test_package_json_contributes_the_language() -> None:
    package = _load("package.json")
    contributes = package["contributes"]
    [language] = contributes["languages"]
    assert language["id"] == "intentlang" and language["extensions"] == [".ias"]
    assert (VSCODE / language["configuration"]).is_file()
    [grammar] = contributes["grammars"]
    assert grammar["scopeName"] == _load("syntaxes/intentlang.tmLanguage.json")["scopeName"]
    assert (VSCODE / grammar["path"]).is_file()
    assert (VSCODE / contributes["snippets"][0]["path"]).is_file()
    assert "intentlang.server.command" in contributes["configuration"]["properties"]
    assert "vscode-languageclient" in package["dependencies"]
    assert (VSCODE / package["main"]).is_file()
    assert "agentspec" in (VSCODE / package["main"]).read_text(encoding="utf-8")
    assert (VSCODE / "README.md").is_file()


def _patterns(node: Any) -> list[tuple[str, str]]:
    """Every (scope name, match regex) in the grammar."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if "match" in node:
            names = [node.get("name", "")]
            names += [c.get("name", "") for c in node.get("captures", {}).values()]
            found.append((" ".join(names), node["match"]))
        for value in node.values():
            found.extend(_patterns(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_patterns(value))
    return found


def test_grammar_highlights_every_keyword_the_lexer_knows() -> None:
    grammar = _load("syntaxes/intentlang.tmLanguage.json")
    keyword_patterns = [
        re.compile(regex)
        for scope, regex in _patterns(grammar)
        if any(part in scope for part in ("keyword", "constant.language", "storage"))
    ]
    missing = [
        word
        for word in sorted(KEYWORDS)
        if not any((m := p.search(word)) and m.group(0).strip() == word for p in keyword_patterns)
    ]
    assert missing == []


def test_grammar_does_not_highlight_keywords_inside_identifiers() -> None:
    grammar = _load("syntaxes/intentlang.tmLanguage.json")
    keywords = grammar["repository"]["keywords"]["patterns"]
    attribute = next(p for p in keywords if p["name"].startswith("keyword.other"))
    assert re.search(attribute["match"], "model-x") is None
    assert re.search(attribute["match"], "model x")


def test_comment_and_string_rules() -> None:
    repo = _load("syntaxes/intentlang.tmLanguage.json")["repository"]
    matches = [p["match"] for p in repo["comments"]["patterns"]]
    assert any(re.fullmatch(m, "# hi") for m in matches)
    assert any(re.fullmatch(m, "// hi") for m in matches)
    assert _load("language-configuration.json")["comments"]["lineComment"] == "#"


def _expand(body: list[str]) -> str:
    """Replace ``${1:default}`` / ``$0`` placeholders by their defaults."""
    text = "\n".join(body)
    while True:
        new = re.sub(r"\$\{\d+:([^${}]*(?:\{\{[^}]*\}\}[^${}]*)*)\}", r"\1", text)
        if new == text:
            break
        text = new
    return re.sub(r"\$\d+", "", text)


@pytest.mark.parametrize(
    "name", sorted(json.loads((VSCODE / "snippets/intentlang.json").read_text()))
)
def test_every_snippet_expands_to_valid_syntax(name: str) -> None:
    snippet = _load("snippets/intentlang.json")[name]
    body = _expand(snippet["body"])
    text = body if body.startswith("package") else 'package "s" version "1" lang "2.0"\n' + body
    if body.startswith("delegate"):
        text = 'package "s" version "1" lang "2.0"\nagent "a" {\n' + body + "\n}\n"
    format_source(text, f"{name}.ias")  # raises SpecError on any syntax error
