"""The ``agentspec`` command, run as a real subprocess: output, exit codes, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

QUESTION = 'What is 12 + 30, and how many words are in "the quick brown fox"?'


def agentspec(
    *args: str,
    store: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    if store is not None:
        full_env["AGENTSPEC_STORE"] = f"sqlite:///{store}"
    full_env.pop("AGENTSPEC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def test_version_and_help() -> None:
    version = agentspec("version")
    assert version.returncode == 0 and version.stdout.startswith("agentspec ")
    helped = agentspec("--help")
    assert helped.returncode == 0
    for command in ("validate", "run", "runs", "sessions", "version"):
        assert command in helped.stdout


def test_quickstart_runs_offline_streams_and_is_stored(db: Path) -> None:
    ran = agentspec("run", str(EXAMPLES / "quickstart"), "assistant", "--input", QUESTION, store=db)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == '12 + 30 = 42, and "the quick brown fox" has 4 words.'
    assert "demo model" in ran.stderr
    assert '→ add {"a": "12", "b": "30"}' in ran.stderr
    assert "← word_count 4" in ran.stderr
    assert "✓ completed in 2 turns" in ran.stderr
    run_id = ran.stderr.strip().split()[-1]
    assert run_id.startswith("run_")

    shown = agentspec("runs", "show", run_id, store=db)
    assert shown.returncode == 0, shown.stderr
    for needle in (
        "run.started",
        "tool.call",
        "tool.result",
        "run.completed",
        "output: 12 + 30 = 42",
    ):
        assert needle in shown.stdout
    as_json = json.loads(agentspec("runs", "show", "latest", "--json", store=db).stdout)
    assert as_json["run"]["id"] == run_id
    assert [e["seq"] for e in as_json["events"]] == list(range(1, len(as_json["events"]) + 1))

    listed = agentspec("runs", "list", "--json", store=db)
    assert json.loads(listed.stdout)["runs"][0]["id"] == run_id
    assert "completed" in agentspec("runs", "list", store=db).stdout


def test_run_json_output_and_stdin(db: Path) -> None:
    ran = agentspec("run", str(EXAMPLES / "quickstart"), "--json", input="what is 2 + 2?", store=db)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["output"] == "2 + 2 = 4."
    assert result["status"] == "completed"
    assert result["tokens"]["total"] == sum(
        result["tokens"][k] for k in ("input", "output", "cache_read")
    )
    assert result["tool_calls"][0]["tool_name"] == "add" and result["tool_calls"][0]["output"] == 4


def test_sessions_commands(db: Path) -> None:
    project = str(EXAMPLES / "quickstart")
    assert (
        agentspec("run", project, "-i", "what is 1 + 1?", "--session", "s-1", store=db).returncode
        == 0
    )
    assert (
        agentspec("run", project, "-i", "what is 2 + 2?", "--session", "s-1", store=db).returncode
        == 0
    )
    listed = agentspec("sessions", "list", "--json", store=db)
    sessions = json.loads(listed.stdout)
    assert sessions[0]["id"] == "s-1" and sessions[0]["message_count"] == 8
    shown = agentspec("sessions", "show", "s-1", store=db)
    assert "user: what is 1 + 1?" in shown.stdout and "assistant: 2 + 2 = 4." in shown.stdout
    assert agentspec("sessions", "delete", "s-1", store=db).returncode == 0
    missing = agentspec("sessions", "delete", "s-1", store=db)
    assert missing.returncode == 1 and "no session 's-1'" in missing.stderr


def test_model_override_runs_any_project_offline(db: Path) -> None:
    ran = agentspec(
        "run", str(EXAMPLES / "openai"), "-i", "hello there", "--model", "scripted", store=db
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello there"


def test_validate_ok_and_json() -> None:
    ok = agentspec("validate", str(EXAMPLES / "quickstart"))
    assert ok.returncode == 0 and "quickstart 0.1.0" in ok.stdout
    data = json.loads(
        agentspec("validate", str(EXAMPLES / "quickstart"), "--format", "json").stdout
    )
    assert (
        data["ok"] is True
        and data["agents"] == ["assistant"]
        and data["ir_hash"].startswith("sha256:")
    )


def test_invalid_spec_lists_every_problem_with_positions(tmp_path: Path) -> None:
    spec = tmp_path / "agentspec.yaml"
    spec.write_text(
        "package: broken\n"
        "prompts:\n"
        "  sys: {content: hi}\n"
        "agents:\n"
        "  a:\n"
        "    model: scripted\n"
        "    prompt: sys\n"
        "    temperature: 3\n"
        "    max_turn: 2\n"
        "    skills: [nope]\n"
    )
    result = agentspec("validate", str(tmp_path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "agentspec.yaml:" in line]
    assert len(lines) == 3, result.stderr
    assert any(":8:" in line and "temperature" in line for line in lines)
    assert any(":9:" in line and 'did you mean "max_turns"' in line for line in lines)
    assert any(":10:" in line and 'skill "nope" not found' in line for line in lines)
    assert "Traceback" not in result.stderr
    as_json = json.loads(agentspec("validate", str(tmp_path), "--format", "json").stdout)
    assert len(as_json) == 3 and {"file", "line", "column", "message"} <= set(as_json[0])
    ran = agentspec("run", str(tmp_path), "-i", "x")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "EX/quickstart", "nobody", "-i", "x"], "unknown agent 'nobody'"),
        (["run", "EX/quickstart", "-i", "x", "--var", "novalue"], "use NAME=VALUE"),
        (["run", "EX/quickstart", "-i", "x", "--model", "mystery:x"], "unknown provider 'mystery'"),
        (["run", "EX/does-not-exist", "-i", "x"], "no such file or directory"),
        (["runs", "list", "--status", "weird"], "use one of running, completed"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], needle: str, db: Path) -> None:
    args = [a.replace("EX", str(EXAMPLES)) for a in args]
    result = agentspec(*args, store=db)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_api_key_names_the_variable_and_provider(db: Path) -> None:
    result = agentspec(
        "run",
        str(EXAMPLES / "openai"),
        "-i",
        "hi",
        store=db,
        env={"AGENTSPEC_BLOCK_REMOTE_MODELS": "0"},
    )
    assert result.returncode == 1
    assert "openai" in result.stderr and "OPENAI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_run_id(db: Path) -> None:
    result = agentspec("runs", "show", "run_nope", store=db)
    assert result.returncode == 1 and "no run 'run_nope'" in result.stderr


def test_locked_database_is_a_clear_error(db: Path) -> None:
    assert agentspec("run", str(EXAMPLES / "quickstart"), "-i", "hello", store=db).returncode == 0
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = agentspec(
            "run",
            str(EXAMPLES / "quickstart"),
            "-i",
            "hello",
            store=db,
            env={"AGENTSPEC_SQLITE_BUSY_TIMEOUT": "0.2"},
        )
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "locked" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_database_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    result = agentspec(
        "run", str(EXAMPLES / "quickstart"), "-i", "hello", store=blocker / "sub" / "x.db"
    )
    assert result.returncode == 1
    assert str(blocker) in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_model_answers_from_a_stored_run(db: Path) -> None:
    project = str(EXAMPLES / "quickstart")
    first = agentspec("run", project, "-i", "what is 4 + 5?", "--json", store=db)
    recorded = json.loads(first.stdout)
    again = agentspec(
        "run",
        project,
        "-i",
        "what is 4 + 5?",
        "--json",
        "--model",
        f"replay:{recorded['run_id']}",
        store=db,
    )
    assert again.returncode == 0, again.stderr
    replayed = json.loads(again.stdout)
    assert replayed["output"] == recorded["output"] == "4 + 5 = 9."
    assert replayed["run_id"] != recorded["run_id"]
    assert replayed["tool_calls"][0]["input"] == recorded["tool_calls"][0]["input"]
    diverged = agentspec(
        "run", project, "-i", "hello", "--model", f"replay:{recorded['run_id']}", store=db
    )
    assert diverged.returncode == 1
    assert (
        "replay: the recorded run answered 'what is 4 + 5?', this run asks 'hello'"
        in diverged.stderr
    )
    missing = agentspec("run", project, "-i", "x", "--model", "replay:run_missing", store=db)
    assert missing.returncode == 2 and "no recorded run 'run_missing'" in missing.stderr
