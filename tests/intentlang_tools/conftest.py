"""Shared helpers: the repository root, a CLI runner (real subprocess) and .ias lookups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
FIXTURES = HERE / "fixtures"
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``agentspec ARGS`` as a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "AGENTSPEC_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


def repo_ias_files() -> list[Path]:
    """Every ``.ias`` file in the repository (virtualenvs and VCS data excluded)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        found.extend(Path(root) / f for f in files if f.endswith(".ias"))
    return sorted(found)
