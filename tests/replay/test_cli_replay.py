"""``agentspec replay`` as a real subprocess: identical, diverged, refused, ``--with``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.cli.test_cli import QUESTION, agentspec
from tests.conftest import EXAMPLES


def _record(tmp_path: Path) -> tuple[Path, Path, str]:
    """Record a quickstart run in-process (the replay under test is the subprocess)."""
    import asyncio

    from agentspec.engine.settings import Settings
    from agentspec.lang.project import load

    project = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", project, ignore=shutil.ignore_patterns("evals"))
    db = tmp_path / "runs.db"

    async def record() -> str:
        async with load(project).runtime(Settings(store=f"sqlite:///{db}")) as runtime:
            return (await runtime.run("assistant", QUESTION)).run_id

    return project, db, asyncio.run(record())


def test_replay_reports_identical_and_json(tmp_path: Path) -> None:
    project, db, run_id = _record(tmp_path)
    replayed = agentspec("replay", run_id, str(project), store=db)
    assert replayed.returncode == 0, replayed.stderr
    assert f"✓ identical: {run_id} replayed against its log to the same" in replayed.stdout
    as_json = agentspec("replay", "latest", str(project), "--json", store=db)
    report = json.loads(as_json.stdout)
    assert report["identical"] is True and report["run_id"] == run_id
    assert report["stats"]["recorded_tool_calls"] == 2
    assert report["replayed"]["output"] == '12 + 30 = 42, and "the quick brown fox" has 4 words.'


def test_replay_shows_the_first_diverging_event_and_exits_1(tmp_path: Path) -> None:
    project, db, run_id = _record(tmp_path)
    with sqlite3.connect(db) as conn:
        seq, data = conn.execute(
            "SELECT seq, data FROM run_events WHERE run_id = ? AND type = 'tool.call' "
            "ORDER BY seq LIMIT 1",
            (run_id,),
        ).fetchone()
        payload = json.loads(data)
        payload["arguments"]["a"] = "13"
        conn.execute(
            "UPDATE run_events SET data = ? WHERE run_id = ? AND seq = ?",
            (json.dumps(payload), run_id, seq),
        )
    replayed = agentspec("replay", run_id, str(project), store=db)
    assert replayed.returncode == 1
    assert f"✗ diverged at seq {seq} (tool.call)" in replayed.stdout
    assert 'data.arguments.a: "13" -> "12"' in replayed.stdout


def test_a_changed_spec_is_refused_unless_replayed_with_it(tmp_path: Path) -> None:
    project, db, run_id = _record(tmp_path)
    spec = project / "agentspec.yaml"
    spec.write_text(spec.read_text().replace("max_turns: 4", "max_turns: 5"))
    refused = agentspec("replay", run_id, str(project), store=db)
    assert refused.returncode == 2
    assert "the recorded spec no longer exists" in refused.stderr
    assert "--with" in refused.stderr and "Traceback" not in refused.stderr
    changed = agentspec("replay", run_id, "--with", str(project), store=db)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "what changed" in changed.stdout
    assert "model calls: 2 from the recording, 0 live" in changed.stdout
    fresh = agentspec(
        "replay", run_id, "--with", str(project), "--model", "scripted", "--fresh-model", store=db
    )
    assert fresh.returncode == 0, fresh.stdout
    assert "model calls: 0 from the recording, 2 live" in fresh.stdout
    assert "tool calls: 2 from the recording, 0 live" in fresh.stdout


def test_unknown_runs_and_misused_options_are_clear_errors(tmp_path: Path) -> None:
    project, db, _ = _record(tmp_path)
    unknown = agentspec("replay", "run_missing", str(project), store=db)
    assert unknown.returncode == 2
    assert "no run 'run_missing'" in unknown.stderr
    misused = agentspec("replay", "latest", str(project), "--fresh-model", store=db)
    assert misused.returncode == 2 and "only apply with --with" in misused.stderr
