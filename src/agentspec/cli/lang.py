"""Language tooling commands: ``fmt``, ``migrate``, ``export`` and ``lsp``.

Registered on the main app by :func:`agentspec.cli.app._register`. Exit codes follow the
app: 0 success, 1 ``fmt --check`` found files to reformat, 2 a spec or usage problem
(syntax errors, unknown paths, an export that would lose data).
"""

from __future__ import annotations

import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

_SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox"})

Paths = Annotated[
    list[Path], typer.Argument(help=".ias files or directories (searched recursively).")
]


def _say(message: str) -> None:
    typer.echo(message)


def _warn(message: str) -> None:
    typer.echo(message, err=True)


def _die(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def ias_files(paths: list[Path]) -> list[Path]:
    """The ``.ias`` files named by ``paths`` (directories searched recursively, sorted).

    Raises:
        typer.Exit: (code 2) a path does not exist, or a file is not ``.ias``.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                found.extend(Path(root) / f for f in sorted(files) if f.endswith(".ias"))
        elif path.is_file():
            if path.suffix != ".ias":
                _die(f"{path}: not an IntentLang file (expected a .ias file or a directory)")
            found.append(path)
        else:
            _die(f"{path}: no such file or directory")
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _warn(f"{path}: cannot read: {exc}")
        return None


def fmt(
    paths: Paths,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a file would change.")
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a diff instead of writing.")] = False,
) -> None:
    """Format .ias files canonically (in place; comments are kept)."""
    import difflib

    from agentspec.exceptions import SpecError
    from agentspec.lang.intentlang.format import format_source

    files = ias_files(paths)
    if not files:
        _die("no .ias files found in " + ", ".join(str(p) for p in paths))
    broken = changed = 0
    for path in files:
        text = _read(path)
        if text is None:
            broken += 1
            continue
        try:
            result = format_source(text, str(path))
        except SpecError as exc:
            broken += 1
            for diagnostic in exc.diagnostics:
                _warn(str(diagnostic))
            _warn(f"{path}: not formatted (fix the errors above first)")
            continue
        if result == text:
            continue
        changed += 1
        if diff:
            _say(
                "".join(
                    difflib.unified_diff(
                        text.splitlines(keepends=True),
                        result.splitlines(keepends=True),
                        fromfile=str(path),
                        tofile=f"{path} (formatted)",
                    )
                ).rstrip("\n")
            )
        if check:
            _say(f"{path}: needs formatting")
        elif not diff:
            path.write_text(result, encoding="utf-8")
            _say(f"formatted {path}")
    summary = f"{len(files)} file(s), {changed} " + (
        "to reformat" if check or diff else "reformatted"
    )
    _warn(summary + (f", {broken} with errors" if broken else ""))
    if broken:
        raise typer.Exit(2)
    if check and changed:
        raise typer.Exit(1)


def migrate(
    paths: Paths,
    to_v2: Annotated[
        bool, typer.Option("--to-v2", help="Rewrite IntentLang 1.0 files as 2.0.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the changes as a diff; write nothing.")
    ] = False,
) -> None:
    """Migrate IntentLang 1.0 files to 2.0 (in place; comments are kept)."""
    from agentspec.lang.intentlang.migrate import migrate_source

    if not to_v2:
        _die("say which migration to run: agentspec migrate --to-v2 PATH")
    files = ias_files(paths)
    if not files:
        _die("no .ias files found in " + ", ".join(str(p) for p in paths))
    migrated = broken = 0
    for path in files:
        text = _read(path)
        if text is None:
            broken += 1
            continue
        result = migrate_source(text, str(path))
        if result.status == "error":
            broken += 1
            for diagnostic in result.diagnostics:
                _warn(str(diagnostic))
            _warn(f"{path}: not migrated (fix the errors above first)")
        elif result.status == "current":
            _say(f"{path}: already IntentLang 2.0 or later, skipped")
        else:
            migrated += 1
            if dry_run:
                _say(result.diff().rstrip("\n"))
            else:
                path.write_text(result.text, encoding="utf-8")
                _say(f"migrated {path}")
            for note in result.notes:
                _say(f"  {note}")
    verb = "would be migrated" if dry_run else "migrated"
    _warn(
        f"{migrated} file(s) {verb} to IntentLang 2.0"
        + (f", {broken} with errors" if broken else "")
    )
    if broken:
        raise typer.Exit(2)


class ExportFormat(StrEnum):
    yaml = "yaml"
    ias = "ias"


def export(
    path: Annotated[str, typer.Argument(help="Project directory or spec file (.yaml or .ias).")],
    format: Annotated[ExportFormat, typer.Option("--format", help="Output language.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file, or directory (default: stdout)."),
    ] = None,
    lossy: Annotated[
        bool,
        typer.Option("--lossy", help="Write even if the output cannot express everything."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Convert a project to YAML or IntentLang; the result loads to the same IR hash."""
    from agentspec.cli.app import load_project

    project = load_project(path)
    package = project.package
    target = output
    if target is not None and (target.is_dir() or str(target).endswith(("/", os.sep))):
        name = "agentspec.yaml" if format is ExportFormat.yaml else f"{package.name}.ias"
        target = target / name
    if target is not None and target.exists() and not force:
        _die(f"{target} already exists (use --force to overwrite)")
    if format is ExportFormat.ias:
        from agentspec.lang.intentlang.emit import emit_package

        emitted = emit_package(package)
        text, lost, problems = emitted.text, emitted.lost, emitted.errors
    else:
        from agentspec.lang.export_yaml import package_to_yaml

        text = package_to_yaml(package, f"Exported from {path} by agentspec export.")
        lost, problems = _check_yaml(text, project.root, package), []
    if lost or problems:
        _warn(f"{format.value} cannot express everything in {path}:")
        for item in [*problems, *lost]:
            _warn(f"  {item}")
        if not lossy:
            _die("nothing written (use --lossy to write it anyway)")
    if target is None:
        typer.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    _warn(f"wrote {target}")


def _check_yaml(text: str, root: Path, package: object) -> list[str]:
    """Load the YAML back next to the project (python tools resolve there); list the losses."""
    from agentspec.exceptions import SpecError
    from agentspec.ir.models import Package
    from agentspec.lang.export_yaml import ir_differences
    from agentspec.lang.yaml_spec import load_yaml_project

    assert isinstance(package, Package)
    try:
        handle, name = tempfile.mkstemp(prefix=".agentspec-export-", suffix=".yaml", dir=root)
    except OSError:
        handle, name = tempfile.mkstemp(prefix="agentspec-export-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        try:
            again = load_yaml_project(name).package
        except SpecError as exc:
            return [f"the YAML does not load back: {d}" for d in exc.diagnostics]
        return ir_differences(package, again)
    finally:
        os.unlink(name)


def lsp() -> None:
    """Run the IntentLang language server on stdin/stdout (for editors)."""
    try:
        from agentspec.lsp.server import serve
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        _die(f"the language server needs pygls: pip install 'agentspec[lsp]' ({exc})")
    serve()
