"""``agentspec replay RUN_ID [PATH]``: re-execute a stored run offline and compare its events.

Exit codes: 0 identical, 1 diverged (or, with ``--with``, changed), 2 the run cannot be replayed
(unknown or unfinished run, the recorded spec no longer exists, invalid spec).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from agentspec.replay import ReplayReport


def replay(
    run_id: Annotated[str, typer.Argument(help="The run to replay (run_...), or 'latest'.")],
    path: Annotated[
        str, typer.Argument(help="The project the run was recorded with (default: .).")
    ] = ".",
    with_spec: Annotated[
        str | None,
        typer.Option("--with", help="Replay against this changed project and compare."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="With --with: the model answering once the recording no longer applies.",
        ),
    ] = None,
    fresh_model: Annotated[
        bool,
        typer.Option("--fresh-model", help="With --with: never reuse recorded model answers."),
    ] = False,
    live_tools: Annotated[
        bool,
        typer.Option(
            "--live-tools/--no-live-tools",
            help="With --with: run tools for calls the recording does not have.",
        ),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="AGENTSPEC_STORE", help="Store URL of the recorded run."),
    ] = None,
) -> None:
    """Re-execute a stored run from its log (no model or tool is called) and compare events."""
    from agentspec.cli.app import fail, out, run_async, settings_for
    from agentspec.replay import replay_run

    if with_spec is None and (model or fresh_model):
        fail("--model and --fresh-model only apply with --with PATH")

    async def go() -> ReplayReport:
        return await replay_run(
            run_id,
            path,
            store=settings_for(store).store,
            with_spec=with_spec,
            model=model,
            live_tools=live_tools,
            fresh_model=fresh_model,
        )

    report = run_async(go)
    if json_out:
        out.print_json(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print(report)
    if not report.identical:
        raise typer.Exit(1)


def _print(report: ReplayReport) -> None:
    from agentspec.cli.app import out

    stats = report.stats
    if report.identical:
        where = "the changed spec" if report.changed_spec else "its log"
        out.print(
            f"[green]✓ identical[/]: {report.run_id} replayed against {where} to the same "
            f"{report.recorded.events} events ({stats.recorded_model_calls} model call(s) and "
            f"{stats.recorded_tool_calls} tool call(s) answered from the recording)",
            highlight=False,
        )
    else:
        divergence = report.divergence
        assert divergence is not None
        out.print(
            f"[red]✗ diverged[/] at seq {divergence.seq} ({escape(divergence.type)}): "
            f"{report.run_id} vs replay {report.replay_run_id}",
            highlight=False,
        )
        for line in divergence.differences:
            out.print(f"  {escape(line)}", highlight=False)
        if divergence.diff:
            out.print(escape(divergence.diff), highlight=False)
    if report.changed_spec:
        _side_by_side(report)


def _side_by_side(report: ReplayReport) -> None:
    from rich.table import Table

    from agentspec.cli.app import out
    from agentspec.cli.render import short

    old, new = report.recorded, report.replayed
    table = Table(title="what changed", show_edge=False)
    table.add_column("")
    table.add_column("recorded")
    table.add_column("with the change")
    table.add_column("")

    def row(name: str, a: Any, b: Any) -> None:
        mark = "" if a == b else "[yellow]changed[/]"
        table.add_row(name, escape(short(str(a), 60)), escape(short(str(b), 60)), mark)

    row("status", old.status, new.status)
    row("output", old.output or old.error, new.output or new.error)
    row("turns", old.turns, new.turns)
    row("tool calls", len(old.tool_calls), len(new.tool_calls))
    for i in range(max(len(old.tool_calls), len(new.tool_calls))):
        a = old.tool_calls[i] if i < len(old.tool_calls) else "-"
        b = new.tool_calls[i] if i < len(new.tool_calls) else "-"
        row(f"  call {i + 1}", a, b)
    row("tokens in", old.input_tokens, new.input_tokens)
    row("tokens out", old.output_tokens, new.output_tokens)
    row("events", old.events, new.events)
    out.print(table)
    stats = report.stats
    out.print(
        f"model calls: {stats.recorded_model_calls} from the recording, {stats.live_model_calls}"
        f" live · tool calls: {stats.recorded_tool_calls} from the recording, "
        f"{stats.live_tool_calls} live",
        highlight=False,
    )
