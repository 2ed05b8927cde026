"""The ``agentspec`` command line.

Exit codes: 0 success, 1 the run failed (or the store failed), 2 invalid spec or usage.
Errors are printed as one clear message, never a traceback (set ``AGENTSPEC_DEBUG=1`` to see
one).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from agentspec._version import __version__
from agentspec.exceptions import AgentspecError, ConfigError, SpecError, UsageError

T = TypeVar("T")

app = typer.Typer(
    name="agentspec",
    help="Declare, run, serve and observe LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
runs_app = typer.Typer(help="Inspect stored runs.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and delete sessions.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(sessions_app, name="sessions")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="AGENTSPEC_STORE",
        help="Store URL (default sqlite:///.agentspec/agentspec.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class Format(StrEnum):
    text = "text"
    json = "json"


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def exit_code(exc: AgentspecError) -> int:
    if isinstance(exc, SpecError | UsageError | ConfigError):
        return 2
    return 1


def report(exc: AgentspecError) -> NoReturn:
    if isinstance(exc, SpecError):
        for diagnostic in exc.diagnostics:
            err.print(str(diagnostic), markup=False, highlight=False)
        count = len(exc.diagnostics)
        err.print(f"[red]{count} problem{'s' if count != 1 else ''}[/] found", highlight=False)
        raise typer.Exit(2)
    fail(str(exc), exit_code(exc))


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    import asyncio

    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except AgentspecError as exc:
        report(exc)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def settings_for(store: str | None, model: str | None = None) -> Any:
    from agentspec.engine.settings import Settings
    from agentspec.models.registry import parse_model_override

    settings = Settings()
    if store:
        settings.store = store
    if model:
        settings.model_override = parse_model_override(model)
    return settings


def parse_vars(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--var {item!r}: use NAME=VALUE")
        values[key.strip()] = value
    return values


def load_project(path: str) -> Any:
    from agentspec.lang.project import load

    try:
        return load(path)
    except AgentspecError as exc:
        report(exc)


# ---------------------------------------------------------------------------- commands


@app.command()
def version() -> None:
    """Print the agentspec version."""
    out.print(f"agentspec {__version__}")


@app.command()
def validate(
    path: Annotated[str, typer.Argument(help="Project directory or spec file.")],
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
) -> None:
    """Check a spec and report every problem as file:line:col."""
    from agentspec.lang.project import load

    try:
        project = load(path)
    except SpecError as exc:
        if format is Format.json:
            out.print_json(json.dumps([d.to_dict() for d in exc.diagnostics]))
            raise typer.Exit(2) from None
        report(exc)
    package = project.package
    notes = [note.to_dict() for note in project.notes]
    if format is Format.json:
        out.print_json(
            json.dumps(
                {
                    "ok": True,
                    "package": package.name,
                    "version": package.version,
                    "ir_hash": project.ir_hash,
                    "agents": sorted(package.agents),
                    "skills": sorted(package.skills),
                    "files": [str(f) for f in project.files],
                    "notes": notes,
                }
            )
        )
        return
    for note in project.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(
        f"[green]✓[/] {package.name} {package.version}: {len(package.agents)} agent(s), "
        f"{len(package.skills)} skill(s), {len(package.prompts)} prompt(s) · {project.ir_hash[:19]}…",
        highlight=False,
    )


@app.command()
def run(
    path: Annotated[str, typer.Argument(help="Project directory or spec file.")],
    agent: Annotated[
        str | None, typer.Argument(help="Agent name (optional if the project has one).")
    ] = None,
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="The message (default: stdin).")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", "-s", help="Continue or start this session.")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Prompt variable NAME=VALUE (repeatable).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Override every agent's model: PROVIDER[:NAME].")
    ] = None,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Run an agent once, streaming its answer and showing tool calls live."""
    project = load_project(path)
    names = sorted(project.package.agents)
    if agent is None:
        if len(names) != 1:
            fail(f"{project.name} has {len(names)} agents; name one: {', '.join(names)}")
        agent = names[0]
    if input is None:
        if sys.stdin.isatty():
            fail("give the message with --input TEXT (or pipe it on stdin)")
        input = sys.stdin.read().strip()
        if not input:
            fail("stdin was empty; give the message with --input TEXT")
    variables = parse_vars(var or [])
    settings = settings_for(store, model)

    async def go() -> Any:
        from agentspec.cli.render import LiveRenderer

        runtime = project.runtime(settings)
        try:
            from agentspec.audit.recorder import audit_runs

            await audit_runs(runtime)  # unless $AGENTSPEC_AUDIT=off
            listener = None if json_out else LiveRenderer(out, err)
            return await runtime.run(
                agent,
                input,
                session_id=session,
                variables=variables,
                listener=listener,
                raise_on_failure=False,
            )
        finally:
            await runtime.aclose()

    result = run_async(go)
    if json_out:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    if result.status == "waiting":  # parked for approval (docs/durability.md)
        err.print(
            f"[yellow]⏸ waiting for approval[/]: agentspec runs approve {result.run_id} CALL_ID",
            highlight=False,
        )
        return
    if result.status != "completed":
        raise typer.Exit(1)


def _open_store(store: str | None) -> Any:
    from agentspec.store import open_store

    return open_store(settings_for(store).store)


async def _with_store(store: str | None, body: Callable[[Any], Awaitable[T]]) -> T:
    backend = _open_store(store)
    try:
        await backend.setup()
        return await body(backend)
    finally:
        await backend.close()


@runs_app.command("list")
def runs_list(
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's runs.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="running|waiting|completed|failed|cancelled")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List recent runs, newest first."""
    from agentspec.store.base import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        fail(f"--status {status!r}: use one of {', '.join(RUN_STATUSES)}")

    async def body(backend: Any) -> Any:
        return await backend.list_runs(agent=agent, status=status, limit=limit)

    page = run_async(lambda: _with_store(store, body))
    if json_out:
        rows = [_run_dict(r) for r in page.runs]
        out.print_json(
            json.dumps({"runs": rows, "next_cursor": page.next_cursor}, ensure_ascii=False)
        )
        return
    if not page.runs:
        err.print("no runs yet")
        return
    from rich.table import Table

    from agentspec.cli.render import ago, short

    table = Table(show_edge=False)
    for column in ("run", "agent", "status", "turns", "tokens", "when", "input"):
        table.add_column(column)
    colors = {
        "completed": "green",
        "failed": "red",
        "running": "yellow",
        "cancelled": "magenta",
        "waiting": "cyan",
    }
    for record in page.runs:
        table.add_row(
            record.id,
            record.agent,
            f"[{colors.get(record.status, 'white')}]{record.status}[/]",
            str(record.turns),
            str(record.input_tokens + record.output_tokens + record.cache_read_tokens),
            ago(record.created_at),
            short(record.input, 40),
        )
    out.print(table)


def _run_dict(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (run_...), or 'latest'.")],
    json_out: JsonOpt = False,
    text: Annotated[bool, typer.Option("--text", help="Also list streamed text deltas.")] = False,
    store: StoreOpt = None,
) -> None:
    """Print a run as a readable timeline of its events."""

    async def body(backend: Any) -> Any:
        if run_id in ("latest", "last"):
            page = await backend.list_runs(limit=1)
            record = page.runs[0] if page.runs else None
        else:
            record = await backend.get_run(run_id)
        events = await backend.get_events(record.id) if record else []
        return record, events

    record, events = run_async(lambda: _with_store(store, body))
    if record is None:
        fail(f"no run {run_id!r} in this store (see 'agentspec runs list')", 1)
    if json_out:
        out.print_json(
            json.dumps(
                {"run": _run_dict(record), "events": [e.to_dict() for e in events]},
                ensure_ascii=False,
            )
        )
        return
    from agentspec.cli.render import timeline

    out.print(timeline(record, events, show_text=text))
    if record.status == "completed":
        out.print(f"[bold]output:[/] {record.output}", highlight=False)
    elif record.error:
        out.print(f"[red]error:[/] {record.error}", highlight=False)


@sessions_app.command("list")
def sessions_list(
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List sessions, most recently active first."""

    async def body(backend: Any) -> Any:
        return await backend.list_sessions(agent=agent, limit=limit)

    sessions = run_async(lambda: _with_store(store, body))
    if json_out:
        out.print_json(json.dumps([_run_dict(s) for s in sessions], ensure_ascii=False))
        return
    if not sessions:
        err.print("no sessions yet")
        return
    from rich.table import Table

    from agentspec.cli.render import ago

    table = Table(show_edge=False)
    for column in ("session", "agent", "messages", "updated"):
        table.add_column(column)
    for s in sessions:
        table.add_row(s.id, s.agent, str(s.message_count), ago(s.updated_at))
    out.print(table)


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[str, typer.Argument()],
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Print a session's messages."""

    async def body(backend: Any) -> Any:
        session = await backend.get_session(session_id)
        messages = await backend.get_messages(session_id) if session else []
        return session, messages

    session, messages = run_async(lambda: _with_store(store, body))
    if session is None:
        fail(f"no session {session_id!r} in this store (see 'agentspec sessions list')", 1)
    if json_out:
        out.print_json(
            json.dumps(
                {"session": _run_dict(session), "messages": [m.message for m in messages]},
                ensure_ascii=False,
            )
        )
        return
    from agentspec.cli.render import short

    out.print(
        f"[bold]session {session.id}[/] · agent {session.agent} · {session.message_count} message(s)"
    )
    for record in messages:
        message = record.message
        role = message["role"]
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                out.print(
                    f"  [yellow]assistant → {call['name']}[/] {short(call.get('arguments'))}",
                    highlight=False,
                )
            if not message.get("content"):
                continue
        style = {"user": "bold cyan", "assistant": "bold green", "tool": "dim"}.get(role, "")
        out.print(f"[{style}]{role}:[/] {short(message.get('content', ''), 400)}", highlight=False)


@sessions_app.command("delete")
def sessions_delete(
    session_id: Annotated[str, typer.Argument()],
    store: StoreOpt = None,
) -> None:
    """Delete a session and its messages."""

    async def body(backend: Any) -> bool:
        return bool(await backend.delete_session(session_id))

    if not run_async(lambda: _with_store(store, body)):
        fail(f"no session {session_id!r} in this store", 1)
    err.print(f"deleted session {session_id}")


def _register() -> None:
    from agentspec.cli.audit import audit_app
    from agentspec.cli.eval import eval_command
    from agentspec.cli.keys import keys_app
    from agentspec.cli.pipeline import pipeline_app
    from agentspec.cli.replay import replay
    from agentspec.cli.runs_durable import register as register_durable
    from agentspec.cli.serve import serve

    register_durable(runs_app)
    app.command(help="Serve the project's agents over HTTP (API v1, SSE) and WebSocket.")(serve)
    app.add_typer(keys_app, name="keys", help="Create, list, revoke and rotate API keys.")
    app.add_typer(audit_app, name="audit", help="Verify and export the hash-chained audit log.")
    from agentspec.cli import lang

    app.command()(lang.fmt)
    app.command()(lang.migrate)
    app.command()(lang.export)
    app.command()(lang.lsp)
    app.command("replay")(replay)
    app.command("eval")(eval_command)
    app.add_typer(pipeline_app, name="pipeline")
    from agentspec.cli.workflow import graph_command, workflow_app

    app.add_typer(workflow_app, name="workflow")
    app.command("graph")(graph_command)


_register()


def main() -> None:
    """Console-script entry point: map every agentspec error to a message and an exit code."""
    try:
        app()
    except AgentspecError as exc:
        if os.environ.get("AGENTSPEC_DEBUG"):
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(exit_code(exc))


__all__ = ["app", "main"]
