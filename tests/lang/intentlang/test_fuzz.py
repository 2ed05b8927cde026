"""Property tests: no input makes the front-end raise anything but SpecError."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentspec.exceptions import SpecError
from agentspec.lang.intentlang import load_intentlang
from agentspec.lang.intentlang.lexer import KEYWORDS
from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import validate

from .conftest import APPENDIX_A

PIECES = [
    *sorted(KEYWORDS),
    *"{}[](),.:",
    "==", "<", "\n", "\n", "\n", '"x"', '"a/b"', '""', '"{{v}}"', "42", "-1.5", "1.2.3",
    "name", "gpt-4o", '"gpt-4o"', '"scripted"', '"p"', '"s"', '"a"', "# c\n", "// c\n",
    'package "p" version "1" lang "2.0"\n', 'lang "1.0"', "\\", "=", '"unterminated',
]  # fmt: skip

soups = st.lists(st.sampled_from(PIECES), max_size=60).map(" ".join)
fast = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(text: str, tmp: Path) -> None:
    tree, errors = parse(text, "f.ias")
    if not errors:
        validate(tree)
    path = tmp / "f.ias"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(SpecError):
        load_intentlang(path)


@fast
@given(st.text(max_size=300))
def test_arbitrary_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    _run(text, tmp_path_factory.mktemp("t"))


@fast
@given(soups)
def test_token_soup(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    _run(text, tmp_path_factory.mktemp("t"))


@fast
@given(st.integers(0, len(APPENDIX_A)), st.integers(0, 40), st.sampled_from(PIECES))
def test_mutated_appendix_a(
    tmp_path_factory: pytest.TempPathFactory, at: int, cut: int, piece: str
) -> None:
    text = APPENDIX_A[:at] + piece + APPENDIX_A[at + cut :]
    _run(text, tmp_path_factory.mktemp("t"))


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = 'package "p" version "1" lang "2.0"\nagent "a" { on input {' + " if x {" * 3000
    _, errors = parse(text, "f.ias")
    assert any("nested too deeply" in e.message for e in errors)
