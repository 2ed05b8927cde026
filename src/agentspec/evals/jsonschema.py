"""A small JSON Schema validator for the ``json_schema`` assertion (no extra dependency).

Supported keywords: ``type`` (one or a list), ``enum``, ``const``, ``properties``,
``required``, ``additionalProperties`` (boolean or schema), ``items``, ``minItems``,
``maxItems``, ``minLength``, ``maxLength``, ``pattern``, ``minimum``, ``maximum``,
``exclusiveMinimum``, ``exclusiveMaximum``, ``anyOf``, ``oneOf``, ``allOf``, ``not``.
Other keywords (``$schema``, ``title``, ``description``, ``format``, ...) are ignored.
"""

from __future__ import annotations

import re
from typing import Any

TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_COMBINERS = ("anyOf", "oneOf", "allOf")


def _is(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def schema_problems(schema: Any, path: str = "") -> list[str]:
    """What is wrong with a schema itself (unknown type names, bad patterns, wrong shapes)."""
    where = f" at {path}" if path else ""
    if not isinstance(schema, dict):
        return [f"schema{where} must be a mapping"]
    problems: list[str] = []
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [] if kinds is None else [kinds]:
        if kind not in TYPES:
            problems.append(f'schema{where}: unknown type "{kind}" (use one of {", ".join(TYPES)})')
    if "pattern" in schema:
        try:
            re.compile(str(schema["pattern"]))
        except re.error as exc:
            problems.append(f"schema{where}: invalid pattern: {exc}")
    for name, sub in (schema.get("properties") or {}).items():
        problems.extend(schema_problems(sub, f"{path}.{name}" if path else str(name)))
    if isinstance(schema.get("items"), dict):
        problems.extend(schema_problems(schema["items"], f"{path}[]"))
    for key in _COMBINERS:
        for i, sub in enumerate(schema.get(key) or ()):
            problems.extend(schema_problems(sub, f"{path}{key}[{i}]"))
    return problems


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` violates ``schema`` (empty when it is valid)."""
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, k) for k in allowed):
            return [f"{path}: expected {' or '.join(allowed)}, got {_name(value)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']!r}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                errors.append(f"{path}: missing required property {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors.extend(validate(item, properties[name], f"{path}.{name}"))
            elif extra is False:
                errors.append(f"{path}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                errors.extend(validate(item, extra, f"{path}.{name}"))
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                errors.extend(validate(item, items, f"{path}[{i}]"))
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: allows at most {schema['maxItems']} item(s)")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} character(s)")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} character(s)")
        if "pattern" in schema and not re.search(str(schema["pattern"]), value):
            errors.append(f"{path}: does not match {schema['pattern']!r}")
    if _is(value, "number"):
        bounds = (
            ("minimum", ">="),
            ("maximum", "<="),
            ("exclusiveMinimum", ">"),
            ("exclusiveMaximum", "<"),
        )
        for key, sign in bounds:
            if key in schema and not _compare(value, sign, schema[key]):
                errors.append(f"{path}: must be {sign} {schema[key]}")
    for key in _COMBINERS:
        subs = schema.get(key)
        if not subs:
            continue
        results = [validate(value, sub, path) for sub in subs]
        valid = sum(1 for r in results if not r)
        if key == "allOf":
            for r in results:
                errors.extend(r)
        elif key == "anyOf" and not valid:
            errors.append(f"{path}: matches none of anyOf")
        elif key == "oneOf" and valid != 1:
            errors.append(f"{path}: matches {valid} of oneOf (needs exactly 1)")
    if isinstance(schema.get("not"), dict) and not validate(value, schema["not"], path):
        errors.append(f"{path}: must not match the 'not' schema")
    return errors


def _name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _compare(value: float, sign: str, bound: float) -> bool:
    if sign == ">=":
        return value >= bound
    if sign == "<=":
        return value <= bound
    return value > bound if sign == ">" else value < bound
