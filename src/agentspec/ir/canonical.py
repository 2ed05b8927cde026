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
    return obj.model_dump(mode="json", exclude_defaults=True)


def canonical_json(obj: BaseModel | Any) -> str:
    data = canonical_data(obj) if isinstance(obj, BaseModel) else obj
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ir_hash(obj: BaseModel | Any) -> str:
    """``sha256:<hex>`` over the canonical JSON."""
    digest = hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"
