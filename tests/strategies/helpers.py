"""Shared checks for strategy tests: structure events, fold equality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentspec.engine.events import EVENT_TYPES
from agentspec.engine.result import RunResult, fold

CORE_NOISE = frozenset({"model.text"})


def structure(events: Sequence[Any], prefixes: tuple[str, ...]) -> list[str]:
    """The types of the events whose type starts with one of ``prefixes``, in order."""
    return [e.type for e in events if e.type.startswith(prefixes)]


def check_log(events: Sequence[Any], result: RunResult) -> None:
    """The log is well-formed and folds to the returned result."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.type in EVENT_TYPES for e in events), {e.type for e in events} - EVENT_TYPES
    assert fold(events).to_dict() == result.to_dict()


def data_of(events: Sequence[Any], type_: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == type_]
