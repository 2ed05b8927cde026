"""Skill helpers of the YAML front-end: input JSON schemas and ``python:`` tool imports.

Both are plain functions of their inputs; :mod:`agentspec.lang.yaml_spec` turns their error
strings into positioned diagnostics.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from agentspec.ir.models import PythonTool
from agentspec.ir.schema import JSON_TYPES
from agentspec.ir.suggest import suggest
from agentspec.tools.function import FunctionTool

_SCHEMA_TYPES = frozenset(JSON_TYPES.values())


def fields_from_schema(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Skill ``input`` fields describing a function's JSON schema (for the IR's records)."""
    required = set(schema.get("required", ()))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        fields.append(
            {
                "name": name,
                "type": kind if kind in _SCHEMA_TYPES else "any",
                "required": name in required,
                "description": prop.get("description", "") if isinstance(prop, dict) else "",
            }
        )
    return fields


@dataclass(frozen=True, slots=True)
class ImportFailure:
    message: str
    hint: str = ""


@dataclass(slots=True)
class PythonImporter:
    """Imports ``module:function`` tools of one project, each module once per load.

    The project directory goes first on ``sys.path`` only while importing. A module that lives
    in the project is imported afresh on every load (a stale copy from another project of the
    same process, or from before an edit, is dropped from ``sys.modules`` first).
    """

    root: Path
    modules: dict[str, ModuleType | ImportFailure] = field(default_factory=dict)

    def load(self, tool: PythonTool, skill: str, description: str) -> FunctionTool | ImportFailure:
        """The tool for ``tool.function``, or why it cannot be loaded."""
        module_name, _, attribute = tool.function.partition(":")
        module = self.modules.get(module_name)
        if module is None:
            module = self.modules[module_name] = self._import(module_name)
        if isinstance(module, ImportFailure):
            return module
        target: Any = module
        for part in attribute.split("."):
            if not hasattr(target, part):
                names = [
                    n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n))
                ]
                message = f'function "{attribute}" not found in module "{module_name}"'
                return ImportFailure(message, suggest(part, names))
            target = getattr(target, part)
        if isinstance(target, FunctionTool):
            return target
        if not callable(target):
            return ImportFailure(f'"{tool.function}" is not a function')
        try:
            return FunctionTool(
                target, name=skill, description=description or None, timeout=tool.timeout
            )
        except Exception as exc:
            return ImportFailure(f'cannot use "{tool.function}" as a tool: {exc}')

    def _import(self, name: str) -> ModuleType | ImportFailure:
        top = name.split(".")[0]
        local = (self.root / f"{top}.py").is_file() or (self.root / top).is_dir()
        if local and top in sys.stdlib_module_names:
            return ImportFailure(
                f'module "{top}" of the project has the name of a standard library module',
                "rename it",
            )
        if local:
            for loaded in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
                del sys.modules[loaded]
        if not self.modules:
            importlib.invalidate_caches()
        entry = str(self.root)
        sys.path.insert(0, entry)
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(f"{exc.name}.")):
                return ImportFailure(f'module "{name}" not found in {self.root}')
            return ImportFailure(f'cannot import module "{name}": ModuleNotFoundError: {exc}')
        except (Exception, SystemExit) as exc:
            return ImportFailure(f'cannot import module "{name}": {type(exc).__name__}: {exc}')
        finally:
            if entry in sys.path:
                sys.path.remove(entry)
