"""``migrate_source`` and ``agentspec migrate --to-v2`` on hand-written IntentLang 1.0 files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.ir import ir_hash
from agentspec.lang.intentlang import load_intentlang
from agentspec.lang.intentlang.format import format_source
from agentspec.lang.intentlang.migrate import migrate_source

from .conftest import FIXTURES, cli

V1 = FIXTURES / "v1"


def test_support_fixture_is_rewritten_without_losing_content() -> None:
    source = (V1 / "support.ias").read_text(encoding="utf-8")
    result = migrate_source(source, "support.ias")
    assert result.status == "migrated"
    text = result.text
    assert 'package "support" version "1.4.0" lang "2.0"' in text
    assert "\n  execution " not in text
    assert 'tool command {  # a script on PATH\n    binary "lookup-order"' in text
    assert 'tool http {\n    url "https://track.example.com/api"' in text
    assert '# migrated: execution python "run.py"' in text
    # Non-routing bindings become deploy targets; every entry is kept.
    assert 'deploy "local" target "process" {\n  port 8080\n  default true\n}' in text
    assert '#   host "0.0.0.0"' in text
    assert 'deploy "cluster" target "kubernetes"' in text
    for kept in (
        'namespace "support"',
        "replicas 3",
        'image "ghcr.io/acme/support:1.4"',
        'cpu "500m"',
    ):
        assert kept in text
    # A routing binding is meaningful in agentspec: kept as is.
    assert 'binding "web" adapter "local-mcp" {\n  agent "desk"\n  channel "web"\n}' in text
    # Comments are kept.
    for comment in ("# Support desk, written for IntentLang 1.0.", "# Looks an order up"):
        assert comment in text
    assert any("execution command -> tool command" in note for note in result.notes)


def test_migrated_file_loads_to_the_ir_of_the_legacy_constructs(tmp_path: Path) -> None:
    """2.0 still reads execution/binding; migrating must not change the package's IR."""
    source = (V1 / "support.ias").read_text(encoding="utf-8")
    legacy = tmp_path / "legacy.ias"
    legacy.write_text(source.replace('lang "1.0"', 'lang "2.0"'), encoding="utf-8")
    migrated = tmp_path / "migrated.ias"
    migrated.write_text(migrate_source(source, "support.ias").text, encoding="utf-8")
    assert ir_hash(load_intentlang(migrated).package) == ir_hash(load_intentlang(legacy).package)


def test_file_without_lang_is_migrated() -> None:
    result = migrate_source((V1 / "no_lang.ias").read_text(encoding="utf-8"), "n.ias")
    assert result.status == "migrated"
    assert 'package "nolang" version "0.9.0" lang "2.0"' in result.text
    assert (
        'deploy "dev" target "docker" {\n  port 9000\n  default true\n  image "acme/bot:dev"'
        in result.text
    )
    assert result.notes[0] == 'added lang "2.0"'


def test_migrated_output_is_formatted() -> None:
    text = migrate_source((V1 / "support.ias").read_text(encoding="utf-8"), "s.ias").text
    assert format_source(text, "s.ias") == text


@pytest.mark.parametrize("lang", ["2.0", "3.0", "banana"])
def test_other_versions_are_left_alone(lang: str) -> None:
    source = f'package "p" version "1" lang "{lang}"\nprompt "x" {{ content "y" }}\n'
    result = migrate_source(source, "p.ias")
    assert result.status == "current" and result.diff() == ""


def test_skill_with_both_tool_and_execution_is_kept_and_reported() -> None:
    source = (
        'package "p" version "1" lang "1.0"\n'
        'skill "s" { description "d" input { a string } output { b string }\n'
        '  execution command "x"\n  tool mcp "srv/t" }\n'
    )
    result = migrate_source(source, "p.ias")
    assert "execution command" in result.text and 'tool mcp "srv/t"' in result.text
    assert any("both execution and tool" in note for note in result.notes)


def test_syntax_errors_are_reported_not_migrated() -> None:
    result = migrate_source('package "p" version "1" lang "1.0"\nagent "a" { model = }\n', "b.ias")
    assert result.status == "error"
    assert str(result.diagnostics[0]).startswith("b.ias:2:19: unexpected character '='")


def test_dry_run_diff() -> None:
    result = migrate_source((V1 / "no_lang.ias").read_text(encoding="utf-8"), "n.ias")
    diff = result.diff()
    assert diff.startswith("--- n.ias\n+++ n.ias (IntentLang 2.0)\n")
    assert '-package "nolang" version "0.9.0"\n+package "nolang" version "0.9.0" lang "2.0"' in diff


def test_lang_1_0_is_rejected_by_load_with_the_hint() -> None:
    with pytest.raises(SpecError) as info:
        load_intentlang(V1 / "support.ias")
    text = str(info.value)
    assert "IntentLang 1.0 is no longer supported" in text
    assert "run 'agentspec migrate --to-v2'" in text


def test_validate_and_run_reject_1_0_with_the_hint() -> None:
    for command in (["validate"], ["run"]):
        result = cli(
            *command, str(V1 / "support.ias"), *(["--input", "hi"] if command == ["run"] else [])
        )
        assert result.returncode == 2, result.stderr
        assert "support.ias:2:45: IntentLang 1.0 is no longer supported" in result.stderr
        assert "agentspec migrate --to-v2" in result.stderr


def test_cli_migrates_a_directory_in_place(tmp_path: Path) -> None:
    work = tmp_path / "proj"
    shutil.copytree(V1, work)
    (work / "current.ias").write_text('package "c" version "1" lang "2.0"\n', encoding="utf-8")
    result = cli("migrate", "--to-v2", str(work))
    assert result.returncode == 0, result.stderr
    assert f"migrated {work / 'support.ias'}" in result.stdout
    assert f"{work / 'current.ias'}: already IntentLang 2.0 or later, skipped" in result.stdout
    assert "2 file(s) migrated to IntentLang 2.0" in result.stderr
    assert 'lang "2.0"' in (work / "support.ias").read_text(encoding="utf-8")
    assert cli("validate", str(work / "support.ias")).returncode == 0
    again = cli("migrate", "--to-v2", str(work))
    assert "0 file(s) migrated" in again.stderr


def test_cli_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.ias"
    shutil.copy(V1 / "no_lang.ias", path)
    before = path.read_text(encoding="utf-8")
    result = cli("migrate", "--to-v2", "--dry-run", str(path))
    assert result.returncode == 0
    assert '+package "nolang" version "0.9.0" lang "2.0"' in result.stdout
    assert "1 file(s) would be migrated" in result.stderr
    assert path.read_text(encoding="utf-8") == before


def test_cli_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ias"
    broken.write_text(
        'package "p" version "1" lang "1.0"\nagent "a" { model = }\n', encoding="utf-8"
    )
    result = cli("migrate", "--to-v2", str(broken))
    assert result.returncode == 2
    assert f"{broken}:2:19: unexpected character '='" in result.stderr
    assert f"{broken}: not migrated (fix the errors above first)" in result.stderr
    assert broken.read_text(encoding="utf-8").startswith('package "p"')

    no_flag = cli("migrate", str(broken))
    assert no_flag.returncode == 2
    assert "say which migration to run: agentspec migrate --to-v2 PATH" in no_flag.stderr

    missing = cli("migrate", "--to-v2", str(tmp_path / "nope.ias"))
    assert missing.returncode == 2 and "nope.ias: no such file or directory" in missing.stderr

    yaml_file = tmp_path / "x.yaml"
    yaml_file.write_text("package: x\n", encoding="utf-8")
    wrong = cli("migrate", "--to-v2", str(yaml_file))
    assert wrong.returncode == 2 and "not an IntentLang file" in wrong.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("migrate", "--to-v2", str(empty))
    assert none.returncode == 2 and "no .ias files found in" in none.stderr
