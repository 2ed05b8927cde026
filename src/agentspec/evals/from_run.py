"""Turn a recorded run into a regression eval case (YAML text)."""

from __future__ import annotations

from typing import Any

import yaml

from agentspec.engine import events as ev
from agentspec.engine.result import fold
from agentspec.exceptions import UsageError
from agentspec.store.base import Store


async def case_from_run(store: Store, run_id: str, *, name: str | None = None) -> dict[str, Any]:
    """An eval case asserting what the recorded run did: its status, its output and its tool
    calls (name and arguments).

    Raises:
        UsageError: unknown run, unfinished run, or not an agent run.
    """
    if run_id in ("latest", "last"):
        page = await store.list_runs(limit=1)
        if not page.runs:
            raise UsageError(f"no runs in {store.url}")
        run_id = page.runs[0].id
    events = await store.get_events(run_id)
    if not events:
        raise UsageError(f"no run {run_id!r} in {store.url} (see 'agentspec runs list')")
    started = events[0].data if events[0].type == ev.RUN_STARTED else {}
    if started.get("kind"):
        raise UsageError(f"run {run_id} is a {started['kind']} run; eval cases run agents")
    if events[-1].type not in ev.TERMINAL:
        raise UsageError(f"run {run_id} has not finished; only finished runs become eval cases")
    result = fold(events)
    case: dict[str, Any] = {
        "name": name or f"regression-{run_id}",
        "agent": str(started.get("agent", "")),
        "input": str(started.get("input", "")),
    }
    variables = started.get("variables") or {}
    if variables:
        case["variables"] = dict(variables)
    expect: list[dict[str, Any]] = [{"status": result.status}]
    if result.status == "completed":
        expect.append({"equals": result.output})
    seen: set[str] = set()
    for call in result.tool_calls:
        key = repr((call.tool_name, call.input))
        if key in seen:
            continue
        seen.add(key)
        expect.append({"tool_called": {"name": call.tool_name, "arguments": call.input or {}}})
    case["expect"] = expect
    return case


def case_yaml(case: dict[str, Any], *, note: str = "") -> str:
    """``evals: [case]`` as YAML, ready for ``evals/NAME.yaml``."""
    header = f"# {note}\n" if note else ""
    body = yaml.safe_dump({"evals": [case]}, sort_keys=False, allow_unicode=True, width=100)
    return header + body
