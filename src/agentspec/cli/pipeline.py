"""``agentspec pipeline``: list a project's pipelines and run one, watching its steps live.

Exit codes as for ``agentspec run``: 0 the pipeline completed, 1 it failed (or the store
failed), 2 invalid spec or usage (unknown pipeline, a trigger that is not a JSON object).

This module does not import :mod:`agentspec.cli.app` at import time (the app registers
:data:`pipeline_app`); its helpers are imported when a command runs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from agentspec.engine import events as ev

if TYPE_CHECKING:
    from rich.console import Console

    from agentspec.engine.events import Event
    from agentspec.engine.pipeline import PipelineResult

pipeline_app = typer.Typer(
    help="List and run pipelines (multi-agent DAGs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

PathArg = Annotated[str, typer.Argument(help="Project directory or spec file.")]


class StepRenderer:
    """Prints each step transition of a pipeline run as one line on stderr."""

    def __init__(self, err: Console) -> None:
        self.err = err

    def __call__(self, event: Event) -> None:
        from agentspec.cli.render import short

        kind, data = event.type, event.data
        step = escape(str(data.get("step", "")))
        agent = escape(str(data.get("agent", "")))
        run_id = data.get("run_id", "")
        if kind == ev.RUN_STARTED:
            line = f"[bold]▶ pipeline {escape(str(data.get('agent')))}[/] · [dim]{event.run_id}[/]"
        elif kind == ev.STEP_STARTED:
            attempt = data.get("attempt", 1)
            again = f" (attempt {attempt})" if attempt > 1 else ""
            line = f"  [cyan]…[/] {step} started{again} · {agent} · [dim]{run_id}[/]"
        elif kind == ev.STEP_COMPLETED:
            ms = data.get("duration_ms", 0.0)
            output = escape(short(data.get("output", ""), 80))
            line = f"  [green]✓[/] {step} completed in {ms:.0f} ms · {output}"
        elif kind == ev.STEP_RETRY:
            message = escape(short(data.get("message", ""), 100))
            line = (
                f"  [yellow]↻[/] {step} attempt {data.get('attempt')} failed, retrying: {message}"
            )
        elif kind == ev.STEP_FAILED:
            message = escape(short(data.get("message", ""), 160))
            line = f"  [red]✗[/] {step} failed: {message}"
        elif kind == ev.STEP_CANCELLED:
            line = f"  [yellow]■[/] {step} cancelled · {escape(str(data.get('reason', '')))}"
        elif kind == ev.STEP_SKIPPED:
            line = f"  [dim]○ {step} skipped · {escape(str(data.get('reason', '')))}[/]"
        else:
            return
        self.err.print(line, highlight=False)


def _trigger(text: str | None) -> dict[str, Any]:
    from agentspec.cli.app import fail

    if text is None:
        if sys.stdin.isatty():
            return {}
        text = sys.stdin.read().strip() or "{}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"--trigger is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"--trigger must be a JSON object, got {type(value).__name__}: {text[:60]}")
    return value


@pipeline_app.command("run")
def run(
    path: PathArg,
    name: Annotated[
        str | None, typer.Argument(help="Pipeline name (optional if the project has one).")
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option("--trigger", "-t", help="The trigger, a JSON object (default: stdin or {})."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Override every agent's model: PROVIDER[:NAME].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="AGENTSPEC_STORE",
            help="Store URL (default sqlite:///.agentspec/agentspec.db).",
        ),
    ] = None,
) -> None:
    """Run a pipeline on a trigger, showing its steps start and finish."""
    from agentspec.cli.app import err, fail, load_project, run_async, settings_for

    project = load_project(path)
    names = sorted(project.package.pipelines)
    if name is None:
        if len(names) != 1:
            shown = ", ".join(names) if names else "none declared"
            fail(f"{project.name} has {len(names)} pipelines; name one: {shown}")
        name = names[0]
    data = _trigger(trigger)
    settings = settings_for(store, model)

    async def go() -> PipelineResult:
        from agentspec.engine.pipeline import run_pipeline

        runtime = project.runtime(settings)
        try:
            listener = None if json_out else StepRenderer(err)
            return await run_pipeline(runtime, name, data, listener=listener)
        finally:
            await runtime.aclose()

    result = run_async(go)
    _print(result, json_out)
    if result.status != "completed":
        raise typer.Exit(1)


def _print(result: PipelineResult, json_out: bool) -> None:
    from agentspec.cli.app import err, out

    if json_out:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    colour = {"completed": "green", "failed": "red"}.get(result.status, "yellow")
    err.print(
        f"[{colour}]{result.status}[/] in {result.total_duration_ms:.0f} ms · "
        f"{result.usage.total} tokens",
        highlight=False,
    )
    if result.error:
        err.print(f"[red]error:[/] {escape(result.error)}", highlight=False)
    final = [name for name, step in result.steps.items() if step.status == "completed"]
    if final:
        last = result.steps[final[-1]]
        out.print(last.text, markup=False, highlight=False)


@pipeline_app.command("list")
def list_(path: PathArg, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the project's pipelines and their steps."""
    from agentspec.cli.app import load_project, out

    project = load_project(path)
    pipelines = project.package.pipelines
    if json_out:
        data = [p.model_dump(mode="json", exclude_defaults=True) for p in pipelines.values()]
        out.print_json(json.dumps(data))
        return
    if not pipelines:
        out.print(f"{project.name} declares no pipelines", highlight=False)
        return
    table = Table("pipeline", "step", "agent", "depends on", box=None)
    for pipeline in pipelines.values():
        for index, step in enumerate(pipeline.steps):
            table.add_row(
                pipeline.name if index == 0 else "",
                step.name,
                step.agent,
                ", ".join(step.depends_on),
            )
    out.print(table)
