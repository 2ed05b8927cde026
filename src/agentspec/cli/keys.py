"""``agentspec keys``: create, list, revoke and rotate the API keys of ``agentspec serve``.

A key's secret is printed once, by ``create`` and ``rotate``, alone on stdout (details and the
warning go to stderr, so ``agentspec keys create ... > key.txt`` captures just the secret);
the store keeps only its hash. ``list`` never shows secrets or hashes.

Exit codes as for every command: 0 success, 1 no such key (or the store failed), 2 usage.

This module does not import :mod:`agentspec.cli.app` at import time (the app registers
:data:`keys_app`); its helpers are imported when a command runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from agentspec.auth.keys import KeyManager
    from agentspec.store.base import ApiKeyRecord

T = TypeVar("T")

keys_app = typer.Typer(
    help="Create, list, revoke and rotate API keys for 'agentspec serve'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="AGENTSPEC_STORE",
        help="Store URL (default sqlite:///.agentspec/agentspec.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KeyIdArg = Annotated[str, typer.Argument(help="The key's id (key_...), from 'keys list'.")]

NOT_SHOWN_AGAIN = "Store this secret now: it will not be shown again."


def _fail(message: str, code: int = 2) -> NoReturn:
    from agentspec.cli.app import fail

    fail(message, code)


def _run(store: str | None, body: Callable[[KeyManager], Awaitable[T]]) -> T:
    """Open the store, run ``body`` with a key manager on it, close the store; errors exit."""
    from agentspec.cli.app import run_async, settings_for

    async def go() -> T:
        from agentspec.auth.keys import KeyManager
        from agentspec.store import open_store

        backend = open_store(settings_for(store).store)
        try:
            await backend.setup()
            from agentspec.audit.recorder import AuditRecorder

            manager = KeyManager(backend, actor=cli_actor(), recorder=AuditRecorder(backend))
            return await body(manager)
        finally:
            await backend.close()

    return run_async(go)


def cli_actor() -> str:
    """Who the audit log says changed keys from the CLI: ``cli:USER``."""
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no user name (some containers)
        return "cli"


def _when(ts: float | None, *, never: str = "never") -> str:
    if ts is None:
        return never
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _status(record: ApiKeyRecord, now: float) -> str:
    from agentspec.cli.render import ago

    status = record.status(now)
    if status == "revoked":
        return f"[red]revoked[/] {ago(record.revoked_at or now)}"
    if status == "expired":
        return f"[yellow]expired[/] {ago(record.expires_at or now)}"
    if record.expires_at is not None:
        expires = time.strftime("%Y-%m-%d", time.gmtime(record.expires_at))
        return f"[green]active[/] until {expires}"
    return "[green]active[/]"


def _key_dict(record: ApiKeyRecord, now: float) -> dict[str, Any]:
    """A key for ``--json`` output: everything but the hash."""
    return {
        "id": record.id,
        "name": record.name,
        "tenant": record.tenant,
        "prefix": record.prefix,
        "scopes": list(record.scopes),
        "status": record.status(now),
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
    }


def _print_json(data: Any) -> None:
    from agentspec.cli.app import out

    out.print_json(json.dumps(data, ensure_ascii=False))


def _show_secret(
    record: ApiKeyRecord, secret: str, json_out: bool, headline: str, **extra: str
) -> None:
    from agentspec.cli.app import err, out

    if json_out:
        _print_json({**_key_dict(record, time.time()), **extra, "secret": secret})
    else:
        err.print(headline, highlight=False)
        err.print(f"  scopes:  {', '.join(record.scopes)}", markup=False, highlight=False)
        err.print(f"  tenant:  {record.tenant}", markup=False, highlight=False)
        err.print(f"  expires: {_when(record.expires_at)}", highlight=False)
        out.print(secret, markup=False, highlight=False)
    err.print(f"[bold yellow]warning:[/] {NOT_SHOWN_AGAIN}", highlight=False)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A label for the key, e.g. 'ci'.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="agents:invoke, sessions:write, runs:read, keys:admin, or admin for all "
            "(repeatable).",
        ),
    ],
    tenant: Annotated[
        str, typer.Option("--tenant", help="The tenant the key's requests belong to.")
    ] = "default",
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="Lifetime, e.g. 30d, 12h, 90m, 2w (default: never)."),
    ] = None,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create a key and print its secret, once."""
    from agentspec.auth.keys import parse_duration, parse_scopes
    from agentspec.exceptions import UsageError

    try:
        scopes = parse_scopes(scope)
        lifetime = None if expires_in is None else parse_duration(expires_in)
    except UsageError as exc:
        _fail(str(exc))

    async def body(manager: KeyManager) -> tuple[ApiKeyRecord, str, str]:
        record, secret = await manager.create(name, scopes, tenant=tenant, expires_in=lifetime)
        return record, secret, manager.store.url

    record, secret, url = _run(store, body)
    _show_secret(
        record, secret, json_out, f"[green]created[/] API key {record.id} ({escape(record.name)})"
    )
    if url.startswith("memory"):
        from agentspec.cli.app import err

        err.print("[yellow]note:[/] the memory store keeps nothing: this key is already gone")


@keys_app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List keys, newest first (never their secrets)."""

    async def body(manager: KeyManager) -> list[ApiKeyRecord]:
        return await manager.list(tenant=tenant, include_revoked=all_keys)

    records = _run(store, body)
    now = time.time()
    if json_out:
        _print_json([_key_dict(record, now) for record in records])
        return
    from agentspec.cli.app import err, out

    if not records:
        hint = "" if all_keys else " (--all shows revoked ones)"
        err.print(f"no API keys{hint}; create one with 'agentspec keys create'", highlight=False)
        return
    from rich.table import Table

    from agentspec.auth.base import ALL_SCOPES
    from agentspec.cli.render import ago

    tenants = any(record.tenant != "default" for record in records)
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("prefix", no_wrap=True)
    table.add_column("scopes", overflow="fold", min_width=6)
    if tenants:
        table.add_column("tenant", overflow="fold", min_width=6)
    table.add_column("created", min_width=7)
    table.add_column("last used", min_width=5)
    table.add_column("status", min_width=7)
    for record in records:
        scopes = "all" if set(record.scopes) == ALL_SCOPES else ", ".join(record.scopes)
        row = [record.id, escape(record.name), f"{record.prefix}…", scopes]
        if tenants:
            row.append(escape(record.tenant))
        row += [
            ago(record.created_at),
            "never" if record.last_used_at is None else ago(record.last_used_at),
            _status(record, now),
        ]
        table.add_row(*row)
    out.print(table)


@keys_app.command("revoke")
def revoke(key_id: KeyIdArg, json_out: JsonOpt = False, store: StoreOpt = None) -> None:
    """Revoke a key: requests with it are refused from now on."""

    async def body(manager: KeyManager) -> tuple[ApiKeyRecord, bool]:
        already = (await manager.get(key_id)).revoked_at is not None
        return await manager.revoke(key_id), already

    record, already = _run(store, body)
    if json_out:
        _print_json(_key_dict(record, time.time()))
        return
    from agentspec.cli.app import err

    if already:
        err.print(f"API key {record.id} ({escape(record.name)}) was already revoked")
    else:
        err.print(f"[green]revoked[/] API key {record.id} ({escape(record.name)})")


@keys_app.command("rotate")
def rotate(key_id: KeyIdArg, json_out: JsonOpt = False, store: StoreOpt = None) -> None:
    """Replace a key by a new one (same name, scopes and tenant) and revoke the old one."""

    async def body(manager: KeyManager) -> tuple[ApiKeyRecord, str]:
        return await manager.rotate(key_id)

    record, secret = _run(store, body)
    headline = (
        f"[green]rotated[/] API key {escape(key_id)}: revoked it, "
        f"created {record.id} ({escape(record.name)})"
    )
    _show_secret(record, secret, json_out, headline, replaces=key_id)


__all__ = ["keys_app"]
