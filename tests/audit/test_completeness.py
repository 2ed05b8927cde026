"""What the audit log records beyond a served run: CLI runs (unless turned off), CLI key changes
(who made them), approvals, run tenants; and ``agentspec audit verify`` on tampered files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import agentspec
from agentspec.audit.chain import verify_store
from agentspec.audit.recorder import AuditRecorder
from agentspec.engine.settings import Settings
from agentspec.store.base import AuditRecord
from agentspec.store.sql import SQLStore
from tests.conftest import EXAMPLES

QUICKSTART = EXAMPLES / "quickstart"
APP = "from agentspec.cli.app import main; main()"


def cli(*args: str, db: Path, env: dict[str, str] | None = None) -> Any:
    full_env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{db}", **(env or {})}
    full_env.pop("AGENTSPEC_AUDIT", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", APP, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=db.parent,
        timeout=120,
    )


def entries(db: Path) -> list[AuditRecord]:
    async def read() -> list[AuditRecord]:
        store = SQLStore(f"sqlite:///{db}")
        await store.setup()
        try:
            assert (await verify_store(store)).ok
            return [e async for e in store.iter_audit()]
        finally:
            await store.close()

    return asyncio.run(read())


def test_cli_runs_are_audited_unless_turned_off(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    done = cli("run", str(QUICKSTART), "--input", "What is 2 + 3?", "--json", db=db)
    assert done.returncode == 0, done.stderr
    kinds = [e.kind for e in entries(db)]
    assert kinds[0] == "run.started" and kinds[-1] == "run.completed"
    assert "tool.call" in kinds and "tool.result" in kinds
    assert {e.actor for e in entries(db)} == {"agent:assistant"}

    off = cli("run", str(QUICKSTART), "--input", "hi", db=db, env={"AGENTSPEC_AUDIT": "off"})
    assert off.returncode == 0, off.stderr
    assert [e.kind for e in entries(db)] == kinds  # nothing new


def test_cli_key_changes_name_the_operator(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    created = cli("keys", "create", "--name", "ci", "--scope", "runs:read", db=db)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    listed = cli("keys", "list", "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    key_id = listed.stdout.split('"id": "')[1].split('"')[0]
    assert cli("keys", "rotate", key_id, db=db).returncode == 0
    assert cli("keys", "revoke", key_id, db=db).returncode == 0  # already revoked: no entry
    log = entries(db)
    assert [e.kind for e in log] == ["key.created", "key.rotated"]
    assert all(e.actor.startswith("cli") for e in log)
    assert log[0].subject == key_id
    assert f'"replaced":"{key_id}"' in log[1].data
    assert all(secret not in e.data and secret[12:] not in e.data for e in log)


APPROVAL_PROJECT = """\
package: guarded
models:
  script:
    provider: scripted
    script:
      - when: {last: user}
        tool_calls: [{id: call_g, name: wipe, arguments: {target: "/tmp/x"}}]
      - when: {last: tool, tool: wipe}
        text: "wipe said: {{tool_result}}"
skills:
  wipe:
    python: tools:wipe
    approval: required
agents:
  ops: {model: script, instructions: You operate., skills: [wipe]}
"""
TOOLS = '''
def wipe(target: str) -> str:
    """Wipe something.

    Args:
        target: What.
    """
    return "wiped " + target
'''


async def test_approvals_and_tenants_are_recorded(tmp_path: Path) -> None:
    root = tmp_path / "guarded"
    root.mkdir()
    (root / "agentspec.yaml").write_text(APPROVAL_PROJECT)
    (root / "tools.py").write_text(textwrap.dedent(TOOLS))
    store = SQLStore(f"sqlite:///{tmp_path / 'approvals.db'}")
    project = agentspec.load(root)
    async with project.runtime(Settings(store="memory"), store=store) as runtime:
        AuditRecorder(store).attach(runtime)
        parked = await runtime.run("ops", "clean up", tenant="acme", raise_on_failure=False)
        assert parked.status == "waiting"
        result = await runtime.approve(parked.run_id, "call_g", reason="ticket 42", by="alice")
        assert result is not None and result.output == "wipe said: wiped /tmp/x"
        log = [e async for e in store.iter_audit()]
        assert (await verify_store(store)).ok
    by_kind = {e.kind: e for e in log}
    requested = by_kind["approval.requested"]
    assert requested.subject == parked.run_id
    assert requested.actor == "agent:ops"
    assert '"call_id":"call_g"' in requested.data and '"name":"wipe"' in requested.data
    assert "/tmp/x" not in requested.data  # arguments are digested
    decided = by_kind["approval.decided"]
    assert decided.actor == "alice"
    assert '"decision":"approve"' in decided.data and '"reason":"ticket 42"' in decided.data
    run_entries = [e for e in log if e.subject == parked.run_id]
    assert {e.tenant for e in run_entries} == {"acme"}
    assert run_entries[-1].kind == "run.completed"


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    db = tmp_path / "tamper.db"
    done = cli("run", str(QUICKSTART), "--input", "What is 2 + 3?", "--json", db=db)
    assert done.returncode == 0, done.stderr
    assert len(entries(db)) >= 4
    return db


def verify(db: Path) -> Any:
    return cli("audit", "verify", db=db)


def _ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM audit_log ORDER BY seq")]


def test_verify_cli_reports_a_deleted_entry(logged: Path) -> None:
    ids = _ids(logged)
    with sqlite3.connect(logged) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    done = verify(logged)
    assert done.returncode == 1
    assert done.stdout.startswith(f"audit log broken at index 1 (id {ids[2]}): expected seq 2")


def test_verify_cli_reports_reordered_entries(logged: Path) -> None:
    ids = _ids(logged)
    with sqlite3.connect(logged) as conn:  # swap entries 2 and 3, keeping seq in order
        conn.execute("UPDATE audit_log SET seq = -2 WHERE seq = 2")
        conn.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
        conn.execute("UPDATE audit_log SET seq = 3 WHERE seq = -2")
    done = verify(logged)
    assert done.returncode == 1
    assert done.stdout.startswith(f"audit log broken at index 1 (id {ids[2]}): ")


def test_verify_cli_reports_an_edited_entry(logged: Path) -> None:
    ids = _ids(logged)
    with sqlite3.connect(logged) as conn:
        conn.execute("UPDATE audit_log SET data = replace(data, 'tool', 'TOOL') WHERE seq = 3")
        conn.execute("UPDATE audit_log SET kind = 'tool.call ' WHERE seq = 3")
    done = verify(logged)
    assert done.returncode == 1
    assert done.stdout.strip() == (
        f"audit log broken at index 2 (id {ids[2]}): "
        "hash does not match the entry's contents (edited?)"
    )
    assert verify(logged).returncode == 1
