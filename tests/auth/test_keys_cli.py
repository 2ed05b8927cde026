"""``agentspec keys``: in-process through Typer's runner, and as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agentspec.auth.base import ALL_SCOPES, Principal
from agentspec.auth.keys import KeyAuthenticator, hash_secret, is_well_formed
from agentspec.cli.keys import keys_app
from agentspec.store.base import ApiKeyRecord
from agentspec.store.sql import SQLStore

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "keys.db"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables fit the terminal; a wide one keeps every cell on one line."""
    monkeypatch.setenv("COLUMNS", "200")


def keys(*args: str, db: Path | None = None) -> Any:
    """Run ``agentspec keys ARGS`` in-process (with ``--store`` when ``db`` is given)."""
    store = ["--store", f"sqlite:///{db}"] if db is not None else []
    return runner.invoke(keys_app, [*args, *store], catch_exceptions=False)


def stored(db: Path) -> list[ApiKeyRecord]:
    async def go() -> list[ApiKeyRecord]:
        store = SQLStore(f"sqlite:///{db}")
        await store.setup()
        try:
            return await store.list_api_keys(include_revoked=True)
        finally:
            await store.close()

    return asyncio.run(go())


def authenticate(db: Path, secret: str) -> Principal | None:
    async def go() -> Principal | None:
        store = SQLStore(f"sqlite:///{db}")
        await store.setup()
        try:
            return await KeyAuthenticator(store).authenticate(secret)
        finally:
            await store.close()

    return asyncio.run(go())


def create(db: Path, *args: str) -> dict[str, Any]:
    result = keys("create", *args, "--json", db=db)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# create ----------------------------------------------------------------------------------
def test_create_prints_the_secret_once_alone_on_stdout(db: Path) -> None:
    result = keys(
        "create", "--name", "ci", "--scope", "agents:invoke", "--scope", "runs:read", db=db
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n" and is_well_formed(secret)
    assert "will not be shown again" in result.stderr
    (record,) = stored(db)
    assert record.id in result.stderr and "agents:invoke, runs:read" in result.stderr
    assert record.secret_hash == hash_secret(secret) and record.prefix == secret[:12]
    principal = authenticate(db, secret)
    assert principal is not None and principal.key_id == record.id
    assert principal.scopes == {"agents:invoke", "runs:read"}


def test_create_json(db: Path) -> None:
    data = create(db, "--name", "root", "--scope", "admin", "--tenant", "acme")
    assert set(data["scopes"]) == ALL_SCOPES
    assert data["tenant"] == "acme" and data["name"] == "root" and data["status"] == "active"
    assert data["id"].startswith("key_") and data["secret"].startswith(data["prefix"])
    assert "secret_hash" not in data and hash_secret(data["secret"]) not in json.dumps(data)
    assert data["expires_at"] is None and data["revoked_at"] is None
    principal = authenticate(db, data["secret"])
    assert principal is not None and principal.tenant == "acme"


def test_create_with_expiry(db: Path) -> None:
    data = create(db, "--name", "tmp", "--scope", "runs:read", "--expires-in", "30d")
    assert data["expires_at"] == pytest.approx(data["created_at"] + 30 * 86400)
    text = keys("create", "--name", "tmp2", "--scope", "runs:read", "--expires-in", "2h", db=db)
    assert text.exit_code == 0 and "expires: 20" in text.stderr


def test_create_uses_the_store_from_the_environment(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSPEC_STORE", f"sqlite:///{db}")
    result = keys("create", "--name", "ci", "--scope", "runs:read")
    assert result.exit_code == 0, result.output
    assert [record.name for record in stored(db)] == ["ci"]


def test_unknown_scope_is_a_usage_error(db: Path) -> None:
    result = keys("create", "--name", "ci", "--scope", "runs:write", db=db)
    assert result.exit_code == 2
    assert "unknown scope 'runs:write'" in result.stderr
    for scope in (*ALL_SCOPES, "admin"):
        assert scope in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    assert not db.exists() or stored(db) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "ci"],  # no scope
        ["--scope", "admin"],  # no name
        ["--name", "ci", "--scope", "admin", "--expires-in", "soon"],
        ["--name", "ci", "--scope", "admin", "--expires-in", "0d"],
        ["--name", "", "--scope", "admin"],
        ["--name", "ci", "--scope", "admin", "--tenant", " "],
    ],
)
def test_create_usage_errors(db: Path, args: list[str]) -> None:
    result = keys("create", *args, db=db)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    assert not db.exists() or stored(db) == []


# list ------------------------------------------------------------------------------------
def test_list_never_shows_secrets_or_hashes(db: Path) -> None:
    first = create(db, "--name", "ci", "--scope", "runs:read")
    second = create(db, "--name", "deploy", "--scope", "admin", "--tenant", "acme")
    hashes = [hash_secret(first["secret"]), hash_secret(second["secret"])]

    text = keys("list", db=db)
    assert text.exit_code == 0, text.output
    for data in (first, second):
        assert data["id"] in text.stdout and data["name"] in text.stdout
        assert data["prefix"] in text.stdout
        assert data["secret"] not in text.output
        assert data["secret"][12:20] not in text.output
    assert "active" in text.stdout and "never" in text.stdout and "acme" in text.stdout
    assert not any(h in text.output or h[:16] in text.output for h in hashes)

    listed = json.loads(keys("list", "--json", db=db).stdout)
    assert [k["id"] for k in listed] == [second["id"], first["id"]]  # newest first
    assert set(listed[0]) == {
        "id", "name", "tenant", "prefix", "scopes", "status", "created_at", "last_used_at",
        "expires_at", "revoked_at",
    }  # fmt: skip
    raw = json.dumps(listed)
    assert first["secret"] not in raw and not any(h in raw for h in hashes)


def test_list_hides_revoked_keys_unless_all(db: Path) -> None:
    kept = create(db, "--name", "kept", "--scope", "runs:read")
    gone = create(db, "--name", "gone", "--scope", "runs:read")
    assert keys("revoke", gone["id"], db=db).exit_code == 0
    active = json.loads(keys("list", "--json", db=db).stdout)
    assert [k["id"] for k in active] == [kept["id"]]
    everything = json.loads(keys("list", "--all", "--json", db=db).stdout)
    assert {k["id"]: k["status"] for k in everything} == {
        kept["id"]: "active",
        gone["id"]: "revoked",
    }
    text = keys("list", "--all", db=db)
    assert "revoked" in text.stdout and gone["id"] in text.stdout


def test_list_by_tenant(db: Path) -> None:
    create(db, "--name", "a", "--scope", "runs:read", "--tenant", "acme")
    create(db, "--name", "g", "--scope", "runs:read", "--tenant", "globex")
    listed = json.loads(keys("list", "--tenant", "globex", "--json", db=db).stdout)
    assert [k["name"] for k in listed] == ["g"]


def test_list_shows_last_use_and_expiry(db: Path) -> None:
    data = create(db, "--name", "ci", "--scope", "runs:read", "--expires-in", "1w")
    assert authenticate(db, data["secret"]) is not None
    (listed,) = json.loads(keys("list", "--json", db=db).stdout)
    assert listed["last_used_at"] is not None and listed["expires_at"] is not None
    text = keys("list", db=db).stdout
    assert "s ago" in text and "until" in text


def test_list_when_empty(db: Path) -> None:
    result = keys("list", db=db)
    assert result.exit_code == 0 and result.stdout == ""
    assert "no API keys" in result.stderr
    assert json.loads(keys("list", "--json", db=db).stdout) == []


def test_ids_and_prefixes_are_never_cut(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    data = create(db, "--name", "a rather long name for a key", "--scope", "admin")
    text = keys("list", db=db).stdout
    assert data["id"] in text and data["prefix"] in text


def test_names_are_not_rich_markup(db: Path) -> None:
    create(db, "--name", "[red]x[/red]", "--scope", "runs:read")
    assert "[red]x[/red]" in keys("list", db=db).stdout


# revoke and rotate -----------------------------------------------------------------------
def test_revoke(db: Path) -> None:
    data = create(db, "--name", "ci", "--scope", "admin")
    result = keys("revoke", data["id"], db=db)
    assert result.exit_code == 0, result.output
    assert "revoked" in result.stderr and data["id"] in result.stderr
    assert authenticate(db, data["secret"]) is None
    again = keys("revoke", data["id"], db=db)
    assert again.exit_code == 0 and "already revoked" in again.stderr
    as_json = json.loads(keys("revoke", data["id"], "--json", db=db).stdout)
    assert as_json["status"] == "revoked" and "secret_hash" not in as_json


def test_revoke_unknown_key(db: Path) -> None:
    result = keys("revoke", "key_000000000000", db=db)
    assert result.exit_code == 1
    assert "no API key 'key_000000000000'" in result.stderr
    assert "Traceback" not in result.output


def test_rotate(db: Path) -> None:
    old = create(db, "--name", "ci", "--scope", "agents:invoke", "--tenant", "acme")
    result = keys("rotate", old["id"], db=db)
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert is_well_formed(secret) and secret != old["secret"]
    assert "will not be shown again" in result.stderr and old["id"] in result.stderr
    assert authenticate(db, old["secret"]) is None
    principal = authenticate(db, secret)
    assert principal is not None
    assert (principal.name, principal.scopes, principal.tenant) == (
        "ci", {"agents:invoke"}, "acme"
    )  # fmt: skip
    assert principal.key_id != old["id"] and principal.key_id in result.stderr

    rotated = json.loads(keys("rotate", principal.key_id, "--json", db=db).stdout)
    assert rotated["replaces"] == principal.key_id and rotated["name"] == "ci"
    assert authenticate(db, secret) is None
    assert authenticate(db, rotated["secret"]) is not None


def test_rotate_errors(db: Path) -> None:
    missing = keys("rotate", "key_000000000000", db=db)
    assert missing.exit_code == 1 and "no API key" in missing.stderr
    data = create(db, "--name", "ci", "--scope", "admin")
    keys("revoke", data["id"], db=db)
    revoked = keys("rotate", data["id"], db=db)
    assert revoked.exit_code == 2 and "revoked" in revoked.stderr
    assert revoked.stdout == "" and "Traceback" not in revoked.output


# the store -------------------------------------------------------------------------------
def test_a_broken_store_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all\x00\xff" * 100)
    result = keys("list", db=bad)
    assert result.exit_code == 1
    assert "corrupt or not a SQLite database" in result.stderr
    assert "Traceback" not in result.output


def test_an_unsupported_store_url_is_a_usage_error() -> None:
    result = runner.invoke(keys_app, ["list", "--store", "redis://x"])
    assert result.exit_code == 2 and "unsupported store" in result.stderr


def test_the_memory_store_warns_that_nothing_is_kept() -> None:
    result = runner.invoke(
        keys_app, ["create", "--name", "x", "--scope", "admin", "--store", "memory"]
    )
    assert result.exit_code == 0 and "keeps nothing" in result.stderr


def test_mounted_as_a_sub_command(db: Path) -> None:
    app = typer.Typer()
    app.add_typer(keys_app, name="keys")

    @app.command()
    def version() -> None:
        """Another command, as in the real app."""

    result = runner.invoke(app, ["keys", "create", "--name", "ci", "--scope", "admin", "--store",
                                 f"sqlite:///{db}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert is_well_formed(result.stdout.strip())
    assert "create" in runner.invoke(app, ["keys", "--help"]).stdout


# a real process --------------------------------------------------------------------------
def run_keys(*args: str, db: Path, env: dict[str, str] | None = None) -> Any:
    full_env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{db}", **(env or {})}
    full_env.pop("AGENTSPEC_DEBUG", None)
    code = "from agentspec.cli.keys import keys_app; keys_app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_a_real_process(db: Path) -> None:
    created = run_keys(
        "create", "--name", "ci", "--scope", "runs:read", "--expires-in", "1d", db=db
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n" and is_well_formed(secret)
    assert "will not be shown again" in created.stderr

    listed = run_keys("list", "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    (key,) = json.loads(listed.stdout)
    assert key["name"] == "ci" and key["scopes"] == ["runs:read"] and key["status"] == "active"
    assert secret not in listed.stdout

    rotated = run_keys("rotate", key["id"], db=db)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = rotated.stdout.strip()
    assert is_well_formed(new_secret) and new_secret != secret
    assert authenticate(db, secret) is None and authenticate(db, new_secret) is not None

    (new,) = json.loads(run_keys("list", "--json", db=db).stdout)
    revoked = run_keys("revoke", new["id"], db=db)
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    assert authenticate(db, new_secret) is None
    assert json.loads(run_keys("list", "--json", db=db).stdout) == []
    assert len(json.loads(run_keys("list", "--all", "--json", db=db).stdout)) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "--name", "ci", "--scope", "nope"], 2, "unknown scope 'nope'"),
        (["create", "--name", "ci", "--scope", "admin", "--expires-in", "x"], 2, "duration"),
        (["create", "--name", "ci"], 2, "--scope"),
        (["revoke", "key_000000000000"], 1, "no API key"),
        (["list", "--store", "redis://nowhere"], 2, "unsupported store"),
    ],
)
def test_a_real_process_fails_cleanly(db: Path, args: list[str], code: int, message: str) -> None:
    result = run_keys(*args, db=db)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
