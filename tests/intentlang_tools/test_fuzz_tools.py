"""Property tests for the tools, on the same inputs as ``tests/lang/intentlang/test_fuzz.py``.

Arbitrary text and keyword token soup never make ``fmt`` or ``migrate`` raise anything but a
clean ``SpecError``; when ``fmt`` accepts a file its output parses back to the same tree
(hence the same IR) and is a fixed point.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentspec.exceptions import SpecError
from agentspec.lang.intentlang.format import ast_key, format_source
from agentspec.lang.intentlang.migrate import migrate_source
from agentspec.lang.intentlang.parser import parse
from tests.lang.intentlang.conftest import APPENDIX_A
from tests.lang.intentlang.test_fuzz import PIECES, soups

fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXTRA = ["# note\n", "}  # c\n", '"a \\" b"', '"x\ny"', "respond", '"\\d"', "1e5", "\t"]
rich_soups = st.lists(st.sampled_from([*PIECES, *EXTRA]), max_size=80).map(" ".join)


def _check(text: str) -> None:
    try:
        formatted = format_source(text, "f.ias")
    except SpecError as exc:
        assert exc.diagnostics and all(d.message for d in exc.diagnostics)
        # Refused only for syntax errors, or for the one documented limitation.
        if not parse(text, "f.ias")[1]:
            assert "cannot be formatted canonically" in exc.diagnostics[0].message
            assert '\\"' in text or "\\\\" in text
    else:
        tree, errors = parse(text, "f.ias")
        again, errors_again = parse(formatted, "f.ias")
        assert not errors and not errors_again
        assert ast_key(again) == ast_key(tree)
        assert format_source(formatted, "f.ias") == formatted
    result = migrate_source(text, "f.ias")
    assert result.status in ("migrated", "current", "error")
    if result.status == "migrated":
        assert not parse(result.text, "f.ias")[1]


@fast
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@fast
@given(soups)
def test_token_soup(text: str) -> None:
    _check(text)


@fast
@given(rich_soups)
def test_token_soup_with_comments_and_escapes(text: str) -> None:
    _check('package "p" version "1" lang "2.0"\n' + text)


@fast
@given(st.integers(0, len(APPENDIX_A)), st.integers(0, 40), st.sampled_from([*PIECES, *EXTRA]))
def test_mutated_appendix_a(at: int, cut: int, piece: str) -> None:
    _check(APPENDIX_A[:at] + piece + APPENDIX_A[at + cut :])


@fast
@given(st.sampled_from(["1.0", ""]), st.integers(0, len(APPENDIX_A)), st.sampled_from(PIECES))
def test_migrating_legacy_variants(lang: str, at: int, piece: str) -> None:
    body = APPENDIX_A.split("\n", 1)[1]
    header = f'package "h" version "1" lang "{lang}"\n' if lang else 'package "h" version "1"\n'
    _check(header + body[:at] + piece + body[at:])
