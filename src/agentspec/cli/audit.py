"""``agentspec audit``: verify and export the hash-chained audit log.

- ``verify`` streams the whole log from the store and recomputes the chain
  (:mod:`agentspec.audit.chain`). It prints ``OK: N entries`` and exits 0, or
  ``audit log broken at index I (id X): reason`` (``I`` is the 0-based position in ``seq``
  order) and exits 1.
- ``export`` writes entries as JSON Lines (one object per entry, in ``seq`` order) to stdout or
  ``--out FILE``; ``--since`` takes an ISO 8601 time (``2025-03-01T12:00:00Z``; no zone means
  UTC) or a duration back from now (``24h``, ``7d``, ``90m``).

Exit codes as for every command: 0 success, 1 broken log (or the store failed), 2 usage.

This module does not import :mod:`agentspec.cli.app` at import time (the app registers
:data:`audit_app`); its helpers are imported when a command runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO, TypeVar

import typer

if TYPE_CHECKING:
    from agentspec.store.base import Store

T = TypeVar("T")

audit_app = typer.Typer(
    help="Verify and export the audit log.",
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


def _fail(message: str, code: int = 2) -> NoReturn:
    from agentspec.cli.app import fail

    fail(message, code)


def _run(store: str | None, body: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run ``body`` on it, close the store; errors exit."""
    from agentspec.cli.app import run_async, settings_for

    async def go() -> T:
        from agentspec.store import open_store

        backend = open_store(settings_for(store).store)
        try:
            await backend.setup()
            return await body(backend)
        finally:
            await backend.close()

    return run_async(go)


def parse_since(text: str, now: float | None = None) -> float:
    """Epoch seconds of ``--since``: an ISO 8601 time (UTC if it has no zone) or a duration
    back from ``now`` (``24h``, ``7d``, ``90m``, ``3600s``, ``2w``).

    Raises:
        UsageError: ``text`` is neither.
    """
    from agentspec.auth.keys import parse_duration
    from agentspec.exceptions import UsageError

    value = text.strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            return (time.time() if now is None else now) - parse_duration(value)
        except UsageError:
            raise UsageError(
                f"invalid --since {text!r}: use an ISO time like 2025-03-01T12:00:00Z "
                "or a duration like 24h, 7d, 90m"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def entry_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """An exported entry: the stored columns, ``data`` parsed, plus ``time`` (ISO 8601 UTC)."""
    seq, tenant, id_, ts, kind, actor, subject, data, prev_hash, hashed = row
    stamp = datetime.fromtimestamp(ts / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
    return {
        "seq": seq,
        "id": id_,
        "ts": ts,
        "time": stamp,
        "tenant": tenant,
        "kind": kind,
        "actor": actor,
        "subject": subject,
        "data": json.loads(data),
        "prev_hash": prev_hash,
        "hash": hashed,
    }


@audit_app.command("verify")
def verify(json_out: JsonOpt = False, store: StoreOpt = None) -> None:
    """Recompute the hash chain: prints OK, or the first bad entry (exit 1)."""
    from dataclasses import asdict

    from agentspec.audit.chain import VerifyResult, verify_store

    async def body(backend: Store) -> VerifyResult:
        return await verify_store(backend)

    result = _run(store, body)
    from agentspec.cli.app import out

    if json_out:
        out.print_json(json.dumps(asdict(result)))
    elif result.ok:
        out.print(f"OK: {result.count} entries", markup=False)
    else:
        out.print(
            f"audit log broken at index {result.bad_index} (id {result.bad_id}): {result.reason}",
            markup=False,
        )
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    since: Annotated[
        str | None,
        typer.Option("--since", help="ISO time (UTC unless given) or a duration: 24h, 7d."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Write entries (oldest first) as JSON Lines."""
    from agentspec.audit.chain import micros
    from agentspec.exceptions import UsageError

    try:
        since_ts = None if since is None else micros(parse_since(since))
    except UsageError as exc:
        _fail(str(exc))

    def write_all(sink: TextIO) -> Callable[[Store], Awaitable[int]]:
        async def body(backend: Store) -> int:
            count = 0
            async for page in backend.audit_pages(since_ts=since_ts, page_size=10_000):
                sink.writelines(
                    json.dumps(entry_json(tuple(row)), ensure_ascii=False) + "\n" for row in page
                )
                count += len(page)
            return count

        return body

    if out_file is None:
        _run(store, write_all(sys.stdout))
        sys.stdout.flush()
        return
    try:
        with out_file.open("w", encoding="utf-8") as sink:
            count = _run(store, write_all(sink))
    except OSError as exc:
        _fail(f"cannot write {out_file}: {exc.strerror or exc}", 1)
    from agentspec.cli.app import err

    err.print(f"exported {count} entries to {out_file}", markup=False)


__all__ = ["audit_app", "parse_since"]
