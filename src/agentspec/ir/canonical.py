"""Canonical JSON and SHA-256 hash of IR objects.

The canonical form is independent of key order, whitespace, comments and of which front-end
wrote the spec: keys sorted at every level, no insignificant whitespace, UTF-8, and fields that
hold their default value left out (so adding a defaulted field later does not change the hash of
existing packages).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def canonical_data(obj: BaseModel) -> Any:
    data = obj.model_dump(mode="json", exclude_defaults=True)
    _keep_discriminators(obj, data)
    return data


def _keep_discriminators(obj: Any, data: Any) -> None:
    """Put back ``type`` fields dropped for being defaults: they tell tool kinds apart."""
    if isinstance(obj, BaseModel) and isinstance(data, dict):
        if "type" in type(obj).model_fields and "type" not in data:
            data["type"] = getattr(obj, "type")  # noqa: B009 - any model with a type field
        for name in type(obj).model_fields:
            if name in data:
                _keep_discriminators(getattr(obj, name), data[name])
    elif isinstance(obj, dict) and isinstance(data, dict):
        for key, value in obj.items():
            if key in data:
                _keep_discriminators(value, data[key])
    elif isinstance(obj, list | tuple) and isinstance(data, list):
        for value, item in zip(obj, data, strict=False):
            _keep_discriminators(value, item)


def canonical_json(obj: BaseModel | Any) -> str:
    data = canonical_data(obj) if isinstance(obj, BaseModel) else obj
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ir_hash(obj: BaseModel | Any) -> str:
    """``sha256:<hex>`` over the canonical JSON."""
    digest = hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"
