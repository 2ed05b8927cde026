"""Runtime settings: plain values with defaults from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from agentspec.ir.models import ModelConfig

DEFAULT_STORE = "sqlite:///.agentspec/agentspec.db"


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
    """

    store: str = field(default_factory=_env_store)
    tool_timeout: float = 60.0
    model_override: ModelConfig | None = None
    session_cache_size: int = 1024
