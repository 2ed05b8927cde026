"""Terminal rendering of live events and stored runs (Rich)."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.strategies.describe import strategy_line
from agentspec.store.base import RunRecord

DEMO_NOTE = "demo model: deterministic, no API calls"


def short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ago(ts: float) -> str:
    delta = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"


class LiveRenderer:
    """Prints a run as it happens: text to stdout, tool calls and status to stderr."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err
        self._mid_line = False
        self._text_turns: set[int] = set()

    def _break(self) -> None:
        if self._mid_line:
            self.out.file.write("\n")
            self.out.file.flush()
            self._mid_line = False

    def __call__(self, event: Event) -> None:
        kind, data = event.type, event.data
        if kind == ev.RUN_STARTED:
            model = data.get("model", "")
            note = f" ({DEMO_NOTE})" if model.startswith("scripted") else ""
            self.err.print(
                f"[bold]▶ {data.get('agent')}[/] · model [cyan]{model}[/]{note} · [dim]{event.run_id}[/]",
                highlight=False,
            )
        elif kind == ev.MODEL_TEXT:
            self._text_turns.add(data["turn"])
            self.out.file.write(data["text"])
            self.out.file.flush()
            self._mid_line = not data["text"].endswith("\n")
        elif kind == ev.MODEL_RESPONSE:
            message = data.get("message", {})
            if message.get("content") and data.get("turn") not in self._text_turns:
                self.out.file.write(message["content"])
                self._mid_line = True
            self._break()
        elif kind == ev.TOOL_CALL:
            self._break()
            self.err.print(
                f"  [yellow]→ {data['name']}[/] {short(data.get('arguments'))}", highlight=False
            )
        elif kind == ev.TOOL_RESULT:
            if data.get("error"):
                self.err.print(
                    f"  [red]← {data['name']} error:[/] {short(data['error'])}", highlight=False
                )
            else:
                self.err.print(
                    f"  [green]← {data['name']}[/] {short(data.get('output'))} "
                    f"[dim]({data.get('duration_ms', 0):.1f} ms)[/]",
                    highlight=False,
                )
        elif kind in (ev.MODEL_RETRY, ev.RUN_RETRY):
            self._break()
            self.err.print(
                f"  [magenta]↻ retry {data.get('attempt')}[/] {short(data.get('error', ''))}",
                highlight=False,
            )
        elif kind == ev.RUN_FALLBACK:
            self._break()
            self.err.print(
                f"  [magenta]⇢ falling back to {data['to']}[/]: {short(data.get('message', ''))}",
                highlight=False,
            )
        elif kind == ev.BUDGET_EXCEEDED:
            self._break()
            self.err.print(
                f"  [red]budget exceeded[/] ({data['scope']}: {data['used']}/{data['limit']})"
            )
        elif (line := strategy_line(event)) is not None:
            self._break()
            self.err.print(Text(f"  {line}", style="blue"))
            if kind == ev.ROUTE_FINISHED and data.get("output"):
                self.out.file.write(data["output"] + "\n")
                self.out.file.flush()
        elif kind == ev.RUN_COMPLETED:
            self._break()
            usage = data.get("usage", {})
            tokens = (
                usage.get("input_tokens", 0)
                + usage.get("output_tokens", 0)
                + usage.get("cache_read_tokens", 0)
            )
            self.err.print(
                f"[green]✓ completed[/] in {data['turns']} turn{'s' if data['turns'] != 1 else ''} · "
                f"{tokens} tokens · {data['duration_ms']:.1f} ms · [dim]{event.run_id}[/]",
                highlight=False,
            )
        elif kind == ev.RUN_FAILED:
            self._break()
            self.err.print(
                f"[red]✗ failed[/] ({data['error']}): {data['message']} · [dim]{event.run_id}[/]",
                highlight=False,
            )


def describe(event: Event) -> str:
    """One line summarising an event for the timeline."""
    kind, data = event.type, event.data
    if kind == ev.RUN_STARTED:
        extra = f" session={data['session_id']}" if data.get("session_id") else ""
        return f"{data.get('agent')} on {short(data.get('input', ''), 80)!s} · {data.get('model')}{extra}"
    if kind == ev.MODEL_REQUEST:
        return f"turn {data['turn']} · {data['messages']} message(s) · tools: {', '.join(data.get('tools') or []) or '-'}"
    if kind == ev.MODEL_TEXT:
        return short(data["text"], 80)
    if kind == ev.MODEL_RESPONSE:
        message = data.get("message", {})
        calls = message.get("tool_calls") or []
        usage = data.get("usage", {})
        what = f"{len(calls)} tool call(s)" if calls else short(message.get("content", ""), 80)
        return f"{what} · {usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out · {data.get('stop_reason')}"
    if kind == ev.TOOL_CALL:
        return f"{data['name']}({short(data.get('arguments'), 80)}) [{data['call_id']}]"
    if kind == ev.TOOL_RESULT:
        if data.get("error"):
            return f"{data['name']} ✗ {short(data['error'], 90)}"
        return f"{data['name']} → {short(data.get('output'), 80)} ({data.get('duration_ms', 0):.1f} ms)"
    if kind == ev.RUN_COMPLETED:
        return f"{short(data.get('output', ''), 80)} · {data['turns']} turn(s) · {data['duration_ms']:.1f} ms"
    if kind == ev.RUN_FAILED:
        return f"{data['error']}: {short(data.get('message', ''), 100)}"
    return short(data, 100)


STYLES = {
    ev.RUN_STARTED: "bold",
    ev.RUN_COMPLETED: "green",
    ev.RUN_FAILED: "red",
    ev.TOOL_CALL: "yellow",
    ev.TOOL_RESULT: "green",
    ev.BUDGET_EXCEEDED: "red",
}


def timeline(record: RunRecord, events: list[Event], *, show_text: bool = False) -> Table:
    table = Table(
        title=f"run {record.id} · {record.agent} · {record.status}",
        title_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("+ms", justify="right", style="dim")
    table.add_column("event")
    table.add_column("details", overflow="fold")
    start = events[0].ts if events else record.created_at
    skipped = 0
    for event in events:
        if event.type == ev.MODEL_TEXT and not show_text:
            skipped += 1
            continue
        table.add_row(
            str(event.seq),
            f"{(event.ts - start) * 1000:.1f}",
            Text(event.type, style=STYLES.get(event.type, "")),
            describe(event),
        )
    if skipped:
        table.caption = f"{skipped} text delta event(s) hidden (--text shows them)"
    return table
