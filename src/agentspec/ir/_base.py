"""Building blocks shared by every IR module: names, strict integers, durations, the base model.

Kept apart from :mod:`agentspec.ir.models` so resource modules (``ir/pipeline.py``,
``ir/workflow.py``, ...) can use them and :class:`~agentspec.ir.models.Package` can import those
modules without an import cycle.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=128)]
Int = Annotated[int, Strict()]
"""An integer that refuses booleans and numeric strings (``max_turns: yes`` is an error)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """Accept ``30``, ``2.5``, ``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"``; return seconds."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or '500ms', '30s', '2m', '1h'"
            )
        return float(match.group(1)) * _UNIT[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
