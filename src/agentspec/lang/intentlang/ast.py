"""The IntentLang syntax tree: one dataclass per statement kind, every one with positions.

``pos`` is the position of the resource keyword; ``name_pos`` the name string's position;
references are :class:`Ref` (name + position of the name token). Scalars left unset are
``None`` so validation can tell "absent" from "empty".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another resource by name, located at the name token."""

    name: str
    pos: Pos


@dataclass
class Header:
    pos: Pos
    name: str = ""
    version: str = ""
    lang: str = ""
    lang_pos: Pos | None = None


@dataclass
class Field:
    """A prompt variable, skill input/output field or type field."""

    name: str
    type: str
    pos: Pos
    required: bool = False
    default: str | None = None


@dataclass
class Node:
    """Base of every statement: the keyword position and the name."""

    pos: Pos
    name: str
    name_pos: Pos


@dataclass
class Prompt(Node):
    content: str | None = None
    version: str = ""
    variables: list[Field] = field(default_factory=list)
    has_variables: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Tool:
    """A skill's ``tool`` variant; ``attrs`` holds scalar attributes, ``maps`` the map blocks."""

    kind: str
    pos: Pos
    attrs: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Execution:
    kind: str
    value: str
    pos: Pos


@dataclass
class Skill(Node):
    description: str | None = None
    input: list[Field] | None = None
    output: list[Field] | None = None
    tool: Tool | None = None
    execution: Execution | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Delegate:
    agent: Ref
    condition: str = ""


@dataclass
class ConfigParam:
    name: str
    type: str
    pos: Pos
    required: bool = False
    secret: bool = False
    default: str | None = None
    description: str = ""


@dataclass
class Rule:
    name: str
    severity: str
    pos: Pos
    max_retries: int = 0
    message: str = ""
    when: str = ""


@dataclass
class EvalCase:
    name: str
    pos: Pos
    input: str = ""
    expect: str = ""
    scoring: str = ""
    threshold: float = 0.8
    tags: list[str] = field(default_factory=list)


@dataclass
class Flow:
    """An ``on input`` statement: ``use``, ``delegate``, ``respond``, ``if`` or ``for``."""

    kind: str
    pos: Pos
    target: str = ""
    expr: str = ""
    params: dict[str, str] = field(default_factory=dict)
    body: list[Flow] = field(default_factory=list)
    branches: list[tuple[str, Pos, list[Flow]]] = field(default_factory=list)
    """``if``: the ``else if`` branches (condition, position, body)."""
    orelse: list[Flow] | None = None


@dataclass
class Agent(Node):
    prompt: Ref | None = None
    skills: list[Ref] = field(default_factory=list)
    model: str | None = None
    model_pos: Pos | None = None
    models: list[str] | None = None
    client: Ref | None = None
    strategy: str | None = None
    strategy_pos: Pos | None = None
    max_turns: int = 0
    timeout: str | None = None
    token_budget: int = 0
    temperature: float | None = None
    stream: bool | None = None
    on_error: str | None = None
    max_retries: int = 0
    fallback: Ref | None = None
    memory: dict[str, str | int] | None = None
    delegates: list[Delegate] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    budget_daily: float | None = None
    budget_monthly: float | None = None
    guardrails: list[Ref] = field(default_factory=list)
    config: list[ConfigParam] | None = None
    rules: list[Rule] | None = None
    evals: list[EvalCase] | None = None
    on_input: list[Flow] | None = None
    ext_pos: list[tuple[str, Pos]] = field(default_factory=list)
    """Positions of [ext] agent items with no IR equivalent (``models``, ``config``, ...)."""


@dataclass
class Server(Node):
    transport: str | None = None
    command: str = ""
    args: list[str] = field(default_factory=list)
    url: str = ""
    auth: Ref | None = None
    exposes: list[Ref] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Client(Node):
    servers: list[Ref] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Secret(Node):
    source: str = ""
    key: str = ""


@dataclass
class Override:
    kind: str
    target: str
    attribute: str
    value: str
    pos: Pos


@dataclass
class Environment(Node):
    overrides: list[Override] = field(default_factory=list)


@dataclass
class PolicyRule:
    action: str
    resource: str
    subject: str
    pos: Pos


@dataclass
class Policy(Node):
    rules: list[PolicyRule] = field(default_factory=list)


@dataclass
class Plugin(Node):
    version: str = ""


@dataclass
class Import(Node):
    """``import "path"``: ``name`` is the path."""

    version: str = ""
    alias: str = ""


@dataclass
class Deploy(Node):
    target: str = ""
    default: bool = False
    config: dict[str, object] = field(default_factory=dict)


@dataclass
class Step:
    name: str
    pos: Pos
    agent: Ref | None = None
    input: str = ""
    output: str = ""
    depends_on: list[str] = field(default_factory=list)
    parallel: bool = False
    when: str = ""


@dataclass
class Pipeline(Node):
    steps: list[Step] = field(default_factory=list)


@dataclass
class TypeDef(Node):
    fields: list[Field] = field(default_factory=list)
    enum: list[str] = field(default_factory=list)
    list_of: str = ""


@dataclass
class Binding(Node):
    adapter: str = ""
    default: bool = False
    config: dict[str, str] = field(default_factory=dict)
    config_pos: dict[str, Pos] = field(default_factory=dict)


@dataclass
class User(Node):
    key: str = ""
    agents: list[Ref] = field(default_factory=list)
    role: str = ""


@dataclass
class Guardrail(Node):
    mode: str = ""
    keywords: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    fallback: str = ""


@dataclass
class State(Node):
    type: str = ""
    properties: dict[str, str] = field(default_factory=dict)


Statement = (
    Prompt
    | Skill
    | Agent
    | Server
    | Client
    | Secret
    | Environment
    | Policy
    | Plugin
    | Import
    | Deploy
    | Pipeline
    | TypeDef
    | Binding
    | User
    | Guardrail
    | State
)


@dataclass
class File:
    """One parsed ``.ias`` file."""

    path: str
    header: Header | None = None
    statements: list[Statement] = field(default_factory=list)
