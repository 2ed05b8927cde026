"""One-line, human-readable summaries of the strategy and delegation events (CLI, timelines)."""

from __future__ import annotations

import json
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.events import Event


def _short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strategy_line(event: Event) -> str | None:
    """A summary of a strategy/delegation event, or ``None`` for any other event."""
    kind, data = event.type, event.data
    if kind == ev.HANDOFF:
        why = f": {_short(data['reason'])}" if data.get("reason") else ""
        return f"⇢ handoff {data['from']} → {data['to']} (depth {data['depth']}){why}"
    if kind == ev.PLAN_CREATED:
        steps = data["steps"]
        label = "re-plan" if data.get("replan") else "plan"
        return f"☰ {label}: " + " | ".join(f"{i}. {_short(s, 40)}" for i, s in enumerate(steps, 1))
    if kind == ev.PLAN_REJECTED:
        return f"✗ plan rejected (attempt {data['attempt']}): {_short(data['error'])}"
    if kind == ev.PLAN_STEP_STARTED:
        return f"▸ step {data['index']}/{data['count']}: {_short(data['step'])}"
    if kind == ev.PLAN_STEP_FINISHED:
        if data["status"] == "failed":
            return f"✗ step {data['index']} failed: {_short(data['error'])}"
        return f"✓ step {data['index']} done"
    if kind == ev.CRITIQUE_ROUND:
        note = f": {_short(data['feedback'])}" if data.get("feedback") else ""
        return f"⚖ critique {data['round']}: {data['verdict']}{note}"
    if kind == ev.ROUTE_REJECTED:
        return f"✗ route rejected (attempt {data['attempt']}): {_short(data['error'])}"
    if kind == ev.ROUTE_CHOSEN:
        return f"⇢ route → {data['agent']}"
    if kind == ev.ROUTE_FINISHED:
        return f"⇠ {data['agent']} {data['status']} · {data['child_run_id']}"
    if kind == ev.MAP_CHUNKS:
        return f"✂ {data['count']} chunk(s) of ≤ {data['chunk_size']} characters"
    if kind == ev.MAP_CHUNK_STARTED:
        return f"▸ chunk {data['index']} ({data['size']} characters)"
    if kind == ev.MAP_CHUNK_FINISHED:
        error = f": {_short(data['error'])}" if data.get("error") else ""
        return f"{'✓' if data['status'] == 'completed' else '✗'} chunk {data['index']} {data['status']}{error}"
    if kind == ev.MAP_REDUCE:
        return f"⊕ merging {len(data['parts'])} part(s)"
    return None
