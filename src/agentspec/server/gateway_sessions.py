"""The sessions one WebSocket gateway has routed messages to (``session.list``, ``status``).

The runtime's store stays the source of truth for a session's messages; this table only
remembers which conversations (``channel``, ``account``, ``peer``) reached which session key
through this gateway, and how many of their messages are being processed right now.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agentspec.server.gateway_frames import Conversation

MAX_TRACKED_SESSIONS = 10_000


@dataclass(slots=True)
class SessionInfo:
    """A session this gateway has routed messages to."""

    key: str
    agent: str
    channel: str
    account: str
    peer: str
    created_at: float
    updated_at: float
    runs: int = 0
    in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "agent": self.agent,
            "channel": self.channel,
            "account": self.account,
            "peer": self.peer,
            "runs": self.runs,
            "active": self.in_flight > 0,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class SessionTable:
    """The sessions seen by one gateway (across its connections), oldest idle ones evicted."""

    def __init__(self, limit: int = MAX_TRACKED_SESSIONS) -> None:
        self.limit = limit
        self._sessions: OrderedDict[str, SessionInfo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def begin(self, key: str, agent: str, where: Conversation) -> None:
        now = time.time()
        info = self._sessions.get(key)
        if info is None:
            info = SessionInfo(key, agent, where.channel, where.account, where.peer, now, now)
            self._sessions[key] = info
        info.runs += 1
        info.in_flight += 1
        info.updated_at = now
        self._sessions.move_to_end(key)
        if len(self._sessions) > self.limit:
            idle = [k for k, s in self._sessions.items() if not s.in_flight]
            for old in idle[: len(self._sessions) - self.limit]:
                del self._sessions[old]

    def end(self, key: str) -> None:
        info = self._sessions.get(key)
        if info is not None:
            info.in_flight = max(0, info.in_flight - 1)
            info.updated_at = time.time()

    def get(self, key: str) -> SessionInfo | None:
        return self._sessions.get(key)

    def find(self, channel: str, account: str, peer: str) -> list[SessionInfo]:
        return [
            s
            for s in self._sessions.values()
            if (s.channel, s.account, s.peer) == (channel, account, peer)
        ]

    def drop(self, key: str) -> None:
        self._sessions.pop(key, None)

    def listing(self) -> list[dict[str, Any]]:
        return [info.to_dict() for _, info in sorted(self._sessions.items())]
