"""Python function tools: ``@agentspec.tool`` and ``python: module:function`` skills.

The JSON schema comes from the type hints (via pydantic) and the parameter descriptions from a
Google-style ``Args:`` section of the docstring. A parameter annotated with
:class:`~agentspec.tools.base.ToolContext` receives the call context and is hidden from the
model. Sync functions run in a worker thread so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from agentspec.exceptions import ToolError, UsageError
from agentspec.tools.base import Tool, ToolContext

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {param: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    index = 0
    while index < len(lines) and not _ARGS_HEADER.match(lines[index]):
        if _SECTION.match(lines[index]) and description:
            break
        description.append(lines[index])
        index += 1
    if index < len(lines) and _ARGS_HEADER.match(lines[index]):
        index += 1
        current = ""
        indent = None
        while index < len(lines):
            line = lines[index]
            if not line.strip():
                index += 1
                continue
            this_indent = len(line) - len(line.lstrip())
            if indent is None:
                indent = this_indent
            if this_indent < (indent or 0) or (this_indent == 0 and _SECTION.match(line)):
                break
            match = _ARG_LINE.match(line)
            if match and this_indent == indent:
                current = match.group(1).lstrip("*")
                params[current] = match.group(2).strip()
            elif current:
                params[current] = f"{params[current]} {line.strip()}".strip()
            index += 1
    text = "\n".join(description).strip()
    return text, params


class FunctionTool(Tool):
    """A tool backed by a Python callable; still callable as the original function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if not callable(fn):
            raise UsageError(f"@tool needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or fn.__name__
        doc_description, param_docs = parse_docstring(fn.__doc__)
        self.description = description or doc_description or self.name
        self.timeout = timeout
        self._is_async = inspect.iscoroutinefunction(fn)
        self._context_param: str | None = None
        self._args_model = self._build_model(fn, param_docs)
        schema = self._args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            if isinstance(prop, dict):
                prop.pop("title", None)
        self.parameters = schema
        self._fields = tuple(self._args_model.model_fields)
        self.__name__ = self.name
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def _build_model(self, fn: Callable[..., Any], docs: dict[str, str]) -> type[BaseModel]:
        try:
            hints = get_type_hints(fn)
        except Exception as exc:  # unresolvable forward references, etc.
            raise UsageError(f"tool {self.name!r}: cannot read type hints: {exc}") from None
        fields: dict[str, Any] = {}
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise UsageError(f"tool {self.name!r}: *args/**kwargs parameters are not supported")
            annotation = hints.get(param.name, Any)
            if annotation is ToolContext:
                self._context_param = param.name
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (
                annotation,
                FieldInfo(default=default, description=docs.get(param.name)),
            )
        config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
        try:
            return create_model(f"{self.name}_args", __config__=config, **fields)
        except Exception as exc:
            raise UsageError(
                f"tool {self.name!r}: cannot build a schema from its signature: {exc}"
            ) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            model = self._args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(model, name) for name in self._fields}

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        kwargs = self.validate(arguments)
        if self._context_param:
            kwargs[self._context_param] = ctx
        if self._is_async:
            return await self.fn(**kwargs)
        return await asyncio.to_thread(self.fn, **kwargs)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Turn a function into a tool. Use as ``@tool`` or ``@tool(name=..., timeout=...)``.

    Example:
        ```python
        @agentspec.tool
        async def add(a: int, b: int) -> int:
            \"\"\"Add two integers.

            Args:
                a: the first number
                b: the second number
            \"\"\"
            return a + b
        ```
    """
    if fn is None:
        return lambda f: FunctionTool(f, name=name, description=description, timeout=timeout)
    return FunctionTool(fn, name=name, description=description, timeout=timeout)
