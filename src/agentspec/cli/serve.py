"""``agentspec serve``: the HTTP API (and whatever routers the server adds) under uvicorn.

Registered in :mod:`agentspec.cli.app` with ``app.command()(serve)``. Kept apart from that
module, and importing it only inside the command, so neither import waits for the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(
    path: Annotated[str, typer.Argument(help="Project directory or spec file.")],
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=256, help="Worker processes.")
    ] = 1,
    model: Annotated[
        str | None, typer.Option("--model", help="Override every agent's model: PROVIDER[:NAME].")
    ] = None,
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Turn API-key authentication off (loopback hosts only)."),
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="AGENTSPEC_STORE",
            help="Store URL (default sqlite:///.agentspec/agentspec.db).",
        ),
    ] = None,
    rate_limit: Annotated[
        str,
        typer.Option(
            "--rate-limit",
            help="Requests per second per API key, RATE[/BURST] (default 10/20), or 'off'.",
        ),
    ] = "10/20",
    auth_failure_limit: Annotated[
        str,
        typer.Option(
            "--auth-failure-limit",
            help="Failed authentications per client address, RATE[/BURST] (default 0.2/10: "
            "10 at once, then one per 5 s; beyond that 429), or 'off'.",
        ),
    ] = "0.2/10",
) -> None:
    """Serve the project's agents over HTTP (invoke, stream, sessions, runs)."""
    from agentspec.cli.app import err, fail, load_project, report
    from agentspec.exceptions import AgentspecError
    from agentspec.server.settings import ServerSettings, parse_rate

    try:
        key_rate = parse_rate(rate_limit)
    except ValueError as exc:
        fail(f"--rate-limit {rate_limit!r}: {exc}", 2)
    try:
        failure_limit = parse_rate(auth_failure_limit)
    except ValueError as exc:
        fail(f"--auth-failure-limit {auth_failure_limit!r}: {exc}", 2)
    settings = ServerSettings(
        host=host, port=port, dev=dev, key_rate=key_rate, auth_failure_limit=failure_limit
    )
    if dev and not settings.loopback:
        fail(
            f"--dev turns authentication off, so it is only allowed on a loopback host "
            f"({', '.join(LOOPBACK_HOSTS)}), not {host!r}; create an API key with "
            "'agentspec keys create' to serve on other interfaces",
            2,
        )
    if workers > 1 and (store or os.environ.get("AGENTSPEC_STORE", "")).strip() == "memory":
        fail("--store memory keeps runs in one process; use SQLite or PostgreSQL with --workers", 2)
    project = load_project(path)
    try:
        import uvicorn
    except ImportError:
        fail("serving needs the server extra: pip install 'agentspec[server]'", 2)

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "dev": dev,
        "rate_limit": rate_limit,
        "auth_failure_limit": auth_failure_limit,
    }
    if store:
        options["store"] = store
    if model:
        options["model"] = model
    if dev:
        err.print(
            "[yellow]warning:[/] authentication is off (--dev): every request may do anything",
            highlight=False,
        )
    run_options: dict[str, Any] = {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "server_header": False,
        "log_level": "info",
        "log_config": None,
        # Chat frames are small; per-connection zlib contexts would cost ~40 KiB per socket.
        "ws_per_message_deflate": False,
    }
    from agentspec.server.app import ENV_OPTIONS, ENV_PROJECT, build_app
    from agentspec.telemetry.logging import configure_logging

    try:
        app = build_app(project, options)
    except AgentspecError as exc:
        report(exc)
    except ValueError as exc:
        fail(str(exc), 2)
    # Mask every secret the served runtime resolves (its resolver remembers them).
    configure_logging(json=settings.log_json, level="info", redact=app.state.runtime.secrets.redact)
    err.print(
        f"serving {project.name} ({len(project.package.agents)} agent(s)) on "
        f"http://{_url_host(host)}:{port} · docs at /docs",
        highlight=False,
    )
    if workers == 1:
        uvicorn.run(app, **run_options)
        return
    # Each worker process builds its own app from the environment.
    os.environ[ENV_PROJECT] = str(Path(path).resolve())
    os.environ[ENV_OPTIONS] = json.dumps(options)
    uvicorn.run("agentspec.server.app:app_from_env", factory=True, workers=workers, **run_options)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
