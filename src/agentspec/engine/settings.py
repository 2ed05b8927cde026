"""Runtime settings: plain values with defaults from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from agentspec.ir.models import ModelConfig

DEFAULT_STORE = "sqlite:///.agentspec/agentspec.db"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_store() -> str:
    return os.environ.get("AGENTSPEC_STORE") or DEFAULT_STORE


@dataclass(slots=True)
class Settings:
    """How a :class:`~agentspec.engine.runtime.Runtime` runs agents.

    Attributes:
        store: ``memory``, ``sqlite:///path.db`` (default ``.agentspec/agentspec.db`` in the
            working directory, or ``$AGENTSPEC_STORE``) or a PostgreSQL URL (later).
        tool_timeout: seconds a tool call may take when its spec sets no timeout.
        model_override: replaces every agent's model (the CLI's ``--model``).
        session_cache_size: how many sessions' recent messages stay in memory (0: none).
        lease_ttl: seconds a run's lease lasts without a heartbeat (heartbeats every third);
            another process may resume a ``running`` run whose lease expired.
        resume_on_start: at start-up, resume this package's runs left ``running`` by a dead
            process (``$AGENTSPEC_RESUME_ON_START``; ``agentspec serve`` turns it on).
        approval_timeout: seconds after which an undecided approval request is decided by
            ``approval_on_timeout`` (``approve`` or ``deny``); ``None``: wait forever.
    """

    store: str = field(default_factory=_env_store)
    tool_timeout: float = 60.0
    model_override: ModelConfig | None = None
    session_cache_size: int = 1024
    lease_ttl: float = 30.0
    resume_on_start: bool = field(default_factory=lambda: _env_flag("AGENTSPEC_RESUME_ON_START"))
    approval_timeout: float | None = None
    approval_on_timeout: Literal["approve", "deny"] = "deny"
