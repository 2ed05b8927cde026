"""``agentspec runs resume|approve|deny``: continue interrupted runs and decide approvals.

Attached to the ``runs`` group of :mod:`agentspec.cli.app` by :func:`register`. Each command
loads the project the run belongs to (``--project``, default the current directory) because a
run is re-executed against the spec it was started with.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer

ProjectOpt = Annotated[
    str,
    typer.Option(
        "--project", "-p", help="The project the run belongs to (directory or spec file)."
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="AGENTSPEC_STORE",
        help="Store URL (default sqlite:///.agentspec/agentspec.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the log).")]
ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who decides (default: cli:<your user name>).")
]


class _ResumeRenderer:
    """The live renderer, plus a line when the run goes live again, and the answer when it
    came from the log (a reused model response is not shown live)."""

    def __init__(self, out: Any, err: Any) -> None:
        from agentspec.cli.render import LiveRenderer

        self.err = err
        self.live = LiveRenderer(out, err)
        self.shown = ""

    def __call__(self, event: Any) -> None:
        from agentspec.engine import events as ev

        if event.type == ev.RUN_RESUMED:
            data = event.data
            self.err.print(
                f"[bold]↻ resuming {event.run_id}[/] at event {data.get('from_seq')} "
                f"[dim]({data.get('reused')} recorded events reused)[/]",
                highlight=False,
            )
        elif event.type == ev.MODEL_RESPONSE:
            self.shown = str(event.data.get("message", {}).get("content", ""))
        self.live(event)


def _finish(result: Any, json_out: bool, renderer: Any = None) -> None:
    from agentspec.cli.app import err, out

    if json_out:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    elif renderer is not None and result.status == "completed" and result.output != renderer.shown:
        out.print(result.output, markup=False, highlight=False)
    if result.status == "waiting":
        err.print(
            f"[yellow]⏸ run {result.run_id} is waiting for approval[/]: "
            f"agentspec runs approve {result.run_id} CALL_ID (or deny)",
            highlight=False,
        )
        return
    if result.status != "completed":
        raise typer.Exit(1)


def _drive(
    project_path: str,
    store: str | None,
    json_out: bool,
    action: Any,
) -> None:
    from agentspec.cli.app import err, load_project, out, run_async, settings_for

    project = load_project(project_path)
    settings = settings_for(store)

    listener = None if json_out else _ResumeRenderer(out, err)

    async def go() -> Any:
        from agentspec.audit.recorder import audit_runs

        runtime = project.runtime(settings)
        try:
            await audit_runs(runtime)  # like `agentspec run`, unless $AGENTSPEC_AUDIT=off
            return await action(runtime, listener)
        finally:
            await runtime.aclose()

    _finish(run_async(go), json_out, listener)


def resume(
    run_id: Annotated[
        str | None, typer.Argument(help="The run to continue (run_...); omit with --all.")
    ] = None,
    all_runs: Annotated[
        bool,
        typer.Option("--all", help="Resume every interrupted run of this project, one by one."),
    ] = False,
    project: ProjectOpt = ".",
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Continue an interrupted run from its log: recorded model answers and tool results are
    reused, never requested or executed again."""
    from agentspec.cli.app import fail

    if (run_id is None) == (not all_runs):
        fail("give one RUN_ID, or --all to resume every interrupted run of the project")
    if run_id is not None:

        async def action(runtime: Any, listener: Any) -> Any:
            return await runtime.resume(run_id, listener=listener)

        _drive(project, store, json_out, action)
        return
    _resume_all(project, store, json_out)


def _resume_all(project_path: str, store: str | None, json_out: bool) -> None:
    from agentspec.cli.app import err, load_project, out, run_async, settings_for
    from agentspec.exceptions import UsageError

    project = load_project(project_path)

    async def go() -> list[dict[str, str]]:
        from agentspec.audit.recorder import audit_runs

        runtime = project.runtime(settings_for(store))
        done: list[dict[str, str]] = []
        try:
            await runtime.start_up()
            await audit_runs(runtime)  # like `agentspec run`, unless $AGENTSPEC_AUDIT=off
            ids: list[str] = []
            cursor = None
            while True:
                page = await runtime.list_runs(status="running", limit=200, cursor=cursor)
                ids += [
                    r.id
                    for r in page.runs
                    if r.package == runtime.package.name
                    and r.ir_hash == runtime.ir_hash
                    and not r.parent_run_id
                ]
                cursor = page.next_cursor
                if cursor is None:
                    break
            for id_ in reversed(ids):  # oldest first
                try:
                    result = await runtime.resume(id_)
                    done.append({"run_id": id_, "status": result.status, "error": ""})
                except UsageError as exc:  # driven by a live process, or not resumable
                    done.append({"run_id": id_, "status": "skipped", "error": str(exc)})
        finally:
            await runtime.aclose()
        return done

    done = run_async(go)
    if json_out:
        out.print_json(json.dumps(done))
    else:
        for row in done:
            note = f": {row['error']}" if row["error"] else ""
            err.print(f"{row['run_id']} {row['status']}{note}", highlight=False, markup=False)
        if not done:
            err.print("no interrupted runs of this project")
    if any(row["status"] not in ("completed", "waiting", "skipped") for row in done):
        raise typer.Exit(1)


def _decide(
    decision: str, run_id: str, call_id: str, reason: str, by: str | None, **options: Any
) -> None:
    who = by or f"cli:{_user()}"

    async def action(runtime: Any, listener: Any) -> Any:
        return await runtime.decide(
            run_id, call_id, decision, reason=reason, by=who, listener=listener
        )

    _drive(options["project"], options["store"], options["json_out"], action)


def approve(
    run_id: Annotated[str, typer.Argument(help="A waiting run.")],
    call_id: Annotated[str, typer.Argument(help="The tool call to approve.")],
    reason: ReasonOpt = "",
    by: ByOpt = None,
    project: ProjectOpt = ".",
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Approve a tool call a run is waiting for, and continue the run."""
    _decide("approve", run_id, call_id, reason, by, project=project, store=store, json_out=json_out)


def deny(
    run_id: Annotated[str, typer.Argument(help="A waiting run.")],
    call_id: Annotated[str, typer.Argument(help="The tool call to deny.")],
    reason: ReasonOpt = "",
    by: ByOpt = None,
    project: ProjectOpt = ".",
    json_out: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Deny a tool call a run is waiting for (the model sees the denial), and continue."""
    _decide("deny", run_id, call_id, reason, by, project=project, store=store, json_out=json_out)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(runs_app: typer.Typer) -> None:
    """Add ``resume``, ``approve`` and ``deny`` to the ``runs`` command group."""
    runs_app.command("resume")(resume)
    runs_app.command("approve")(approve)
    runs_app.command("deny")(deny)
