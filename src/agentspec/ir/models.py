"""IR models: the one validated, hashed description of a package that every front-end produces.

Field names follow ``shared/INTENTLANG.md`` §11.3 so the IntentLang front-end lowers into the
same models as YAML and Python. Durations are normalised to seconds (``"30s"`` -> ``30.0``) and
strategy spellings to their canonical form, so two front-ends writing the same package produce
the same canonical JSON and the same hash.

These models are validated once, when a spec is loaded. The engine reads them but never
re-validates them on the hot path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from agentspec.ir._base import (
    NAME_PATTERN as NAME_PATTERN,
)
from agentspec.ir._base import (
    Duration,
    Int,
    Name,
    _Model,
)
from agentspec.ir._base import (
    parse_duration as parse_duration,
)
from agentspec.ir.pipeline import Pipeline
from agentspec.ir.workflow import BehaviorTree, StateMachine, Workflow

STRATEGY_ALIASES = {"plan-and-execute": "plan-execute", "plan_execute": "plan-execute"}
Strategy = Literal["react", "plan-execute", "reflexion", "router", "map-reduce"]


def _strategy(value: Any) -> Any:
    return STRATEGY_ALIASES.get(value, value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- secrets

_SECRET_REF = re.compile(r"^\s*(env|file|secret)\(\s*([^()]+?)\s*\)\s*$")


class SecretRef(_Model):
    """Where a secret value comes from: ``env(NAME)``, ``file(path)`` or ``secret(name)``.

    ``secret(name)`` points at a declared :class:`Secret` resource. Values are resolved at
    run time, never at load time, and never stored in events or logs.
    """

    source: Literal["env", "file", "secret"]
    key: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _SECRET_REF.match(value)
            if not match:
                raise ValueError(
                    f"invalid secret reference {value!r}: use env(NAME), file(path) or secret(name)"
                )
            return {"source": match.group(1), "key": match.group(2)}
        return value

    def __str__(self) -> str:
        return f"{self.source}({self.key})"


class Secret(_Model):
    name: Name
    source: Literal["env", "file"]
    key: str = Field(min_length=1)
    description: str = ""


# --------------------------------------------------------------------------- prompts, types


class Variable(_Model):
    name: Name
    type: str = "string"
    required: bool = False
    default: str | None = None
    description: str = ""


class Prompt(_Model):
    name: Name
    content: str = Field(min_length=1)
    version: str = ""
    variables: tuple[Variable, ...] = ()
    metadata: dict[str, str] = Field(default_factory=dict)


class TypeField(_Model):
    name: Name
    type: str = "string"
    required: bool = False
    default: str | None = None
    description: str = ""


class TypeDef(_Model):
    """A custom type: a struct (``fields``), an ``enum`` or a list (``list_of``)."""

    name: Name
    fields: tuple[TypeField, ...] = ()
    enum: tuple[str, ...] = ()
    list_of: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _one_form(self) -> TypeDef:
        forms = sum(1 for form in (self.fields, self.enum, self.list_of) if form)
        if forms != 1:
            raise ValueError("a type needs exactly one of: fields, enum, list_of")
        return self


# --------------------------------------------------------------------------- skills / tools


class PythonTool(_Model):
    """A Python callable, ``module:function`` (module resolved relative to the project)."""

    type: Literal["python"] = "python"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    timeout: Duration | None = None


class CommandTool(_Model):
    """A subprocess. Arguments arrive as JSON on stdin; ``{{field}}`` in args is substituted."""

    type: Literal["command"] = "command"
    binary: str = Field(min_length=1)
    args: tuple[str, ...] = ()
    timeout: Duration | None = None
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""


class HttpTool(_Model):
    type: Literal["http"] = "http"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    body_template: str | None = None
    timeout: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("method"), str):
            value = {**value, "method": value["method"].upper()}
        return value


class InlineTool(_Model):
    """Code run in a separate, resource-limited process (see docs/tools.md)."""

    type: Literal["inline"] = "inline"
    language: Literal["python", "javascript"] = "python"
    code: str = Field(min_length=1)
    timeout: Duration | None = None
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(Ki|Mi|Gi|K|M|G|k|m|g)?$")
    cpu_time: Duration | None = None


class McpTool(_Model):
    """A tool served by a declared MCP server, ``server/tool``."""

    type: Literal["mcp"] = "mcp"
    server_tool: str = Field(min_length=1)


ToolSpec = Annotated[
    PythonTool | CommandTool | HttpTool | InlineTool | McpTool, Field(discriminator="type")
]


class SkillField(_Model):
    name: Name
    type: str = "string"
    required: bool = False
    description: str = ""


class Skill(_Model):
    """A capability an agent can call. ``input_schema`` is the JSON schema the model sees.

    Front-ends fill ``input_schema`` from ``input`` fields (YAML, IntentLang) or from type
    hints (Python); the engine never derives it again.
    """

    name: Name
    description: str = Field(min_length=1)
    input: tuple[SkillField, ...] = ()
    output: tuple[SkillField, ...] = ()
    input_schema: dict[str, Any] = Field(default_factory=dict)
    tool: ToolSpec
    approval: Literal["never", "required"] = "never"
    metadata: dict[str, str] = Field(default_factory=dict)


class MCPServer(_Model):
    name: Name
    transport: Literal["stdio", "sse", "streamable-http"] = "stdio"
    command: str = ""
    args: tuple[str, ...] = ()
    url: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    auth: str = ""

    @model_validator(mode="after")
    def _needs_endpoint(self) -> MCPServer:
        if self.transport == "stdio" and not self.command:
            raise ValueError("an MCP server with stdio transport needs a command")
        if self.transport != "stdio" and not self.url:
            raise ValueError(f"an MCP server with {self.transport} transport needs a url")
        return self


# --------------------------------------------------------------------------- models, agents

MODEL_PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "scripted", "replay")
MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude-", "anthropic"),
)


def split_model_string(text: str) -> tuple[str, str] | None:
    """``(provider, model name)`` from ``provider:name``, ``provider/name``, a bare provider or a
    known model-name prefix (``gpt-4o`` -> openai, ``claude-...`` -> anthropic); else ``None``.

    The provider is lower-cased but not checked against :data:`MODEL_PROVIDERS`.
    """
    text = text.strip()
    for separator in (":", "/"):
        head, found, tail = text.partition(separator)
        if found and (separator == ":" or head.lower() in MODEL_PROVIDERS):
            return head.lower(), tail
    if text.lower() in MODEL_PROVIDERS:
        return text.lower(), ""
    for prefix, provider in MODEL_PREFIXES:
        if text.startswith(prefix):
            return provider, text
    return None


class ModelConfig(_Model):
    """Which model an agent talks to. ``provider`` picks the adapter (one file per provider)."""

    provider: Literal["openai", "anthropic", "scripted", "replay"]
    name: str = ""
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: Int | None = Field(default=None, gt=0)
    base_url: str | None = None
    api_key: SecretRef | None = None
    timeout: Duration | None = None
    max_retries: Int = Field(default=3, ge=0, le=20)
    script: tuple[dict[str, Any], ...] = ()
    """Scripted model only: responses or rules (see ``agentspec.models.scripted``)."""

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}" if self.name else self.provider


class Memory(_Model):
    strategy: Literal["sliding_window", "summary"] = "sliding_window"
    max_messages: Int = Field(default=50, gt=0, le=100_000)


class Delegate(_Model):
    agent: Name
    condition: str = ""


class StrategyOptions(_Model):
    """Tuning of the non-react strategies and of delegation (see ``docs/strategies.md``)."""

    format_retries: Int = Field(default=2, ge=0, le=10)
    """plan-execute / router: corrective re-asks after an invalid plan or route label."""
    max_steps: Int = Field(default=10, gt=0, le=100)
    """plan-execute: most steps a plan may have."""
    max_replans: Int = Field(default=2, ge=0, le=20)
    """plan-execute: new plans after a failed step before the run fails."""
    max_rounds: Int = Field(default=3, gt=0, le=20)
    """reflexion: most critiques; the latest answer is returned when none approves."""
    critic: Name | None = None
    """reflexion: an agent that critiques (a child run); default: the agent's own model."""
    critic_prompt: str = ""
    """reflexion: the critic's instructions (replaces the built-in ones)."""
    chunk_size: Int = Field(default=4000, gt=0, le=10_000_000)
    """map-reduce: most characters per chunk."""
    separator: str = "\n\n"
    """map-reduce: where the input may be cut (pieces are packed up to ``chunk_size``)."""
    concurrency: Int = Field(default=4, gt=0, le=256)
    """map-reduce: chunks processed at the same time."""
    mapper: Name | None = None
    """map-reduce: an agent that processes each chunk (a child run); default: in-run."""
    reduce_prompt: str = ""
    """map-reduce: the instructions that merge the partial results."""
    continue_on_failure: bool = False
    """map-reduce: merge the chunks that succeeded instead of failing the run."""
    max_delegation_depth: Int = Field(default=3, ge=0, le=32)
    """delegation: most handoffs in one conversation starting at this agent."""


class Agent(_Model):
    name: Name
    description: str = ""
    prompt: Name
    """Name of the system prompt (a :class:`Prompt` of the same package)."""
    model: ModelConfig
    skills: tuple[Name, ...] = ()
    strategy: Annotated[Strategy, BeforeValidator(_strategy)] = "react"
    max_turns: Int = Field(default=10, gt=0, le=10_000)
    timeout: Duration | None = None
    token_budget: Int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = True
    on_error: Literal["retry", "fail", "fallback"] = "fail"
    max_retries: Int = Field(default=2, ge=0, le=20)
    fallback: Name | None = None
    memory: Memory = Field(default_factory=Memory)
    delegates: tuple[Delegate, ...] = ()
    strategy_options: StrategyOptions = Field(default_factory=StrategyOptions)
    variables: dict[str, str] = Field(default_factory=dict)
    """Default values for prompt variables, overridable per run."""
    approval: Literal["never", "required"] = "never"
    """``required``: every tool call of this agent waits for a human's approval."""
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fallback_rules(self) -> Agent:
        if self.on_error == "fallback" and not self.fallback:
            raise ValueError("on_error 'fallback' needs a fallback agent")
        if self.fallback == self.name:
            raise ValueError("an agent cannot fall back to itself")
        return self


# --------------------------------------------------------------------------- bindings

BINDING_MATCH_FIELDS: tuple[str, ...] = ("peer", "guild", "team", "account", "channel")
"""The match fields of a :class:`Binding`, most specific first (routing precedence)."""
MatchValue = Annotated[str, Field(min_length=1)]


class Binding(_Model):
    """A route from incoming messages (gateway, webhooks) to an agent.

    A binding matches a message when every match field it sets equals the message's; among
    the matching bindings the most specific wins (see :mod:`agentspec.engine.routing`).
    The ``default`` binding (at most one per package) takes what nothing else matches.
    """

    name: Name
    agent: Name
    channel: MatchValue | None = None
    account: MatchValue | None = None
    peer: MatchValue | None = None
    guild: MatchValue | None = None
    team: MatchValue | None = None
    default: bool = False

    @property
    def match(self) -> dict[str, str]:
        """The match fields this binding sets, most specific first."""
        found = {name: getattr(self, name) for name in BINDING_MATCH_FIELDS}
        return {name: value for name, value in found.items() if value is not None}


class Package(_Model):
    """A whole project: every resource, keyed by name per kind."""

    name: Name
    version: str = "0.0.0"
    description: str = ""
    lang_version: str = "2.0"
    agents: dict[str, Agent] = Field(default_factory=dict)
    prompts: dict[str, Prompt] = Field(default_factory=dict)
    skills: dict[str, Skill] = Field(default_factory=dict)
    mcp_servers: dict[str, MCPServer] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    types: dict[str, TypeDef] = Field(default_factory=dict)
    bindings: dict[str, Binding] = Field(default_factory=dict)
    pipelines: dict[str, Pipeline] = Field(default_factory=dict)
    workflows: dict[str, Workflow] = Field(default_factory=dict)
    state_machines: dict[str, StateMachine] = Field(default_factory=dict)
    behavior_trees: dict[str, BehaviorTree] = Field(default_factory=dict)

    def fqn(self, kind: str, name: str) -> str:
        """Fully-qualified name ``package/Kind/name``."""
        return f"{self.name}/{kind}/{name}"
