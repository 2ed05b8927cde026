"""``agentspec validate`` on .ias files, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "quickstart-ias"


def validate(target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENTSPEC_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", "validate", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_valid_file_exits_0() -> None:
    result = validate(EXAMPLE / "quickstart.ias")
    assert result.returncode == 0, result.stderr
    assert "quickstart 0.1.0" in result.stdout + result.stderr


def test_valid_directory_exits_0() -> None:
    assert validate(EXAMPLE).returncode == 0


def test_broken_file_exits_2_with_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.ias"
    path.write_text(
        'package "x" version "1" lang "2.0"\n'
        'prompt "sys" { content "hi" }\n'
        'agent "a" { uses prompt "sis" model "gpt-4o" }\n',
        encoding="utf-8",
    )
    result = validate(path)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f'{path}:3:25: prompt "sis" not found' in output
    assert 'did you mean "sys"?' in output


def test_syntax_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.ias"
    path.write_text('package "x" version "1" lang "2.0"\nagent "a" { model = "m" }\n')
    result = validate(path)
    assert result.returncode == 2
    assert f"{path}:2:19: unexpected character '='" in result.stdout + result.stderr
