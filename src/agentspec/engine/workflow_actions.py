"""What a workflow node, FSM state or behaviour-tree action does: run an agent, call a Python
function or call a declared tool. Shared by :mod:`agentspec.engine.workflow` and
:mod:`agentspec.engine.workflow_tree`.

* **agent**: a child run (``runtime.run(agent, text, parent_run_id=...)``); the input text is
  the node's ``input`` template rendered over the task data (``{{field}}``), or the data
  itself (JSON unless it is a string). The answer is parsed as JSON when it is a JSON object
  or list, else kept as text.
* **function** (``module:function``, resolved against the project directory): called with the
  task data, on the event loop (``async def`` functions are awaited). Keep them fast; use an
  async function for I/O.
* **tool** (a declared skill): called with the task data (a mapping) as its arguments.

A failure of any kind raises :class:`NodeFailure` with a message naming what failed.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentspec._template import render
from agentspec.exceptions import RunError, UsageError
from agentspec.ir.workflow import _Action
from agentspec.tools.base import Tool, ToolContext

if TYPE_CHECKING:
    from agentspec.engine.run import RunState
    from agentspec.engine.runtime import Runtime

NodeFunction = Callable[[Any], Any]


class WorkflowError(RunError):
    """A workflow, state machine or behaviour tree failed; the message names the node."""

    def __init__(self, message: str, code: str = "internal_error") -> None:
        super().__init__(message)
        self.code = code


class NodeFailure(Exception):
    """An action failed. ``code`` is a contract error code; ``run_id`` a failed child run."""

    def __init__(self, message: str, code: str = "internal_error", run_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.run_id = run_id


def import_callable(ref: str, base_dir: Path) -> NodeFunction:
    """Import ``module:function`` with ``base_dir`` first on ``sys.path``.

    Raises:
        UsageError: the module or attribute cannot be imported, or is not callable.
    """
    module_name, _, attr = ref.partition(":")
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise UsageError(f"cannot import function {ref!r}: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    target = getattr(target, "fn", target)  # an @agentspec.tool: call the function itself
    if not callable(target):
        raise UsageError(f"function {ref!r} is not callable ({type(target).__name__})")
    return target  # type: ignore[no-any-return]


def as_text(data: Any) -> str:
    """The task data as an agent's input: strings as they are, anything else as JSON."""
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)


def parse_answer(text: str) -> Any:
    """An agent's answer as task data: a JSON object or list when it is one, else the text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def store(data: Any, field: str, value: Any, where: str) -> Any:
    """The task data after an action: ``value`` itself, or ``data`` with ``field`` set."""
    if not field:
        return value
    if not isinstance(data, dict):
        raise NodeFailure(
            f"{where}: cannot store the result under {field!r}: the task data is "
            f"{type(data).__name__}, not a mapping",
            "invalid_request",
        )
    data[field] = value
    return data


class Actions:
    """Resolves and runs node actions for one runtime; functions and tools are cached."""

    def __init__(
        self, runtime: Runtime, functions: Mapping[str, NodeFunction] | None = None
    ) -> None:
        self.runtime = runtime
        self._functions: dict[str, NodeFunction] = dict(functions or {})
        self._tools: dict[str, Tool] = {}

    def function(self, ref: str) -> NodeFunction:
        """The callable for ``module:function`` (given to the constructor, or imported)."""
        fn = self._functions.get(ref)
        if fn is None:
            fn = import_callable(ref, self.runtime.base_dir)
            self._functions[ref] = fn
        return fn

    def tool(self, name: str) -> Tool:
        """The declared skill ``name`` as a callable tool."""
        tool = self._tools.get(name)
        if tool is None:
            from agentspec.engine.compile import build_tool

            skill = self.runtime.package.skills.get(name)
            if skill is None:
                raise UsageError(f"unknown tool {name!r}")
            tool = build_tool(
                skill,
                functions=getattr(self.runtime, "_functions", {}),
                secrets=self.runtime.secrets,
                base_dir=self.runtime.base_dir,
            )
            self._tools[name] = tool
        return tool

    def prepare(self, action: _Action) -> None:
        """Resolve an action's function or tool now, so a bad reference fails before the run."""
        if action.function:
            self.function(action.function)
        elif action.tool:
            self.tool(action.tool)

    def agent_input(self, action: _Action, data: Any, where: str) -> str:
        """The agent's input text: ``input`` rendered over the task data, or the data."""
        if not action.input:
            return as_text(data)
        values = data if isinstance(data, Mapping) else {"data": data}

        def missing(name: str) -> str:
            fields = ", ".join(sorted(str(k) for k in values)) or "none"
            raise NodeFailure(
                f"{where}: input references unknown field {{{{{name}}}}} "
                f"(the task data has: {fields})",
                "invalid_request",
            )

        return render(action.input, {**values, "data": data}, missing=missing)

    async def run_agent(
        self, state: RunState, agent: str, text: str, where: str
    ) -> tuple[str, str]:
        """Run ``agent`` as a child of ``state``'s run; ``(output, child run id)``."""
        result = await self.runtime.run(
            agent, text, parent_run_id=state.run_id, raise_on_failure=False
        )
        if result.status != "completed":
            raise NodeFailure(
                f"{where}: agent {agent!r} failed ({result.error}): {result.error_message}",
                result.error or "internal_error",
                result.run_id,
            )
        return result.output, result.run_id

    async def call_tool(
        self, state: RunState, name: str, data: Any, call_id: str, where: str
    ) -> Any:
        """Call the tool ``name`` with the task data as arguments; its JSON output."""
        if not isinstance(data, dict):
            raise NodeFailure(
                f"{where}: tool {name!r} needs the task data to be a mapping of arguments, "
                f"got {type(data).__name__}",
                "invalid_request",
            )
        tool = self.tool(name)
        timeout = tool.timeout or self.runtime.settings.tool_timeout
        ctx = ToolContext(state.run_id, call_id, state.agent, state.session_id)
        try:
            async with asyncio.timeout(timeout):
                output = await tool.call(dict(data), ctx)
            return json.loads(json.dumps(output, ensure_ascii=False))
        except TimeoutError:
            raise NodeFailure(
                f"{where}: tool {name!r} timed out after {timeout:g}s", "timeout"
            ) from None
        except (TypeError, ValueError) as exc:
            raise NodeFailure(f"{where}: tool {name!r} failed: {exc}") from None
        except Exception as exc:
            raise NodeFailure(
                f"{where}: tool {name!r} failed: {type(exc).__name__}: {exc}"
            ) from None

    async def call_function(self, ref: str, data: Any, where: str) -> Any:
        """Call ``module:function`` with the task data; raises :class:`NodeFailure`."""
        fn = self.function(ref)
        try:
            result = fn(data)
            if inspect.isawaitable(result):
                result = await result
        except NodeFailure:
            raise
        except Exception as exc:
            raise NodeFailure(
                f"{where}: function {ref!r} raised {type(exc).__name__}: {exc}"
            ) from None
        return result
