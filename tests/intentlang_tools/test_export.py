"""``agentspec export``: YAML and IntentLang forms load back to the same IR hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.lang.export_yaml import ir_differences, package_to_yaml
from agentspec.lang.intentlang.emit import duration, emit_package
from agentspec.lang.project import Project, load
from tests.lang.intentlang.test_lower import IAS, YAML

from .conftest import HERE, REPO, cli

EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())


def _loads(path: Path) -> bool:
    try:
        load(path)
    except SpecError:
        return False
    return True


ALL_IAS_FIXTURES = sorted(HERE.rglob("*.ias"))
IAS_FIXTURES = [path for path in ALL_IAS_FIXTURES if _loads(path)]
NOT_LOADING = {"v1", "lib", "quoting", "unicode_crlf"}
"""Fixtures meant not to load: 1.0 files (``fixtures/v1``), a library file with no package,
a ``store()`` secret, non-ASCII names. Everything else must load and round-trip."""


def test_only_the_intended_fixtures_do_not_load() -> None:
    excluded = {path for path in ALL_IAS_FIXTURES if path not in IAS_FIXTURES}
    unexpected = [
        path
        for path in excluded
        if path.parent.name not in NOT_LOADING and path.name.split(".")[0] not in NOT_LOADING
    ]
    assert unexpected == []
    assert len(IAS_FIXTURES) >= 8


def _load(path: Path) -> Project:
    return load(path)


def _roundtrip_yaml(project: Project, tmp_path: Path) -> Project:
    """Write the YAML next to the project's python modules (copied) and load it."""
    out = tmp_path / "yaml"
    out.mkdir(parents=True)
    for module in project.root.glob("*.py"):
        (out / module.name).write_text(module.read_text(encoding="utf-8"), encoding="utf-8")
    (out / "agentspec.yaml").write_text(package_to_yaml(project.package), encoding="utf-8")
    return load(out)


def _roundtrip_ias(project: Project, tmp_path: Path) -> Project:
    emitted = emit_package(project.package)
    assert emitted.lost == [] and emitted.errors == [], emitted.lost + emitted.errors
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "exported.ias"
    path.write_text(emitted.text, encoding="utf-8")
    return load(path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_exports_to_yaml_with_the_same_hash(example: Path, tmp_path: Path) -> None:
    project = _load(example)
    again = _roundtrip_yaml(project, tmp_path)
    assert ir_differences(project.package, again.package) == []
    assert again.ir_hash == project.ir_hash


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_exports_to_ias_or_says_what_is_lost(example: Path, tmp_path: Path) -> None:
    project = _load(example)
    emitted = emit_package(project.package)
    if emitted.lost or emitted.errors:
        assert all(isinstance(item, str) and item for item in emitted.lost + emitted.errors)
        return
    again = _roundtrip_ias(project, tmp_path)
    assert again.ir_hash == project.ir_hash


@pytest.mark.parametrize("path", IAS_FIXTURES, ids=lambda p: p.name)
def test_ias_fixtures_round_trip_both_ways(path: Path, tmp_path: Path) -> None:
    project = _load(path)
    assert _roundtrip_ias(project, tmp_path).ir_hash == project.ir_hash
    again = _roundtrip_yaml(project, tmp_path)
    if project.package.lang_version == "2.0":
        assert again.ir_hash == project.ir_hash
    else:  # the YAML front-end has no lang_version: the only loss, and it is reported
        assert ir_differences(project.package, again.package) == ["lang_version (lost)"]


def test_quickstart_ias_and_its_yaml_export_hash_the_same(tmp_path: Path) -> None:
    ias = load(REPO / "examples" / "quickstart-ias")
    yaml_project = _roundtrip_yaml(ias, tmp_path)
    assert yaml_project.ir_hash == ias.ir_hash
    back = _roundtrip_ias(yaml_project, tmp_path / "again")  # yaml -> ias -> same IR
    assert back.ir_hash == ias.ir_hash


def test_the_lower_tests_pair_exports_both_ways(tmp_path: Path) -> None:
    (tmp_path / "shop.ias").write_text(IAS, encoding="utf-8")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "agentspec.yaml").write_text(YAML, encoding="utf-8")
    from_ias, from_yaml = load(tmp_path / "shop.ias"), load(tmp_path / "y")
    assert from_ias.ir_hash == from_yaml.ir_hash
    assert _roundtrip_ias(from_yaml, tmp_path / "a").ir_hash == from_ias.ir_hash
    assert _roundtrip_yaml(from_ias, tmp_path / "b").ir_hash == from_yaml.ir_hash


def test_quickstart_yaml_to_ias_lists_what_is_lost() -> None:
    emitted = emit_package(load(REPO / "examples" / "quickstart").package)
    assert "description (lost)" in emitted.lost
    assert "skills.add (lost)" in emitted.lost  # a python tool
    assert "agents.assistant.model.script (lost)" in emitted.lost
    assert any("requires an output schema" in e for e in emitted.errors)


@pytest.mark.parametrize(("seconds", "text"), [(30.0, "30s"), (0.5, "0.5s"), (120.0, "120s")])
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


# ---------------------------------------------------------------------------- CLI


def test_cli_exports_to_stdout() -> None:
    result = cli("export", str(REPO / "examples" / "quickstart-ias"), "--format", "yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Exported from ")
    assert "package: quickstart\n" in result.stdout


def test_cli_exports_into_a_directory_and_refuses_to_overwrite(tmp_path: Path) -> None:
    source = REPO / "examples" / "quickstart-ias"
    result = cli("export", str(source), "--format", "yaml", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "agentspec.yaml"
    assert f"wrote {written}" in result.stderr
    assert load(tmp_path).ir_hash == load(source).ir_hash
    again = cli("export", str(source), "--format", "yaml", "--output", str(tmp_path))
    assert again.returncode == 2
    assert f"error: {written} already exists (use --force to overwrite)" in again.stderr
    forced = cli("export", str(source), "--format", "yaml", "--output", str(tmp_path), "--force")
    assert forced.returncode == 0


def test_cli_exports_ias_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "shop.ias"
    source = REPO / "examples" / "quickstart-ias"
    result = cli("export", str(source), "--format", "ias", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert load(target).ir_hash == load(source).ir_hash


def test_cli_refuses_a_lossy_export_and_lists_the_losses(tmp_path: Path) -> None:
    target = tmp_path / "q.ias"
    result = cli(
        "export", str(REPO / "examples" / "quickstart"), "--format", "ias", "-o", str(target)
    )
    assert result.returncode == 2
    assert "ias cannot express everything in" in result.stderr
    assert "  skills.add (lost)" in result.stderr
    assert "error: nothing written (use --lossy to write it anyway)" in result.stderr
    assert not target.exists()
    lossy = cli(
        "export",
        str(REPO / "examples" / "quickstart"),
        "--format",
        "ias",
        "-o",
        str(target),
        "--lossy",
    )
    assert lossy.returncode == 0 and target.exists()


def test_cli_export_errors(tmp_path: Path) -> None:
    missing = cli("export", str(tmp_path / "nope"), "--format", "yaml")
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    bad = cli("export", str(REPO / "examples" / "quickstart-ias"), "--format", "json")
    assert bad.returncode == 2 and "'json' is not one of" in bad.stderr
    broken = tmp_path / "broken.ias"
    broken.write_text('package "p" version "1" lang "2.0"\nagent "a" { }\n', encoding="utf-8")
    spec = cli("export", str(broken), "--format", "yaml")
    assert spec.returncode == 2
    assert f'{broken}:2:1: agent "a" requires a prompt reference' in spec.stderr
