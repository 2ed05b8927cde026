"""``agentspec pipeline``: run the example offline as a real subprocess; exit codes; bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.pipelines.helpers import write_project

EXAMPLE = EXAMPLES / "pipeline"


def agentspec(
    *args: str, store: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{store}"}
    env.pop("AGENTSPEC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=60,
    )


def test_run_the_example_live(tmp_path: Path) -> None:
    done = agentspec(
        "pipeline",
        "run",
        str(EXAMPLE),
        "code-review",
        "--trigger",
        '{"code": "eval(input())"}',
        store=tmp_path / "db.sqlite",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Request changes. SECURITY: HIGH")
    lines = done.stderr.splitlines()
    assert lines[0].startswith("▶ pipeline code-review · run_")
    for step, agent in (("security", "security-analyst"), ("style", "style-analyst")):
        assert any(f"… {step} started · {agent} · run_" in line for line in lines)
        assert any(f"✓ {step} completed in" in line for line in lines)
    summary = [i for i, line in enumerate(lines) if "summary started" in line][0]
    assert all(summary > i for i, line in enumerate(lines) if "security completed" in line)
    assert lines[-1].startswith("completed in ")
    # The runs are stored: the pipeline run and its three child runs.
    listed = agentspec("runs", "list", "--json", store=tmp_path / "db.sqlite")
    assert listed.returncode == 0, listed.stderr
    assert "code-review" in listed.stdout


def test_json_output_is_the_contract_result(tmp_path: Path) -> None:
    done = agentspec(
        "pipeline",
        "run",
        str(EXAMPLE),
        "--json",
        "--trigger",
        '{"code": "print(1)"}',
        store=tmp_path / "db.sqlite",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["pipeline"] == "code-review" and body["status"] == "completed"
    assert body["steps"]["summary"]["output"].startswith("Approve.")
    assert set(body["steps"]["security"]) >= {"agent", "output", "duration_ms", "status", "error"}
    assert body["tokens"]["total"] > 0


def test_failed_pipeline_exits_1_and_usage_errors_exit_2(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "bad:\n  steps:\n    crash: {agent: boom}\n")
    db = tmp_path / "db.sqlite"
    failed = agentspec("pipeline", "run", str(root), "bad", store=db)
    assert failed.returncode == 1
    assert "✗ crash failed: analyst exploded" in failed.stderr
    assert 'error: step "crash" failed: analyst exploded' in failed.stderr

    unknown = agentspec("pipeline", "run", str(EXAMPLE), "code-reviw", store=db)
    assert unknown.returncode == 2
    assert "unknown pipeline 'code-reviw' in code-review (did you mean \"code-review\"?)" in (
        unknown.stderr
    )
    bad_json = agentspec("pipeline", "run", str(EXAMPLE), "-t", "{code", store=db)
    assert bad_json.returncode == 2 and "--trigger is not valid JSON" in bad_json.stderr
    not_object = agentspec("pipeline", "run", str(EXAMPLE), "-t", "[1]", store=db)
    assert not_object.returncode == 2 and "--trigger must be a JSON object" in not_object.stderr
    missing = agentspec("pipeline", "run", str(EXAMPLE), "-t", '{"cod": 1}', store=db)
    assert missing.returncode == 1
    assert 'step "security": the trigger has no field "code"' in missing.stderr


def test_trigger_from_stdin_and_list(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    done = agentspec("pipeline", "run", str(EXAMPLE), input='{"code": "x = 1"}', store=db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Approve.")
    listed = agentspec("pipeline", "list", str(EXAMPLE), store=db)
    assert listed.returncode == 0
    assert "code-review" in listed.stdout and "security, style" in listed.stdout
    as_json = json.loads(agentspec("pipeline", "list", str(EXAMPLE), "--json", store=db).stdout)
    assert [s["name"] for s in as_json[0]["steps"]] == ["security", "style", "summary"]
