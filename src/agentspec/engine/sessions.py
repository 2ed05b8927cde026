"""Session windows kept in memory, so a long conversation does not re-read its history per turn.

The store stays the source of truth: a window is filled from the store on first use and then
extended with what each completed run adds. Deleting a session drops its window. (With several
processes serving one session, a later scale-out issue routes a session to one worker.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from agentspec.models.base import Message
from agentspec.store.base import SessionRecord


@dataclass(slots=True)
class SessionWindow:
    record: SessionRecord
    messages: list[Message] = field(default_factory=list)
    """The latest ``limit`` messages, oldest first."""
    limit: int = 0

    def extend(self, new: list[Message]) -> None:
        self.messages.extend(new)
        if len(self.messages) > self.limit:
            del self.messages[: len(self.messages) - self.limit]


def window(messages: list[Message], last: int) -> list[Message]:
    """The last ``last`` messages, starting at a user turn (no orphan tool results)."""
    tail = messages[-last:] if len(messages) > last else messages
    for index, message in enumerate(tail):
        if message.role == "user":
            return tail[index:] if index else list(tail)
    return []


class SessionCache:
    """A small LRU of session windows."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._windows: OrderedDict[str, SessionWindow] = OrderedDict()

    def get(self, session_id: str, limit: int) -> SessionWindow | None:
        found = self._windows.get(session_id)
        if found is None or found.limit < limit:
            return None
        self._windows.move_to_end(session_id)
        return found

    def put(self, session: SessionWindow) -> None:
        if self.size <= 0:
            return
        self._windows[session.record.id] = session
        self._windows.move_to_end(session.record.id)
        while len(self._windows) > self.size:
            self._windows.popitem(last=False)

    def drop(self, session_id: str) -> None:
        self._windows.pop(session_id, None)
