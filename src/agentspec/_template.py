"""``{{name}}`` placeholder rendering shared by prompts and tool templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_][\w.\-]*)\s*\}\}")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(
    template: str,
    values: Mapping[str, Any],
    *,
    missing: Callable[[str], str] | None = None,
    escape: Callable[[str], str] | None = None,
) -> str:
    """Replace ``{{name}}`` (and ``{{a.b}}`` for nested mappings) with values.

    Non-string values are written as JSON. ``missing(name)`` supplies a value for unknown names
    (or raises); by default an unknown placeholder raises ``KeyError(name)``. ``escape`` is
    applied to every substituted value (e.g. URL-quoting).
    """
    if "{{" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value: Any = values
        for part in name.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            else:
                if missing is None:
                    raise KeyError(name)
                return missing(name)
        text = _text(value)
        return escape(text) if escape else text

    return PLACEHOLDER.sub(replace, template)


def names(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)
