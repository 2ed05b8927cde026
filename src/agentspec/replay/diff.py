"""Compare two runs' event logs, ignoring what legitimately differs between executions.

Excluded from comparison: timing (``ts``, ``duration_ms``) and ids generated per run (the run
id, wherever it appears, and trace ids). Everything else of every event, in order, must be equal.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentspec.engine.events import Event

TIMING_FIELDS = frozenset({"duration_ms"})
"""Payload keys that hold timings (the event's own ``ts`` is never compared)."""
RUN_ID = "<run_id>"


def normalize(event: Event, run_id: str, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The comparable part of an event: its type and payload, timings and run ids removed
    (and the keys in ``ignore``)."""
    skip = TIMING_FIELDS | ignore
    data = {k: v for k, v in event.data.items() if k not in skip}
    return {"type": event.type, "data": _replace(data, run_id)}


def _replace(value: Any, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(run_id, RUN_ID) if run_id and run_id in value else value
    if isinstance(value, dict):
        return {k: _replace(v, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, run_id) for v in value]
    return value


@dataclass(slots=True)
class Divergence:
    """The first event where two logs differ.

    Attributes:
        index: 0-based position in the logs.
        seq: the recorded event's ``seq`` (or the replayed one's when the recording ended).
        recorded_type: the recorded event's type (``""`` when the recording has no event here).
        replayed_type: the replayed event's type (``""`` when the replay stopped earlier).
        differences: one line per differing field, ``path: recorded -> replayed``.
        diff: a unified diff of the two events' JSON.
    """

    index: int
    seq: int
    recorded_type: str
    replayed_type: str
    differences: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def type(self) -> str:
        return self.recorded_type or self.replayed_type

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "recorded_type": self.recorded_type,
            "replayed_type": self.replayed_type,
            "differences": self.differences,
            "diff": self.diff,
        }


def first_divergence(
    recorded: Sequence[Event], replayed: Sequence[Event], *, ignore: frozenset[str] = frozenset()
) -> Divergence | None:
    """The first differing event of two logs, or ``None`` when they are identical.

    ``ignore`` names payload keys left out everywhere (``ir_hash`` when comparing two specs).
    """
    old_id = recorded[0].run_id if recorded else ""
    new_id = replayed[0].run_id if replayed else ""
    for index in range(max(len(recorded), len(replayed))):
        old = normalize(recorded[index], old_id, ignore) if index < len(recorded) else None
        new = normalize(replayed[index], new_id, ignore) if index < len(replayed) else None
        if old == new:
            continue
        seq = (recorded[index] if index < len(recorded) else replayed[index]).seq
        differences: list[str] = []
        if old is None:
            differences.append(f"the recording ends here; the replay has {new and new['type']}")
        elif new is None:
            differences.append(f"the replay ends here; the recording has {old['type']}")
        else:
            _differences(old, new, "", differences)
        return Divergence(
            index,
            seq,
            old["type"] if old else "",
            new["type"] if new else "",
            differences,
            _unified(old, new),
        )
    return None


def _differences(old: Any, new: Any, path: str, out: list[str], limit: int = 20) -> None:
    if len(out) >= limit:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{where}: (absent) -> {_show(new[key])}")
            elif key not in new:
                out.append(f"{where}: {_show(old[key])} -> (absent)")
            else:
                _differences(old[key], new[key], where, out, limit)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _differences(a, b, f"{path}[{i}]", out, limit)
        return
    if old != new:
        out.append(f"{path}: {_show(old)} -> {_show(new)}")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _unified(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    def lines(value: dict[str, Any] | None) -> list[str]:
        if value is None:
            return []
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    return "\n".join(
        difflib.unified_diff(lines(old), lines(new), "recorded", "replayed", lineterm="")
    )
