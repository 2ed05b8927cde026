"""``agentspec fmt`` as a real subprocess: writing, --check, --diff and every error."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import GOLDEN, REPO, cli

UGLY = 'package "p" version "1" lang "2.0"\nprompt "x" { content "hi" }  # keep me\n'
PRETTY = 'package "p" version "1" lang "2.0"\n\nprompt "x" {  # keep me\n  content "hi"\n}\n'


def test_fmt_rewrites_in_place(tmp_path: Path) -> None:
    path = tmp_path / "a.ias"
    path.write_text(UGLY, encoding="utf-8")
    result = cli("fmt", str(path))
    assert result.returncode == 0, result.stderr
    assert f"formatted {path}" in result.stdout
    assert "1 file(s), 1 reformatted" in result.stderr
    assert path.read_text(encoding="utf-8") == PRETTY
    again = cli("fmt", str(path))
    assert again.returncode == 0 and "1 file(s), 0 reformatted" in again.stderr


def test_fmt_check_lists_files_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "ugly.ias").write_text(UGLY, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pretty.ias").write_text(PRETTY, encoding="utf-8")
    result = cli("fmt", "--check", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path / 'ugly.ias'}: needs formatting\n"
    assert "2 file(s), 1 to reformat" in result.stderr
    assert (tmp_path / "ugly.ias").read_text(encoding="utf-8") == UGLY
    (tmp_path / "ugly.ias").write_text(PRETTY, encoding="utf-8")
    assert cli("fmt", "--check", str(tmp_path)).returncode == 0


def test_fmt_diff_prints_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.ias"
    path.write_text(UGLY, encoding="utf-8")
    result = cli("fmt", "--diff", str(path))
    assert result.returncode == 0
    assert f"--- {path}\n+++ {path} (formatted)\n" in result.stdout
    assert '+prompt "x" {  # keep me' in result.stdout
    assert path.read_text(encoding="utf-8") == UGLY


def test_fmt_refuses_files_with_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.ias"
    text = 'package "p" version "1" lang "2.0"\nagent "a" { model gpt4 }\n'
    path.write_text(text, encoding="utf-8")
    good = tmp_path / "good.ias"
    good.write_text(UGLY, encoding="utf-8")
    result = cli("fmt", str(tmp_path))
    assert result.returncode == 2
    assert f"{path}:2:19: expected string for model, got Ident" in result.stderr
    assert f"{path}: not formatted (fix the errors above first)" in result.stderr
    assert "2 file(s), 1 reformatted, 1 with errors" in result.stderr
    assert path.read_text(encoding="utf-8") == text  # never a broken write
    assert good.read_text(encoding="utf-8") == PRETTY  # the others are still formatted


def test_fmt_refuses_what_it_cannot_reproduce(tmp_path: Path) -> None:
    path = tmp_path / "expr.ias"
    text = (
        'package "p" version "1" lang "3.0"\n'
        'agent "a" {\n  validate {\n    rule r error when output == "say \\"hi\\""\n  }\n}\n'
    )
    path.write_text(text, encoding="utf-8")
    result = cli("fmt", str(path))
    assert result.returncode == 2
    assert f"{path}:2:1: this statement cannot be formatted canonically" in result.stderr
    assert path.read_text(encoding="utf-8") == text


def test_fmt_usage_errors(tmp_path: Path) -> None:
    missing = cli("fmt", str(tmp_path / "nope.ias"))
    assert missing.returncode == 2 and "nope.ias: no such file or directory" in missing.stderr
    other = tmp_path / "x.txt"
    other.write_text("hi", encoding="utf-8")
    wrong = cli("fmt", str(other))
    assert wrong.returncode == 2
    assert "x.txt: not an IntentLang file (expected a .ias file or a directory)" in wrong.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("fmt", str(empty))
    assert none.returncode == 2 and f"error: no .ias files found in {empty}" in none.stderr
    binary = tmp_path / "bin.ias"
    binary.write_bytes(b"\xff\xfe\x00")
    unreadable = cli("fmt", str(binary))
    assert unreadable.returncode == 2 and f"{binary}: cannot read:" in unreadable.stderr


def test_fmt_check_on_the_golden_outputs(tmp_path: Path) -> None:
    for path in GOLDEN.glob("*.formatted.ias"):
        shutil.copy(path, tmp_path / path.name)
    assert cli("fmt", "--check", str(tmp_path)).returncode == 0


def test_help_lists_the_commands() -> None:
    result = cli("--help")
    for command in ("fmt", "migrate", "export", "lsp"):
        assert command in result.stdout
    assert (REPO / "editors" / "vscode" / "package.json").is_file()
