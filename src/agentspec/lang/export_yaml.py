"""IR -> YAML spec (``agentspec export --format yaml``).

:func:`package_to_yaml` writes a package as the YAML front-end reads it (``docs/spec-yaml.md``):
every resource with the fields that differ from the IR defaults, models inline on their
agents (``provider:name`` when nothing else is set), tools in the ``tool: {type: ...}`` form,
variables and fields as ordered lists, multi-line strings as ``|`` blocks. Sections this
module does not know yet (resources added to :class:`~agentspec.ir.models.Package` later,
e.g. ``pipelines``) are dumped generically from the IR, so they round-trip as long as the
YAML front-end reads them with the IR's own field names.

:func:`ir_differences` lists where two packages differ, as dotted paths: the exporters use
it to prove a round trip (or say exactly what was lost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel

from agentspec.ir.canonical import canonical_data
from agentspec.ir.models import Package

HEADER = ("name", "version", "description", "lang_version")
KNOWN = ("agents", "prompts", "skills", "mcp_servers", "secrets", "types", "bindings")
ORDER = ("secrets", "types", "prompts", "mcp_servers", "skills", "agents", "bindings")


def package_to_data(package: Package) -> dict[str, Any]:
    """The YAML document for ``package``, as plain data (ordered for reading)."""
    data: dict[str, Any] = {"package": package.name, "version": package.version}
    if package.description:
        data["description"] = package.description
    for section in ORDER:
        items = getattr(package, section)
        if items:
            convert: Callable[[BaseModel], Any] = _CONVERT.get(section, _plain)
            data[section] = {name: convert(item) for name, item in items.items()}
    for section in type(package).model_fields:
        if section in HEADER or section in KNOWN:
            continue
        value = getattr(package, section)
        if not value:
            continue
        if isinstance(value, dict):
            data[section] = {
                name: _plain(item) if isinstance(item, BaseModel) else item
                for name, item in value.items()
            }
        else:
            data[section] = _jsonable(value)
    return data


def package_to_yaml(package: Package, comment: str = "") -> str:
    """The YAML text for ``package`` (``comment`` lines are put on top)."""
    text = yaml.dump(
        package_to_data(package),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + text


def ir_differences(expected: Package, actual: Package) -> list[str]:
    """Dotted paths where the canonical data of two packages differ (empty: same hash)."""
    found: list[str] = []
    _compare(canonical_data(expected), canonical_data(actual), "", found)
    return found


# ---------------------------------------------------------------------------- converters
def _plain(item: BaseModel) -> dict[str, Any]:
    data = canonical_data(item)
    if isinstance(data, dict):
        data.pop("name", None)
    return dict(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return canonical_data(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _secret(item: BaseModel) -> Any:
    data = _plain(item)
    if set(data) == {"source", "key"}:
        return f"{data['source']}({data['key']})"
    return data


def _skill(item: BaseModel) -> dict[str, Any]:
    data = _plain(item)
    data.pop("input_schema", None)
    tool = data.pop("tool", {})
    if isinstance(tool, dict) and tool.get("type") == "python":
        data.pop("input", None)  # a python skill's input comes from the function's type hints
    if isinstance(tool, dict) and "type" in tool:
        tool = {"type": tool["type"], **{k: v for k, v in tool.items() if k != "type"}}
    data["tool"] = tool
    return data


def _agent(item: BaseModel) -> dict[str, Any]:
    data = _plain(item)
    model = data.get("model")
    if isinstance(model, dict) and set(model) <= {"provider", "name"}:
        name = model.get("name", "")
        data["model"] = f"{model['provider']}:{name}" if name else model["provider"]
    return data


_CONVERT: dict[str, Callable[[BaseModel], Any]] = {
    "secrets": _secret,
    "skills": _skill,
    "agents": _agent,
}


def _compare(expected: Any, actual: Any, path: str, found: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(f"{child} (lost)")
            elif key not in expected:
                found.append(f"{child} (added)")
            else:
                _compare(expected[key], actual[key], child, found)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            _compare(left, right, f"{path}.{index}", found)
    elif expected != actual:
        found.append(f"{path or '(package)'} ({expected!r} != {actual!r})"[:300])


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
