"""Test-suite wide settings: no real model calls, no stray state in the working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["AGENTSPEC_BLOCK_REMOTE_MODELS"] = "1"
for _name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own default SQLite file, never the repository's."""
    monkeypatch.setenv("AGENTSPEC_STORE", f"sqlite:///{tmp_path / 'agentspec.db'}")
