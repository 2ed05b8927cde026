"""``agentspec workflow run`` and ``agentspec graph``.

``workflow run PATH NAME --input JSON`` runs a workflow graph, state machine or behaviour tree
(found by name; ``--kind`` when a name is ambiguous), printing each node transition live on
stderr and the final task data on stdout (``--json``: the run result as JSON). Exit codes: 0
completed, 1 the run failed, 2 invalid spec or usage.

``graph PATH [NAME] [--format mermaid|svg|png] [--output FILE]`` prints a structure as a
Mermaid diagram, or renders SVG/PNG with Graphviz ``dot`` when it is installed.

This module does not import :mod:`agentspec.cli.app` at import time (the app registers its
commands); helpers are imported when a command runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from agentspec.engine import events as ev

if TYPE_CHECKING:
    from rich.console import Console

    from agentspec.engine.events import Event

workflow_app = typer.Typer(
    help="Run workflow graphs, state machines and behaviour trees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

PathArg = Annotated[str, typer.Argument(help="Project directory or spec file.")]
GRAPHVIZ_HINT = (
    "Graphviz is not installed (no `dot` on PATH): install it (apt-get install graphviz, "
    "brew install graphviz, or https://graphviz.org/download/), or use --format mermaid"
)


class TransitionRenderer:
    """Prints each transition of a workflow, state machine or tree run as a line on stderr."""

    def __init__(self, err: Console) -> None:
        self.err = err

    def __call__(self, event: Event) -> None:
        from agentspec.cli.render import short

        kind, data = event.type, event.data
        node = escape(str(data.get("node", "")))
        task = escape(str(data.get("task", "")))
        line = ""
        if kind == ev.RUN_STARTED:
            what = str(data.get("kind", "workflow")).replace("_", " ")
            line = f"[bold]▶ {what} {escape(str(data.get('agent')))}[/] · [dim]{event.run_id}[/]"
        elif kind == ev.NODE_STARTED:
            role = data.get("role") or data.get("type") or ""
            line = f"  [cyan]→[/] {node} [dim]{str(role).upper()} · {task}[/]"
        elif kind == ev.NODE_COMPLETED:
            status = data.get("status")
            if status == "failure":
                line = f"  [yellow]✗[/] {node} [dim]failure · {task}[/]"
            elif "output" in data:
                line = f"  [green]✓[/] {node} [dim]{task}[/] {escape(short(data['output'], 80))}"
            else:
                line = f"  [green]✓[/] {node} [dim]{task}[/]"
        elif kind == ev.NODE_FAILED:
            tail = " (continuing)" if data.get("continued") else ""
            line = f"  [red]✗ {node}[/]{tail}: {escape(str(data.get('message', '')))}"
        elif kind == ev.DECISION:
            line = (
                f"  [magenta]◆ {node}[/] → {escape(str(data.get('to')))} "
                f"[dim]({escape(str(data.get('reason', '')))})[/]"
            )
        elif kind == ev.DECISION_RETRY:
            line = (
                f"  [magenta]↻ {node}[/] answer {escape(repr(data.get('answer')))} is not a "
                f"label; asking again"
            )
        elif kind == ev.TASK_CLONED:
            clones = ", ".join(f"{c['task']}→{c['to']}" for c in data.get("clones", []))
            line = f"  [blue]⑃ {node}[/] cloned {task}: {escape(clones)}"
        elif kind == ev.TASK_SPLIT:
            line = f"  [blue]⑃ {node}[/] split {task} into {data.get('count', 0)} subtasks"
        elif kind == ev.TASK_MERGED:
            failed = data.get("failed") or []
            note = f", {len(failed)} failed" if failed else ""
            line = f"  [blue]⑂ {node}[/] merged {len(data.get('children', []))} into {task}{note}"
        elif kind == ev.TASK_EXITED:
            line = f"  [bold]■ {node}[/] {task} exited {data.get('status')}"
        elif kind == ev.RUN_COMPLETED:
            line = f"[green]✓ completed[/] in {data['duration_ms']:.1f} ms · [dim]{event.run_id}[/]"
        elif kind == ev.RUN_FAILED:
            line = (
                f"[red]✗ failed[/] ({data['error']}): {escape(str(data['message']))} · "
                f"[dim]{event.run_id}[/]"
            )
        if line:
            self.err.print(line, highlight=False)


@workflow_app.command("run")
def run_command(
    path: PathArg,
    name: Annotated[str, typer.Argument(help="Workflow, state machine or behaviour tree name.")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="The task data as JSON (default: {}).")
    ] = "{}",
    kind: Annotated[
        str,
        typer.Option("--kind", help="workflow, state_machine or behavior_tree (when ambiguous)."),
    ] = "",
    model: Annotated[
        str | None, typer.Option("--model", help="Override every agent's model: PROVIDER[:NAME].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run result as JSON.")] = False,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="AGENTSPEC_STORE", help="Store URL."),
    ] = None,
) -> None:
    """Run a workflow graph, state machine or behaviour tree, showing each transition live."""
    from agentspec.cli.app import err, fail, load_project, out, run_async, settings_for

    try:
        data = json.loads(input)
    except ValueError as exc:
        fail(f"--input is not valid JSON: {exc}")
    project = load_project(path)
    settings = settings_for(store, model)

    async def go() -> Any:
        from agentspec.engine.workflow import run_workflow

        runtime = project.runtime(settings)
        try:
            listener = None if json_out else TransitionRenderer(err)
            return await run_workflow(runtime, name, data, kind=kind, listener=listener)
        finally:
            await runtime.aclose()

    result = run_async(go)
    if json_out:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.status == "completed":
        out.print(result.output, markup=False, highlight=False)
    if result.status != "completed":
        raise typer.Exit(1)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    svg = "svg"
    png = "png"
    dot = "dot"


def graph_command(
    path: PathArg,
    name: Annotated[
        str | None,
        typer.Argument(help="Pipeline, workflow, state machine or tree (default: the only one)."),
    ] = None,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="mermaid (text), dot, svg or png.")
    ] = GraphFormat.mermaid,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="pipeline, workflow, state_machine, behavior_tree, or agents (delegation map).",
        ),
    ] = "",
) -> None:
    """Print a pipeline, workflow graph, state machine, behaviour tree or delegation map as a
    diagram (Mermaid text; SVG/PNG through Graphviz)."""
    from agentspec.cli.app import err, fail, load_project
    from agentspec.lang.graph import diagram_for, to_dot, to_mermaid

    project = load_project(path)
    try:
        diagram = diagram_for(project.package, name, kind)
    except LookupError as exc:
        fail(str(exc.args[0]))
    if format is GraphFormat.mermaid or format is GraphFormat.dot:
        text = to_mermaid(diagram) if format is GraphFormat.mermaid else to_dot(diagram)
        if output is None:
            typer.echo(text, nl=False)
        else:
            _write(output, text.encode(), fail)
            err.print(f"wrote {output}", highlight=False)
        return
    if format is GraphFormat.png and output is None:
        fail("--format png writes binary data: give --output FILE")
    dot = shutil.which("dot")
    if dot is None:
        fail(GRAPHVIZ_HINT)
    try:
        done = subprocess.run(
            [dot, f"-T{format.value}"],
            input=to_dot(diagram).encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"Graphviz dot failed: {exc}", 1)
    if done.returncode != 0:
        fail(f"Graphviz dot failed: {done.stderr.decode(errors='replace').strip()}", 1)
    if output is None:
        typer.echo(done.stdout.decode(), nl=False)
        return
    _write(output, done.stdout, fail)
    err.print(f"wrote {output}", highlight=False)


def _write(target: Path, data: bytes, fail: Any) -> None:
    try:
        target.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}", 1)
