"""The tool port: one small :class:`Tool` ABC, its call context and its result.

A tool raises :class:`agentspec.exceptions.ToolError` (or anything else) to fail; the engine
turns any failure, hang or non-JSON output into an error result the model sees. A tool never
crashes a run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ToolContext:
    """Who is calling. ``idempotency_key`` is stable across resumes of the same run.

    Command tools receive it as ``AGENTSPEC_IDEMPOTENCY_KEY`` (plus ``AGENTSPEC_RUN_ID`` and
    ``AGENTSPEC_CALL_ID``); HTTP tools send it as the ``Idempotency-Key`` header.
    """

    run_id: str
    call_id: str
    agent: str
    session_id: str = ""

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}:{self.call_id}"


@dataclass(slots=True)
class ToolResult:
    """The outcome of one call. ``output`` is JSON-compatible; ``error`` is empty on success."""

    output: Any
    error: str = ""
    duration_ms: float = 0.0

    @property
    def is_error(self) -> bool:
        return bool(self.error)


class Tool(ABC):
    """A callable capability with a JSON-schema input.

    Attributes:
        name: unique within an agent; what the model calls.
        description: shown to the model.
        parameters: JSON schema (``type: object``) of the arguments.
        timeout: seconds; ``None`` uses the runtime default.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    timeout: float | None = None
    enforces_timeout: bool = False
    """True when the tool stops itself at ``timeout`` (killing its process, closing its
    connection); the engine then waits one extra second so the tool's own message wins."""

    @abstractmethod
    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        """Run the tool and return a JSON-compatible value, or raise to fail."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, processes). Default: nothing."""
