"""agentspec: declare, run, serve, observe and scale LLM agents.

The public API is re-exported here and loaded lazily, so ``import agentspec`` stays fast:

- :func:`load` a project (YAML directory or file) -> :class:`Project`
- :class:`Agent`, :func:`tool` -- the Python front-end
- :class:`Runtime`, :class:`Settings`, :class:`RunResult`, :class:`RunHandle`, :class:`Event`
- :class:`ScriptedModel`, :class:`ReplayModel` -- deterministic models for tests and demos
- :func:`run_pipeline`, :func:`run_workflow` (and ``start_*``) -- multi-agent structures;
  :func:`replay_run` -- re-execute a stored run against its log
- the error tree in :mod:`agentspec.exceptions`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentspec._version import __version__

if TYPE_CHECKING:
    from agentspec.engine.events import Event
    from agentspec.engine.pipeline import PipelineResult, run_pipeline, start_pipeline
    from agentspec.engine.result import RunResult, ToolCallRecord
    from agentspec.engine.run import RunHandle
    from agentspec.engine.runtime import Runtime
    from agentspec.engine.settings import Settings
    from agentspec.engine.workflow import run_workflow, start_workflow
    from agentspec.exceptions import (
        AgentspecError,
        BudgetExceeded,
        ConfigError,
        ModelError,
        RunError,
        SpecError,
        StoreError,
        ToolError,
        UsageError,
    )
    from agentspec.lang.project import Project, load
    from agentspec.lang.python import Agent
    from agentspec.models.replay import ReplayModel
    from agentspec.models.scripted import ScriptedModel
    from agentspec.replay import replay_run
    from agentspec.tools.base import ToolContext
    from agentspec.tools.function import tool

_EXPORTS = {
    "Agent": "agentspec.lang.python",
    "AgentspecError": "agentspec.exceptions",
    "BudgetExceeded": "agentspec.exceptions",
    "ConfigError": "agentspec.exceptions",
    "Event": "agentspec.engine.events",
    "ModelError": "agentspec.exceptions",
    "PipelineResult": "agentspec.engine.pipeline",
    "Project": "agentspec.lang.project",
    "ReplayModel": "agentspec.models.replay",
    "RunError": "agentspec.exceptions",
    "RunHandle": "agentspec.engine.run",
    "RunResult": "agentspec.engine.result",
    "Runtime": "agentspec.engine.runtime",
    "ScriptedModel": "agentspec.models.scripted",
    "Settings": "agentspec.engine.settings",
    "SpecError": "agentspec.exceptions",
    "StoreError": "agentspec.exceptions",
    "ToolCallRecord": "agentspec.engine.result",
    "ToolContext": "agentspec.tools.base",
    "ToolError": "agentspec.exceptions",
    "UsageError": "agentspec.exceptions",
    "load": "agentspec.lang.project",
    "replay_run": "agentspec.replay",
    "run_pipeline": "agentspec.engine.pipeline",
    "run_workflow": "agentspec.engine.workflow",
    "start_pipeline": "agentspec.engine.pipeline",
    "start_workflow": "agentspec.engine.workflow",
    "tool": "agentspec.tools.function",
}

__all__ = [
    "Agent",
    "AgentspecError",
    "BudgetExceeded",
    "ConfigError",
    "Event",
    "ModelError",
    "PipelineResult",
    "Project",
    "ReplayModel",
    "RunError",
    "RunHandle",
    "RunResult",
    "Runtime",
    "ScriptedModel",
    "Settings",
    "SpecError",
    "StoreError",
    "ToolCallRecord",
    "ToolContext",
    "ToolError",
    "UsageError",
    "__version__",
    "load",
    "replay_run",
    "run_pipeline",
    "run_workflow",
    "start_pipeline",
    "start_workflow",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
