"""Resolve secret references at run time: ``env(NAME)``, ``file(path)``, ``secret(name)``.

Resolved values are remembered by :class:`SecretResolver` so logs and events can redact them
(see :meth:`SecretResolver.redact`). They are never written to the IR, events or the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from agentspec.exceptions import ConfigError
from agentspec.ir.models import Secret, SecretRef


class SecretResolver:
    def __init__(
        self,
        secrets: Mapping[str, Secret] | None = None,
        *,
        base_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._secrets = dict(secrets or {})
        self._base_dir = base_dir or Path.cwd()
        self._environ = environ if environ is not None else os.environ
        self._seen: set[str] = set()

    def resolve(self, ref: SecretRef | str, *, purpose: str = "") -> str:
        """Return the secret's value or raise :class:`ConfigError` naming what is missing."""
        if isinstance(ref, str):
            ref = SecretRef.model_validate(ref)
        why = f" (needed by {purpose})" if purpose else ""
        if ref.source == "secret":
            secret = self._secrets.get(ref.key)
            if secret is None:
                raise ConfigError(f"secret {ref.key!r} is not declared{why}")
            return self.resolve(SecretRef(source=secret.source, key=secret.key), purpose=purpose)
        if ref.source == "env":
            value = self._environ.get(ref.key)
            if not value:
                raise ConfigError(f"environment variable {ref.key} is not set{why}")
        else:
            path = Path(ref.key).expanduser()
            if not path.is_absolute():
                path = self._base_dir / path
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {path}{why}: {exc.strerror}") from None
            if not value:
                raise ConfigError(f"secret file {path} is empty{why}")
        if len(value) >= 4:
            self._seen.add(value)
        return value

    def resolve_name(self, name: str, *, purpose: str = "") -> str:
        return self.resolve(SecretRef(source="secret", key=name), purpose=purpose)

    def redact(self, text: str) -> str:
        """Replace every secret value resolved so far with ``***``."""
        for value in self._seen:
            if value in text:
                text = text.replace(value, "***")
        return text
