"""Reporting for the YAML front-end: IR paths to YAML positions, pydantic errors to words.

Resources are built under IR paths (``("agents", "triage", "skills", 1)``); ``trans`` maps the
IR paths whose YAML spelling differs (``tools:`` for ``skills``, a field written as a mapping
entry, a ``python:`` shorthand) back to where they were written, so every problem, whether
found here, by pydantic or by :func:`agentspec.ir.check_package`, lands on its YAML value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentspec.exceptions import Diagnostic
from agentspec.ir.models import NAME_PATTERN
from agentspec.ir.suggest import suggest
from agentspec.lang.yaml_loader import Loc, Sources, YamlPath, describe, display_path

M = TypeVar("M", bound=BaseModel)
IRPath = tuple[str | int, ...]
NAME_HINT = 'use letters, digits, "_", "." and "-", starting with a letter or "_"'


class Reporter:
    """Collects diagnostics for one project, positioned through its :class:`Sources`."""

    def __init__(self, sources: Sources) -> None:
        self.s = sources
        self.diagnostics = list(sources.diagnostics)
        self.trans: dict[IRPath, YamlPath] = {}
        self._reported: set[Diagnostic] = set()

    def yaml_path(self, path: IRPath) -> YamlPath:
        for end in range(len(path), 0, -1):
            target = self.trans.get(path[:end])
            if target is not None:
                return (*target, *path[end:])
        return path

    def position(self, path: YamlPath, *, key: bool) -> Loc:
        values, keys = self.s.values, self.s.keys
        first, second = (keys, values) if key else (values, keys)
        found = first.get(path) or second.get(path)
        while found is None and path:
            path = path[:-1]
            found = keys.get(path) or values.get(path)
        return found or (self.s.main, 1, 1)

    def report(self, path: IRPath, message: str, hint: str = "", *, key: bool = False) -> None:
        where = self.yaml_path(path)
        file, line, column = self.position(where, key=key)
        label = self.s.labels.get((str(where[0]), str(where[1]))) if len(where) > 1 else None
        shown = display_path((label, *where[1:]) if label else where)
        text = f"{shown}: {message}" if shown else message
        diagnostic = Diagnostic(file, line, column, text, hint)
        if diagnostic not in self._reported:
            self._reported.add(diagnostic)
            self.diagnostics.append(diagnostic)

    def validate(self, model: type[M], data: Any, path: IRPath) -> M | None:
        """``model`` built from ``data``, or ``None``, with every problem reported.

        After a failure, the fields in error are dropped and the rest built again, so the
        references of a partly wrong resource can still be checked.
        """
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if self._stringify(data, errors, path):
            try:
                return model.model_validate(data)
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
        for error in errors:
            loc = tuple(error["loc"])
            if error["type"] == "missing":
                self.report((*path, *loc[:-1]), f'missing required field "{loc[-1]}"', key=True)
            elif error["type"] == "extra_forbidden":
                self.report((*path, *loc), f'unknown field "{loc[-1]}"', key=True)
            else:
                self.report((*path, *loc), *humanize(error), key=not loc)
        wrong = {error["loc"][0] for error in errors if error["loc"]}
        if not isinstance(data, dict) or not all(error["loc"] for error in errors):
            return None
        try:
            return model.model_validate({k: v for k, v in data.items() if k not in wrong})
        except ValidationError:
            return None

    def _stringify(self, data: Any, errors: list[Any], path: IRPath) -> bool:
        """Give string fields the source text of scalars YAML resolved otherwise (``1.10``)."""
        fixed = False
        for error in errors:
            if error["type"] != "string_type" or not error["loc"]:
                continue
            loc = tuple(error["loc"])
            text = self.s.raw.get(self.yaml_path((*path, *loc)))
            if text is None or error["input"] is None:
                continue
            target = data
            try:
                for part in loc[:-1]:
                    target = target[part]
                target[loc[-1]] = text
            except (KeyError, IndexError, TypeError):
                continue
            fixed = True
        return fixed

    def fields(
        self, value: Any, path: IRPath, allowed: Collection[str], *, name: str | None = None
    ) -> dict[str, Any] | None:
        """The known keys of a mapping; unknown ones are reported. ``name`` must match the key."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report(path, f"must be a mapping, got {describe(value)}")
            return None
        known: dict[str, Any] = {}
        for key, item in value.items():
            if key in allowed:
                known[key] = item
            else:
                self.report((*path, key), f'unknown field "{key}"', suggest(key, allowed), key=True)
        if name is not None and "name" in known:
            given = known.pop("name")
            if given != name:
                self.report((*path, "name"), f'name "{given}" does not match its key "{name}"')
        return known

    def field_list(self, value: Any, path: IRPath, allowed: Collection[str]) -> Any:
        """``{name: type | {type, ...}}`` (stored sorted by name) or ``[{name, ...} | name]``."""
        items: list[Any] = []
        where = self.yaml_path(path)
        if isinstance(value, dict):
            for field_name in sorted(value):
                item, item_path = value[field_name], (*path, len(items))
                self.trans[item_path] = (*where, field_name)
                if isinstance(item, str):
                    self.trans[(*item_path, "type")] = (*where, field_name)
                    items.append({"name": field_name, "type": item})
                elif item is None or isinstance(item, dict):
                    known = self.fields(item, item_path, allowed, name=field_name)
                    if known is not None:
                        items.append({**known, "name": field_name})
                else:
                    message = f"must be a type name or a mapping, got {describe(item)}"
                    self.report(item_path, message)
            return items
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    self.trans[(*path, index, "name")] = (*where, index)
                    items.append({"name": item})
                elif isinstance(item, dict):
                    items.append(self.fields(item, (*path, index), allowed))
                else:
                    items.append(item)
            return items
        return [] if value is None else value


_SIMPLE = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_PATTERNS = {
    "function": 'must be "module:function"',
    "memory_limit": "must be a size such as 128Mi",
}


def humanize(error: Any) -> tuple[str, str]:
    """A message and hint for one pydantic error, in the words of the YAML format."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f" (got {_show(value)})"
    if kind in _SIMPLE:
        return _SIMPLE[kind] + got, ""
    if kind in _BOUNDS:
        bound, sign = _BOUNDS[kind]
        return f"must be {sign} {_show(ctx[bound])}{got}", ""
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if isinstance(value, str):
            return f'unknown value "{value}"', suggest(value, allowed)
        return f"must be one of: {', '.join(allowed)}{got}", ""
    if kind == "string_too_short":
        return ("must not be empty" if ctx.get("min_length") == 1 else error["msg"].lower()), ""
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters", ""
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == NAME_PATTERN:
            return f"invalid name {_show(value)}", NAME_HINT
        field = error["loc"][-1] if error["loc"] else ""
        return _PATTERNS.get(str(field), f"must match {ctx.get('pattern')}") + got, ""
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"]), ""
    return str(error["msg"]), ""


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    return describe(value)
