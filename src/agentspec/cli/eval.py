"""``agentspec eval PATH``: run a project's eval cases and report pass/fail.

Exit codes: 0 every case passed (and no regression against ``--baseline``), 1 a case failed or
regressed, 2 invalid eval files or usage (every problem printed as ``file:line:col``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from agentspec.evals import EvalReport


def eval_command(
    path: Annotated[str, typer.Argument(help="Project directory or spec file.")] = ".",
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-k", help="Only cases whose name matches (glob or substring)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=256, help="Cases running at once.")
    ] = 4,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here ('-': stdout).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="A previous --json report: flag regressions against it."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Override every agent's model: PROVIDER[:NAME].")
    ] = None,
    from_run: Annotated[
        str | None,
        typer.Option("--from-run", help="Print a regression case made from this recorded run."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="With --from-run: write the case file here.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="AGENTSPEC_EVAL_STORE",
            help="Store for the eval runs (default: in memory); with --from-run, the store of the run.",
        ),
    ] = None,
) -> None:
    """Run the eval cases declared in the project (evals: in YAML, or evals/*.yaml)."""
    from agentspec.cli.app import load_project

    project = load_project(path)
    if from_run is not None:
        _from_run(project, from_run, out_file, store)
        return
    from agentspec.cli.app import err, fail, out, report, run_async, settings_for
    from agentspec.evals import eval_files, load_cases, select
    from agentspec.exceptions import SpecError

    try:
        cases = load_cases(project)
    except SpecError as exc:
        report(exc)
    if not cases:
        where = ", ".join(str(f) for f in eval_files(project)) or str(project.root)
        fail(f"no eval cases in {where} (add 'evals:' to the spec or files under evals/)")
    chosen = select(cases, filter)
    if not chosen:
        fail(f"--filter {filter!r} matches none of the {len(cases)} case(s)")
    base = None
    if baseline is not None:
        from agentspec.evals import load_baseline
        from agentspec.exceptions import AgentspecError

        try:
            base = load_baseline(baseline)
        except AgentspecError as exc:
            report(exc)
    settings = settings_for(store or "memory", model)
    result = run_async(lambda: _run(project, chosen, concurrency, settings))
    if base is not None:
        from agentspec.evals import regressions

        result.regressions = regressions(result, base)
    to_stdout = json_file is not None and str(json_file) == "-"
    _summary(result, err if to_stdout else out)
    if json_file is not None:
        from agentspec.evals import to_json

        if to_stdout:
            out.print(to_json(result), markup=False, highlight=False, end="")
        else:
            json_file.write_text(to_json(result), encoding="utf-8")
            err.print(f"wrote {json_file}", highlight=False)
    if junit is not None:
        from agentspec.evals import to_junit

        junit.write_text(to_junit(result), encoding="utf-8")
        err.print(f"wrote {junit}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


async def _run(project: Any, cases: list[Any], concurrency: int, settings: Any) -> EvalReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentspec.cli.app import err
    from agentspec.evals import run_evals

    with Progress(
        TextColumn("[bold]eval[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("eval", total=len(cases), last="")

        def advance(case: Any) -> None:
            mark = "[green]✓[/]" if case.passed else "[red]✗[/]"
            progress.update(task, advance=1, last=f"{mark} {escape(case.name)}")

        return await run_evals(
            project, cases, concurrency=concurrency, settings=settings, on_result=advance
        )


def _summary(report: EvalReport, out: Any) -> None:
    """The summary table and totals (on stderr when the JSON report goes to stdout)."""
    from rich.table import Table

    from agentspec.cli.render import short

    table = Table(show_edge=False)
    table.add_column("case", overflow="fold")
    for column in ("agent", "result", "score", "turns", "tokens", "time"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold")
    styles = {"passed": "green", "failed": "red", "error": "magenta"}
    for case in report.cases:
        failed = [a for a in case.assertions if not a.passed]
        detail = case.error or "; ".join(f"{a.kind}: {a.message}" for a in failed)
        table.add_row(
            escape(case.name),
            escape(case.agent),
            f"[{styles[case.status]}]{case.status}[/]",
            f"{case.score:.2f}",
            str(case.turns),
            str(case.tokens),
            f"{case.duration_ms / 1000:.2f}s",
            escape(short(detail, 90)),
        )
    out.print(table)
    for regression in report.regressions:
        out.print(
            f"[red]regression[/] {escape(regression.name)}: {regression.reason} "
            f"(score {regression.before:.2f} → {regression.after:.2f})",
            highlight=False,
        )
    color = "green" if report.ok else "red"
    out.print(
        f"[{color}]{report.passed}/{len(report.cases)} passed[/] · {report.failed} failed · "
        f"{report.errors} error(s) · {len(report.regressions)} regression(s) · "
        f"score {report.score:.2f} · {report.duration_ms / 1000:.2f}s",
        highlight=False,
    )


def _from_run(project: Any, run_id: str, out_file: Path | None, store: str | None) -> None:
    from agentspec.cli.app import _with_store, err, fail, out, run_async
    from agentspec.evals import case_from_run, case_yaml

    case = run_async(lambda: _with_store(store, lambda backend: case_from_run(backend, run_id)))
    if case["agent"] not in project.package.agents:
        fail(f"run {run_id} ran agent {case['agent']!r}, which {project.root} does not define")
    text = case_yaml(case, note=f"regression case made from run {run_id}")
    if out_file is None:
        out.print(text, markup=False, highlight=False, end="")
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {out_file}", highlight=False)
