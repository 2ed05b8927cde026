"""``format_source``: golden files, idempotency on the repository, comments, exact round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.ir import ir_hash
from agentspec.lang.intentlang.format import (
    ast_key,
    format_source,
    number,
    parse_with_comments,
    quote,
)
from agentspec.lang.intentlang.lower import Lowering
from agentspec.lang.intentlang.parser import parse

from .conftest import GOLDEN, repo_ias_files

INPUTS = sorted(p for p in GOLDEN.glob("*.ias") if not p.name.endswith(".formatted.ias"))


def test_there_are_golden_files() -> None:
    assert len(INPUTS) >= 5


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    expected = path.with_name(path.stem + ".formatted.ias").read_text(encoding="utf-8")
    assert format_source(path.read_text(encoding="utf-8"), str(path)) == expected


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_golden_output_is_a_fixed_point_with_the_same_tree(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    formatted = format_source(source, str(path))
    assert format_source(formatted, str(path)) == formatted
    before, errors_before = parse(source, "x.ias")
    after, errors_after = parse(formatted, "x.ias")
    assert not errors_before and not errors_after
    assert ast_key(before) == ast_key(after)


REPO_FILES = repo_ias_files()


def test_the_repository_has_ias_files() -> None:
    assert any(p.name == "quickstart.ias" for p in REPO_FILES)


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.name))
def test_fmt_is_idempotent_on_every_repository_file(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    try:
        once = format_source(source, str(path))
    except SpecError as exc:  # deliberately broken fixtures: refusing is the contract
        assert exc.diagnostics
        return
    assert format_source(once, str(path)) == once


def test_same_ir_hash_after_formatting() -> None:
    source = (GOLDEN / "appendix_a.ias").read_text(encoding="utf-8")
    before, _ = parse(source, "a.ias")
    after, _ = parse(format_source(source, "a.ias"), "a.ias")
    assert ir_hash(Lowering(before).run()) == ir_hash(Lowering(after).run())


def _comments(text: str) -> list[str]:
    return [c.text for c in parse_with_comments(text, "c.ias")[1]]


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_every_comment_is_kept(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    formatted = format_source(source, str(path))
    assert sorted(_comments(formatted)) == sorted(_comments(source))


def test_comment_placement() -> None:
    formatted = (GOLDEN / "comments.formatted.ias").read_text(encoding="utf-8")
    assert '  content "hi"  # after content\n' in formatted
    assert '  model "gpt-4o"  # the model\n' in formatted
    assert "  max_turns 3  # three turns\n" in formatted
    assert "}  # closing the agent\n" in formatted
    assert formatted.index("# Before the prompt.") < formatted.index('prompt "p"')
    assert formatted.rstrip().endswith("# At the end of the file.")


def test_syntax_errors_are_refused_with_every_error() -> None:
    source = 'package "p" version "1" lang "2.0"\nagent "a" { model gpt4 }\nprompt x\n'
    with pytest.raises(SpecError) as info:
        format_source(source, "bad.ias")
    messages = [str(d) for d in info.value.diagnostics]
    assert messages[0].startswith("bad.ias:2:19: expected string for model, got Ident")
    assert any(m.startswith("bad.ias:3:8:") for m in messages)


def test_lexer_errors_are_refused_at_their_position() -> None:
    with pytest.raises(SpecError) as info:
        format_source('package "p" version "1" lang "2.0"\nagent "a" { model = "x" }\n', "b.ias")
    assert str(info.value.diagnostics[0]).startswith("b.ias:2:19: unexpected character '='")


def test_lang_1_0_is_refused_with_the_migration_hint() -> None:
    with pytest.raises(SpecError) as info:
        format_source('package "p" version "1" lang "1.0"\n', "old.ias")
    assert "agentspec migrate --to-v2" in str(info.value)


def test_empty_file_formats_to_empty() -> None:
    assert format_source("", "e.ias") == ""
    assert format_source("\n\n# only a comment\n", "e.ias") == "# only a comment\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.3, "0.3"), (1e-07, "0.0000001"), (1e16, "10000000000000000"), (2, "2"), (-0.5, "-0.5")],
)
def test_numbers_are_plain_decimals_that_re_lex(value: float, text: str) -> None:
    assert number(value) == text
    assert float(text) == value


def test_quote_escapes_only_what_the_lexer_needs() -> None:
    assert quote('a "b" \\ c\td\ne') == '"a \\"b\\" \\\\ c\\td\ne"'


def test_normalisations() -> None:
    source = (
        'package "n" version "1" lang "2.0"\n'
        'agent "a" { prompt p loop "react" connects "c" delegate "b" }\n'
        'server "s" { transport stdio command "x" args "one" exposes "k" }\n'
    )
    formatted = format_source(source, "n.ias")
    for line in (
        'uses prompt "p"',
        'strategy "react"',
        'connects to client "c"',
        'delegate to agent "b"',
        'transport "stdio"',
        'args ["one"]',
        'exposes skill "k"',
    ):
        assert f"  {line}\n" in formatted


def test_crlf_sources_format_to_lf() -> None:
    source = 'package "p" version "1" lang "2.0"\r\nprompt "x" { content "hi" }\r\n'
    assert "\r" not in format_source(source, "w.ias")
