"""Build a model adapter from an IR :class:`~agentspec.ir.models.ModelConfig`.

Provider SDKs are imported lazily: ``openai`` and ``anthropic`` only when an agent uses them.
Adding a provider means one new adapter file and one entry in :data:`PROVIDERS`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from agentspec.exceptions import ConfigError, ModelAuthError, UsageError
from agentspec.ir.models import ModelConfig, split_model_string
from agentspec.models.base import Model
from agentspec.models.retry import RetryingModel
from agentspec.secrets.resolver import SecretResolver

BLOCK_ENV = "AGENTSPEC_BLOCK_REMOTE_MODELS"
"""Set to 1 (the test suite does) to refuse model calls to anything but loopback servers."""

KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _remote(config: ModelConfig, resolver: SecretResolver, environ: dict[str, str] | Any) -> Model:
    provider = config.provider
    base_url = config.base_url or environ.get(BASE_URL_ENV[provider]) or None
    if environ.get(BLOCK_ENV) == "1" and not _is_loopback(base_url):
        raise UsageError(
            f"{provider} model calls are blocked ({BLOCK_ENV}=1): only loopback base_url servers "
            "are allowed here"
        )
    api_key: str | None = None
    if config.api_key is not None:
        try:
            api_key = resolver.resolve(
                config.api_key, purpose=f"the {provider} model {config.name!r}"
            )
        except ConfigError as exc:
            raise ModelAuthError(f"{provider}: no API key: {exc}", provider=provider) from None
    else:
        api_key = environ.get(KEY_ENV[provider]) or None
    if api_key is None and base_url is None:
        raise ModelAuthError(
            f"{provider}: no API key: set {KEY_ENV[provider]} (or give the model an api_key "
            "such as env(NAME), or a base_url for a local server)",
            provider=provider,
        )
    if provider == "openai":
        from agentspec.models.openai import OpenAIModel

        return OpenAIModel(config.name, api_key=api_key, base_url=base_url, timeout=config.timeout)
    from agentspec.models.anthropic import AnthropicModel

    return AnthropicModel(config.name, api_key=api_key, base_url=base_url, timeout=config.timeout)


def _scripted(config: ModelConfig, resolver: SecretResolver, environ: Any) -> Model:
    from agentspec.models.scripted import ScriptedModel

    return ScriptedModel(list(config.script), name=config.name)


PROVIDERS: dict[str, Callable[[ModelConfig, SecretResolver, Any], Model]] = {
    "openai": _remote,
    "anthropic": _remote,
    "scripted": _scripted,
}


def create_model(
    config: ModelConfig, resolver: SecretResolver, *, environ: dict[str, str] | None = None
) -> Model:
    """A ready model for ``config``, wrapped with retries for providers that can fail transiently."""
    factory = PROVIDERS.get(config.provider)
    if factory is None:
        raise UsageError(
            f"model provider {config.provider!r} cannot be created from a spec here"
            + (
                "; replay models are built from a recorded run"
                if config.provider == "replay"
                else ""
            )
        )
    model = factory(config, resolver, environ if environ is not None else os.environ)
    needs_retry = config.provider != "scripted" or any("error" in step for step in config.script)
    if needs_retry and config.max_retries > 0:
        return RetryingModel(model, max_retries=config.max_retries)
    return model


def parse_model_override(value: str) -> ModelConfig:
    """``--model PROVIDER[:NAME]`` (or a known model name such as ``gpt-4o-mini``) -> ModelConfig.

    ``scripted`` alone is the echo demo model; ``replay:RUN_ID`` answers from a stored run.
    """
    parsed = split_model_string(value)
    if parsed is None or parsed[0] not in ("openai", "anthropic", "scripted", "replay"):
        shown = parsed[0] if parsed else value
        raise UsageError(
            f"--model {value!r}: unknown provider {shown!r}; use openai:NAME, anthropic:NAME, "
            "scripted or replay:RUN_ID"
        )
    provider, name = parsed
    if provider == "replay" and not name:
        raise UsageError(f"--model {value!r}: give the run to replay, e.g. replay:run_1a2b...")
    if provider in ("openai", "anthropic") and not name:
        example = "gpt-4o-mini" if provider == "openai" else "claude-sonnet-4-6"
        raise UsageError(f"--model {value!r}: give a model name, e.g. {provider}:{example}")
    return ModelConfig(provider=provider, name=name)
