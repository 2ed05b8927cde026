"""JSON schemas of skill inputs and custom types, shared by every front-end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentspec.ir.models import SkillField, TypeDef, TypeField

JSON_TYPES = {
    "string": "string",
    "str": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "object": "object",
    "map": "object",
    "json": "object",
}
_SCHEMA_TYPES = frozenset(JSON_TYPES.values())


def type_schema(
    type_name: str, types: Mapping[str, TypeDef], seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """JSON schema of a scalar type name or a custom type (``{}`` for ``any`` or unknown)."""
    if type_name in JSON_TYPES:
        return {"type": JSON_TYPES[type_name]}
    typedef = types.get(type_name)
    if typedef is None or type_name in seen:
        return {}
    seen = seen | {type_name}
    schema: dict[str, Any]
    if typedef.enum:
        schema = {"type": "string", "enum": list(typedef.enum)}
    elif typedef.list_of:
        schema = {"type": "array", "items": type_schema(typedef.list_of, types, seen)}
    else:
        schema = object_schema(typedef.fields, types, seen)
    if typedef.description:
        schema["description"] = typedef.description
    return schema


def object_schema(
    fields: Iterable[SkillField | TypeField],
    types: Mapping[str, TypeDef],
    seen: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``{"type": "object", "properties": ..., "required": ..., "additionalProperties": false}``."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in fields:
        prop = type_schema(item.type, types, seen)
        if item.description:
            prop = {**prop, "description": item.description}
        properties[item.name] = prop
        if item.required:
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema
