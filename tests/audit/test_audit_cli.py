"""``agentspec audit verify`` / ``export`` in a subprocess: output and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentspec.audit.recorder import AuditRecorder
from agentspec.cli.audit import parse_since
from agentspec.exceptions import UsageError
from agentspec.store.sql import SQLStore

CLI = "from agentspec.cli.audit import audit_app; audit_app()"


def audit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"

    async def fill() -> None:
        store = SQLStore(f"sqlite:///{path}")
        await store.setup()
        now = time.time()
        old = AuditRecorder(store, clock=lambda: now - 7200)
        new = AuditRecorder(store, clock=lambda: now)
        await old.record("key.created", "key_1", {"name": "ci"}, actor="cli")
        await old.record("auth.failed", "ask_x", {"reason": "unknown"})
        await new.record("config.changed", "agentspec.yaml", {"ir_hash": "sha256:é"})
        await store.close()

    asyncio.run(fill())
    return path


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_verify_ok(db: Path) -> None:
    done = audit("verify", "--store", url(db), cwd=db.parent)
    assert (done.returncode, done.stdout.strip()) == (0, "OK: 3 entries")


def test_verify_json(db: Path) -> None:
    done = audit("verify", "--json", "--store", url(db), cwd=db.parent)
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["count"] == 3


def test_verify_broken(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        bad_id = conn.execute("SELECT id FROM audit_log WHERE seq = 2").fetchone()[0]
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    conn.close()
    done = audit("verify", "--store", url(db), cwd=db.parent)
    assert done.returncode == 1
    assert done.stdout.strip() == (
        f"audit log broken at index 1 (id {bad_id}): "
        "hash does not match the entry's contents (edited?)"
    )


def test_verify_empty_store_via_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "verify"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "AGENTSPEC_STORE": url(tmp_path / "empty.db")},
    )
    assert (done.returncode, done.stdout.strip()) == (0, "OK: 0 entries")


def test_export_all_to_stdout(db: Path) -> None:
    done = audit("export", "--store", url(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["kind"] for e in lines] == ["key.created", "auth.failed", "config.changed"]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert lines[2]["data"] == {"ir_hash": "sha256:é"}
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert lines[0]["time"].endswith("Z") and isinstance(lines[0]["ts"], int)


def test_export_since_a_duration_to_a_file(db: Path) -> None:
    out = db.parent / "out" / "audit.jsonl"
    out.parent.mkdir()
    done = audit("export", "--since", "1h", "--out", str(out), "--store", url(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    assert "exported 1 entries" in done.stderr
    [entry] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert entry["kind"] == "config.changed"


def test_export_since_an_iso_time(db: Path) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 3600))
    done = audit("export", "--since", since, "--store", url(db), cwd=db.parent)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3


def test_export_bad_since_is_a_usage_error(db: Path) -> None:
    done = audit("export", "--since", "yesterday-ish", "--store", url(db), cwd=db.parent)
    assert done.returncode == 2 and "invalid --since" in done.stderr


def test_unwritable_out_file(db: Path) -> None:
    out = db.parent / "missing-dir" / "x.jsonl"
    done = audit("export", "--out", str(out), "--store", url(db), cwd=db.parent)
    assert done.returncode == 1 and "cannot write" in done.stderr


def test_parse_since() -> None:
    assert parse_since("24h", now=100_000.0) == 100_000.0 - 86_400
    assert parse_since("2025-03-01T00:00:00Z") == parse_since("2025-03-01T00:00:00")
    assert parse_since("2025-03-01T02:00:00+02:00") == parse_since("2025-03-01T00:00:00Z")
    with pytest.raises(UsageError):
        parse_since("soon")
