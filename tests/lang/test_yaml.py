"""The YAML front-end: projects to IR, and every problem located as file:line:col."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.ir import CommandTool, HttpTool, InlineTool, McpTool, PythonTool, ir_hash
from agentspec.lang.yaml_spec import LoadedProject, load_yaml_project
from agentspec.tools.function import FunctionTool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "spec-yaml.md"

ADD_PY = '''
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b
'''

MINIMAL = """\
package: demo
prompts:
  sys:
    content: You help {{user}}.
    variables: {user: {default: friend}}
agents:
  assistant:
    model: scripted
    prompt: sys
"""


def write(root: Path, **files: str) -> Path:
    """Write ``name_ext=text`` files (``agentspec_yaml`` -> ``agentspec.yaml``) into root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        stem, _, ext = name.rpartition("_")
        (root / f"{stem}.{ext}").write_text(textwrap.dedent(text))
    return root


def load(root: Path, **files: str) -> LoadedProject:
    return load_yaml_project(write(root, **files))


def problems(root: Path, **files: str) -> list[str]:
    """Every diagnostic of the project, with the directory prefix removed from file names."""
    write(root, **files)
    with pytest.raises(SpecError) as info:
        load_yaml_project(root)
    return [str(d).replace(f"{root}/", "") for d in info.value.diagnostics]


def problem(root: Path, text: str) -> str:
    """The single diagnostic of an ``agentspec.yaml`` with this text."""
    found = problems(root, agentspec_yaml=text)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------- valid projects

COMPLETE = """\
package: {name: support, version: 1.2.0, description: Sorts tickets.}

models:
  demo:
    provider: scripted
    script:
      - {text: hello, when: {last: user}}
  smart:
    provider: openai
    name: gpt-4o-mini
    api_key: env(OPENAI_API_KEY)
    base_url: http://localhost:11434/v1
    temperature: 0.2
    max_tokens: 1024

secrets:
  kb-token: env(KB_TOKEN)
  db: {source: file, key: /run/db, description: the database}

prompts:
  triage-sys:
    content: "Sort {{channel}} tickets for {{team}}."
    variables:
      team: {type: string, default: ops, description: owning team}
      channel: {type: string, required: true}
    version: "3"
    metadata: {owner: ada}
  billing-sys: You answer billing questions.

types:
  priority: {enum: [low, high], description: how urgent}
  ticket: {fields: {id: {type: string, required: true}, level: priority}}
  tickets: {list_of: ticket}

skills:
  add:
    python: tools:add
  clock:
    description: Current time
    input: {tz: {type: string, required: true, description: IANA zone}}
    output: {time: string}
    command: {binary: date, args: ["+%H:%M"], timeout: 5s, secrets: {DB: db}}
  fetch:
    description: Fetch a page
    input: [{name: q, type: str, required: true}, {name: n, type: int}]
    http:
      method: post
      url: "https://x/{{q}}"
      headers: {X-A: b}
      body_template: "{}"
      timeout: 10s
  calc:
    description: Evaluate
    input: {expr: string, tickets: tickets, any: any}
    inline: {language: python, code: "print(1)", timeout: 5s, memory_limit: 128Mi}
  search:
    description: Search the knowledge base
    mcp: kb/search
    approval: required
    metadata: {team: kb}
  notify:
    description: Notify
    tool: {type: command, binary: notify-send}

mcp_servers:
  kb: {transport: streamable-http, url: "https://kb/mcp", auth: kb-token}
  local: {command: kb-server, args: [--stdio], env: {LEVEL: debug}}

agents:
  triage:
    description: Sorts tickets
    model: demo
    prompt: triage-sys
    skills: [clock, search]
    strategy: plan-and-execute
    max_turns: 6
    timeout: 1m
    token_budget: 20000
    temperature: 0.3
    stream: false
    on_error: fallback
    max_retries: 4
    fallback: billing
    memory: {strategy: summary, max_messages: 30}
    delegates: [{agent: billing, condition: mentions invoices}, billing]
    variables: {channel: email}
    metadata: {team: support}
  billing:
    model: smart
    prompt: billing-sys
    tools: [add, fetch, calc, notify]
"""


def test_complete_project(tmp_path: Path) -> None:
    project = load(tmp_path, agentspec_yaml=COMPLETE, tools_py=ADD_PY)
    package = project.package
    assert (package.name, package.version, package.description) == (
        "support",
        "1.2.0",
        "Sorts tickets.",
    )
    assert project.root == tmp_path.resolve()
    assert project.files == [(tmp_path / "agentspec.yaml").resolve()]

    triage = package.agents["triage"]
    assert triage.model.provider == "scripted"
    assert triage.model.script == ({"text": "hello", "when": {"last": "user"}},)
    assert triage.prompt == "triage-sys"
    assert triage.skills == ("clock", "search")
    assert triage.strategy == "plan-execute"
    assert (triage.max_turns, triage.timeout, triage.token_budget) == (6, 60.0, 20000)
    assert (triage.temperature, triage.stream, triage.on_error) == (0.3, False, "fallback")
    assert (triage.max_retries, triage.fallback) == (4, "billing")
    assert (triage.memory.strategy, triage.memory.max_messages) == ("summary", 30)
    assert [(d.agent, d.condition) for d in triage.delegates] == [
        ("billing", "mentions invoices"),
        ("billing", ""),
    ]
    assert triage.variables == {"channel": "email"}
    assert triage.metadata == {"team": "support"}

    billing = package.agents["billing"]
    assert billing.skills == ("add", "fetch", "calc", "notify")
    model = billing.model
    assert (model.provider, model.name, model.temperature, model.max_tokens) == (
        "openai",
        "gpt-4o-mini",
        0.2,
        1024,
    )
    assert str(model.api_key) == "env(OPENAI_API_KEY)"
    assert model.base_url == "http://localhost:11434/v1"

    assert (package.secrets["kb-token"].source, package.secrets["kb-token"].key) == (
        "env",
        "KB_TOKEN",
    )
    assert package.secrets["db"].description == "the database"

    prompt = package.prompts["triage-sys"]
    assert [(v.name, v.required, v.default) for v in prompt.variables] == [
        ("channel", True, None),
        ("team", False, "ops"),
    ]
    assert (prompt.version, prompt.metadata) == ("3", {"owner": "ada"})
    assert package.prompts["billing-sys"].content == "You answer billing questions."

    assert package.types["priority"].enum == ("low", "high")
    assert [f.name for f in package.types["ticket"].fields] == ["id", "level"]
    assert package.types["tickets"].list_of == "ticket"

    skills = package.skills
    assert isinstance(skills["add"].tool, PythonTool)
    assert isinstance(skills["clock"].tool, CommandTool)
    assert skills["clock"].tool.args == ("+%H:%M",)
    assert skills["clock"].tool.timeout == 5.0
    assert skills["clock"].tool.secrets == {"DB": "db"}
    assert [f.name for f in skills["clock"].output] == ["time"]
    assert isinstance(skills["fetch"].tool, HttpTool)
    assert skills["fetch"].tool.method == "POST"
    assert isinstance(skills["calc"].tool, InlineTool)
    assert skills["calc"].tool.memory_limit == "128Mi"
    assert isinstance(skills["search"].tool, McpTool)
    assert skills["search"].tool.server_tool == "kb/search"
    assert (skills["search"].approval, skills["search"].metadata) == ("required", {"team": "kb"})
    assert isinstance(skills["notify"].tool, CommandTool)

    assert skills["clock"].input_schema == {
        "type": "object",
        "properties": {"tz": {"type": "string", "description": "IANA zone"}},
        "required": ["tz"],
        "additionalProperties": False,
    }
    assert skills["fetch"].input_schema["properties"] == {
        "q": {"type": "string"},
        "n": {"type": "integer"},
    }
    ticket = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "level": {"type": "string", "enum": ["low", "high"], "description": "how urgent"},
        },
        "required": ["id"],
        "additionalProperties": False,
    }
    assert skills["calc"].input_schema["properties"] == {
        "any": {},
        "expr": {"type": "string"},
        "tickets": {"type": "array", "items": ticket},
    }
    assert package.mcp_servers["kb"].auth == "kb-token"
    assert package.mcp_servers["local"].args == ("--stdio",)
    assert project.positions[("agents", "triage", "max_turns")] == (
        str(tmp_path / "agentspec.yaml"),
        76,
        16,
    )


def test_docs_example_loads(tmp_path: Path) -> None:
    text = DOCS.read_text()
    block = re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    project = load(tmp_path, agentspec_yaml=block.group(1), tools_py=ADD_PY)
    assert set(project.package.agents) == {"triage", "triage-lite", "billing"}


def test_multi_file_project_is_merged(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="package: multi\nversion: '2'\n",
        agents_yaml="""\
        package: multi
        agents:
          assistant: {model: scripted, prompt: sys, tools: [add]}
        """,
        prompts_yml="prompts:\n  sys: Hello.\n",
        skills_yaml="tools:\n  add: {python: tools:add}\n",
        tools_py=ADD_PY,
    )
    write(tmp_path / "nested", agentspec_yaml="package: ignored\n")
    (tmp_path / ".hidden.yaml").write_text("not: [valid\n")
    package = project.package
    assert (package.name, package.version) == ("multi", "2")
    assert set(package.agents) == {"assistant"}
    assert set(package.prompts) == {"sys"}
    assert set(package.skills) == {"add"}
    assert [p.name for p in project.files] == [
        "agentspec.yaml",
        "agents.yaml",
        "prompts.yml",
        "skills.yaml",
    ]
    assert project.positions[("skills", "add", "python")] == (
        str(tmp_path / "skills.yaml"),
        2,
        17,
    )


def test_single_file_project(tmp_path: Path) -> None:
    write(tmp_path, other_yaml="agents: {}\n")
    (tmp_path / "spec.yaml").write_text(MINIMAL)
    project = load_yaml_project(tmp_path / "spec.yaml")
    assert project.package.name == "demo"
    assert project.files == [(tmp_path / "spec.yaml").resolve()]


def test_instructions_create_a_prompt_named_after_the_agent(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="""\
        package: demo
        agents:
          helper:
            model: scripted
            instructions: |
              You are helpful.
        """,
    )
    assert project.package.agents["helper"].prompt == "helper"
    assert project.package.prompts["helper"].content == "You are helpful.\n"
    assert project.positions[("prompts", "helper")][1:] == (5, 19)


@pytest.mark.parametrize(
    ("model", "provider", "name"),
    [
        ("named", "openai", "gpt-4o"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6"),
        ("scripted", "scripted", ""),
        ("replay", "replay", ""),
        ("gpt-4o", "openai", "gpt-4o"),
        ("o1", "openai", "o1"),
        ("o3-mini", "openai", "o3-mini"),
        ("o4-mini", "openai", "o4-mini"),
        ("chatgpt-4o-latest", "openai", "chatgpt-4o-latest"),
        ("claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("{provider: anthropic, name: claude-x, max_tokens: 9}", "anthropic", "claude-x"),
        ("short", "anthropic", "claude-y"),
    ],
)
def test_agent_models(tmp_path: Path, model: str, provider: str, name: str) -> None:
    project = load(
        tmp_path,
        agentspec_yaml=f"""\
        package: demo
        models:
          named: {{provider: openai, name: gpt-4o, temperature: 0.5}}
          short: anthropic:claude-y
        agents:
          a: {{model: {model}, instructions: Hi.}}
        """,
    )
    config = project.package.agents["a"].model
    assert (config.provider, config.name) == (provider, name)


def test_python_skill_takes_schema_and_description_from_the_function(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="""\
        package: demo
        skills:
          add: {python: tools:add}
          plus:
            description: Plus, described in YAML
            python: {function: "tools:add", timeout: 3s}
          decorated:
            tool: {type: python, function: "tools:mul"}
        """,
        tools_py=ADD_PY
        + '''
from agentspec.tools.function import tool

@tool(name="multiply")
def mul(x: float, y: float) -> float:
    """Multiply."""
    return x * y
''',
    )
    add = project.package.skills["add"]
    assert add.description == "Add two integers."
    assert add.input_schema == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "the first number"},
            "b": {"type": "integer", "description": "the second number", "default": 2},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert [(f.name, f.type, f.required) for f in add.input] == [
        ("a", "integer", True),
        ("b", "integer", False),
    ]
    plus = project.package.skills["plus"]
    assert plus.description == "Plus, described in YAML"
    assert isinstance(plus.tool, PythonTool)
    assert plus.tool.timeout == 3.0
    functions = project.functions
    assert set(functions) == {"add", "plus", "decorated"}
    assert all(isinstance(f, FunctionTool) for f in functions.values())
    assert functions["add"](1, 2) == 3
    assert functions["plus"].description == "Plus, described in YAML"
    assert functions["decorated"].name == "multiply"
    assert project.package.skills["decorated"].input_schema["required"] == ["x", "y"]


def test_python_modules_are_reimported_per_project(tmp_path: Path) -> None:
    spec = "package: demo\nskills:\n  f: {python: tools:f}\n"
    first = load(tmp_path / "one", agentspec_yaml=spec, tools_py='def f():\n    "One."\n')
    second = load(tmp_path / "two", agentspec_yaml=spec, tools_py='def f():\n    "Two."\n')
    assert first.package.skills["f"].description == "One."
    assert second.package.skills["f"].description == "Two."


def test_tools_alias_for_skills(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="""\
        package: demo
        tools:
          now: {description: Now, command: {binary: date}}
        servers:
          kb: {command: kb}
        agents:
          a: {model: scripted, instructions: Hi., tools: [now]}
        """,
    )
    assert set(project.package.skills) == {"now"}
    assert set(project.package.mcp_servers) == {"kb"}
    assert project.package.agents["a"].skills == ("now",)
    assert ("skills", "now", "command") in project.positions


def test_scalars_keep_their_text_where_text_is_expected(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="""\
        package: demo
        version: 1.10
        prompts:
          p:
            content: 42
            variables: {flag: {default: yes}}
            version: 2024-01-01
        agents:
          a: {model: scripted, prompt: p, metadata: {on: 1, n: 0x1F}, variables: {flag: no}}
        """,
    )
    package = project.package
    assert package.version == "1.10"
    assert package.prompts["p"].content == "42"
    assert package.prompts["p"].variables[0].default == "yes"
    assert package.prompts["p"].version == "2024-01-01"
    assert package.agents["a"].metadata == {"on": "1", "n": "0x1F"}
    assert package.agents["a"].variables == {"flag": "no"}


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml="""\
        package: demo
        x-defaults: &defaults {model: scripted, max_turns: 3}
        agents:
          a: &a {<<: *defaults, instructions: Hi., max_turns: 4}
          b:
            <<: [*a, {strategy: reflexion}]
            instructions: Ho.
        """,
    )
    a, b = project.package.agents["a"], project.package.agents["b"]
    assert (a.max_turns, a.model.provider) == (4, "scripted")
    assert (b.max_turns, b.strategy, project.package.prompts["b"].content) == (
        4,
        "reflexion",
        "Ho.",
    )


def test_recursive_and_deep_documents(tmp_path: Path) -> None:
    deep = "package: demo\nagents: {a: {metadata: " + "[" * 200 + "]" * 200 + "}}\n"
    assert problem(tmp_path / "deep", deep) == (
        "agentspec.yaml:2:122: nested too deeply (over 100 levels)"
    )
    found = problems(tmp_path / "loop", agentspec_yaml="package: demo\nagents: &a {b: *a}\n")
    assert found[0] == (
        "agentspec.yaml:2:9: invalid YAML: an alias refers to the node that contains it"
    )


def test_multiple_documents_in_one_file(tmp_path: Path) -> None:
    assert problem(tmp_path, "package: demo\n---\npackage: other\n") == (
        "agentspec.yaml:2:1: invalid YAML: expected a single document in the stream,"
        " but found another document"
    )


# ---------------------------------------------------------------------------- hash


def test_hash_ignores_key_order_whitespace_comments_and_style(tmp_path: Path) -> None:
    block = """\
    package: demo
    version: 1.0.0
    prompts:
      sys:
        content: "You help {{user}} with {{topic}}."
        variables:
          user: {type: string, default: friend}
          topic: {type: string, required: true}
    skills:
      clock:
        description: Current time
        input:
          tz: {type: string, required: true}
          fmt: string
        command: {binary: date, args: ["+%H:%M"], timeout: 5s}
    agents:
      assistant:
        model: {provider: openai, name: gpt-4o-mini, temperature: 0.2}
        prompt: sys
        skills: [clock]
        max_turns: 6
        memory: {strategy: sliding_window, max_messages: 30}
    """
    flow = """\
    # the same project, rewritten
    agents: {assistant: {memory: {max_messages: 30, strategy: sliding_window},
             max_turns: 6, skills: [clock], prompt: sys,
             model: {temperature: 0.2, name: gpt-4o-mini, provider: openai}}}   # trailing

    skills:
        clock:
            command:
                timeout: 5s
                args:
                    - "+%H:%M"
                binary: date
            input: {fmt: {type: string}, tz: {required: true, type: string}}
            description: "Current time"
    prompts:
        sys:
            variables: {topic: {required: true}, user: {default: friend}}
            content: 'You help {{user}} with {{topic}}.'
    version: "1.0.0"
    package: {name: demo}
    """
    one = load(tmp_path / "one", agentspec_yaml=block).package
    two = load(tmp_path / "two", agentspec_yaml=flow).package
    assert ir_hash(one) == ir_hash(two)
    changed = load(tmp_path / "three", agentspec_yaml=block.replace("max_turns: 6", "max_turns: 7"))
    assert ir_hash(changed.package) != ir_hash(one)


# ---------------------------------------------------------------------------- errors


def test_invalid_yaml(tmp_path: Path) -> None:
    assert problem(tmp_path, "package: demo\nagents:\n  a: [1, 2\n  b: 3\n") == (
        "agentspec.yaml:4:4: invalid YAML: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence at line 3)"
    )


def test_invalid_yaml_in_one_file_does_not_hide_problems_of_another(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        agentspec_yaml=MINIMAL,
        broken_yaml="prompts:\n  p: 'unterminated\n",
        more_yaml="agents:\n  b: {model: scripted, prompt: sys, max_turns: 0}\n",
    )
    assert found == [
        "broken.yaml:3:1: invalid YAML: found unexpected end of stream"
        " (while scanning a quoted scalar at line 2)",
        "more.yaml:2:48: agents.b.max_turns: must be > 0 (got 0)",
    ]


def test_duplicate_key_in_one_file(tmp_path: Path) -> None:
    text = MINIMAL + "  assistant:\n    model: openai:gpt-4o\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:10:3: agents.assistant: duplicate key "assistant"'
        " (first defined at line 7, column 3)"
    )


def test_duplicate_key_inside_a_resource(tmp_path: Path) -> None:
    text = MINIMAL + "    prompt: other\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:10:5: agents.assistant.prompt: duplicate key "prompt"'
        " (first defined at line 9, column 5)"
    )


def test_duplicate_resource_across_files(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        agentspec_yaml=MINIMAL,
        more_yaml="prompts:\n  other: Hi.\n  sys: Again.\n",
    )
    assert found == [
        'more.yaml:3:3: prompts.sys: duplicate prompt "sys" (first defined at agentspec.yaml:3:3)'
    ]


def test_unknown_field_with_suggestion(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    max_turn: 5\n") == (
        'agentspec.yaml:10:5: agents.assistant.max_turn: unknown field "max_turn"'
        ' (did you mean "max_turns"?)'
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "skils: {}\n") == (
        'agentspec.yaml:10:1: unknown top-level key "skils" (did you mean "skills"?)'
    )


def test_unknown_agent_skill_with_suggestion(tmp_path: Path) -> None:
    text = MINIMAL + "    skills: [search]\nskills:\n  serch: {description: S, mcp: search}\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:10:14: agents.assistant.skills[0]: skill "search" not found'
        ' (did you mean "serch"?)'
    )


def test_unknown_agent_skill_through_the_tools_alias(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    tools: [x, searh]\n"
        "tools:\n  search: {description: S, mcp: search}\n  x: {description: X, mcp: x}\n"
    )
    assert problem(tmp_path, text) == (
        'agentspec.yaml:10:16: agents.assistant.tools[1]: skill "searh" not found'
        ' (did you mean "search"?)'
    )


def test_unknown_prompt(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL.replace("prompt: sys", "prompt: system")) == (
        'agentspec.yaml:9:13: agents.assistant.prompt: prompt "system" not found'
        ' (did you mean "sys"?)'
    )


def test_bad_enum_value(tmp_path: Path) -> None:
    found = problems(
        tmp_path, agentspec_yaml=MINIMAL + "    strategy: reactt\n    on_error: explode\n"
    )
    assert found == [
        'agentspec.yaml:10:15: agents.assistant.strategy: unknown value "reactt"'
        ' (did you mean "react"?)',
        'agentspec.yaml:11:15: agents.assistant.on_error: unknown value "explode"'
        " (available: fail, fallback, retry)",
    ]


def test_out_of_range_number(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    temperature: 3\n") == (
        "agentspec.yaml:10:18: agents.assistant.temperature: must be <= 2 (got 3)"
    )


def test_wrong_type(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    max_turns: ten\n") == (
        'agentspec.yaml:10:16: agents.assistant.max_turns: must be an integer (got "ten")'
    )


def test_wrong_type_of_a_resource(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "  other: [1]\n") == (
        "agentspec.yaml:10:10: agents.other: must be a mapping, got a list"
    )


def test_bad_duration(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    timeout: soon\n") == (
        "agentspec.yaml:10:14: agents.assistant.timeout: invalid duration 'soon':"
        " use a number of seconds or '500ms', '30s', '2m', '1h'"
    )


def test_missing_required_field(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL.replace("    model: scripted\n", "")) == (
        'agentspec.yaml:7:3: agents.assistant: missing required field "model"'
    )


def test_missing_model_provider(tmp_path: Path) -> None:
    text = MINIMAL.replace("model: scripted", "model: {name: gpt-4o}")
    assert problem(tmp_path, text) == (
        'agentspec.yaml:8:5: agents.assistant.model: missing required field "provider"'
    )


def test_missing_package_header(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL.replace("package: demo\n", "")) == (
        'agentspec.yaml:1:1: missing required field "package" (the package name)'
    )


def test_missing_prompt_and_instructions(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL.replace("    prompt: sys\n", "")) == (
        'agentspec.yaml:7:3: agents.assistant: missing required field "prompt"'
        " (set prompt: <prompt name>, or instructions: <system prompt text>)"
    )


def test_prompt_and_instructions_together(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    instructions: Hi.\n") == (
        'agentspec.yaml:10:5: agents.assistant.instructions: use either "prompt" or'
        ' "instructions", not both'
    )


def test_instructions_clash_with_a_prompt(tmp_path: Path) -> None:
    text = MINIMAL + "  sys:\n    model: scripted\n    instructions: Hi.\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:12:5: agents.sys.instructions: a prompt named "sys" already exists'
        " (defined at agentspec.yaml:3:3; use prompt: sys, or rename one)"
    )


def test_undeclared_prompt_variable(tmp_path: Path) -> None:
    text = MINIMAL.replace("You help {{user}}.", "You help {{user}} with {{topic}}.")
    assert problem(tmp_path, text) == (
        'agentspec.yaml:4:14: prompts.sys.content: prompt "sys" references undeclared'
        " variable {{topic}} (declare it under variables; declared: user)"
    )


def test_agent_variable_not_declared_by_its_prompt(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "    variables: {usr: Ada}\n") == (
        'agentspec.yaml:10:22: agents.assistant.variables.usr: agent "assistant" sets'
        ' variable "usr" that prompt "sys" does not declare (did you mean "user"?)'
    )


def test_unknown_model_string(tmp_path: Path) -> None:
    text = MINIMAL.replace("model: scripted", "model: llama3") + "models:\n  fast: scripted\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:8:12: agents.assistant.model: unknown model "llama3": not a named'
        ' model and no provider (use "provider:name" with provider openai, anthropic,'
        " scripted, replay; named models: fast)"
    )


def test_unknown_model_provider(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL.replace("model: scripted", "model: openia:gpt-4o")) == (
        'agentspec.yaml:8:12: agents.assistant.model: unknown model provider "openia"'
        ' (did you mean "openai"?)'
    )


def test_python_module_that_fails_to_import(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  add: {python: tools:add}\n"
    found = problems(tmp_path, agentspec_yaml=text, tools_py="x = 1 / 0\n")
    assert found == [
        'agentspec.yaml:11:17: skills.add.python: cannot import module "tools":'
        " ZeroDivisionError: division by zero"
    ]


def test_python_module_with_a_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  add: {python: tools:add}\n"
    found = problems(tmp_path, agentspec_yaml=text, tools_py="def add(:\n")
    assert len(found) == 1
    assert found[0].startswith(
        'agentspec.yaml:11:17: skills.add.python: cannot import module "tools": SyntaxError:'
    )


def test_python_module_not_found(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  add: {python: nowhere_module:add}\n"
    assert problems(tmp_path, agentspec_yaml=text) == [
        'agentspec.yaml:11:17: skills.add.python: module "nowhere_module" not found in'
        f" {tmp_path.resolve()}"
    ]


def test_python_function_that_does_not_exist(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  add: {python: tools:ad}\n    \n"
    found = problems(tmp_path, agentspec_yaml=text, tools_py=ADD_PY)
    assert found == [
        'agentspec.yaml:11:17: skills.add.python: function "ad" not found in module "tools"'
        ' (did you mean "add"?)'
    ]


def test_python_skill_rejects_an_input_section(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  add:\n    python: tools:add\n    input: {a: int}\n"
    assert problems(tmp_path, agentspec_yaml=text, tools_py=ADD_PY) == [
        "agentspec.yaml:13:5: skills.add.input: not allowed for a python skill:"
        " its input comes from the type hints"
    ]


def test_skill_needs_exactly_one_tool(tmp_path: Path) -> None:
    text = MINIMAL + (
        "skills:\n  a: {description: A}\n"
        "  b: {description: B, mcp: x, command: {binary: ls}}\n"
        "  c: {description: C, tool: {type: comand, binary: ls}}\n"
    )
    assert problems(tmp_path, agentspec_yaml=text) == [
        "agentspec.yaml:11:3: skills.a: missing the tool: set one of python, command, http,"
        " inline, mcp or tool",
        'agentspec.yaml:12:31: skills.b.command: a skill has one tool; "mcp" is already given',
        'agentspec.yaml:13:36: skills.c.tool.type: unknown tool type "comand"'
        ' (did you mean "command"?)',
    ]


def test_missing_agentspec_yaml_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path, other_yaml=MINIMAL)
    with pytest.raises(SpecError) as info:
        load_yaml_project(tmp_path)
    assert [str(d) for d in info.value.diagnostics] == [
        f'{tmp_path}: no agentspec.yaml in directory "{tmp_path}"'
    ]


def test_nonexistent_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml_project(tmp_path / "nope")
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (0, 0)
    assert str(diagnostic) == f"{tmp_path}/nope: no such file or directory"


def test_empty_file(tmp_path: Path) -> None:
    assert problem(tmp_path, "# nothing here\n") == "agentspec.yaml:1:1: file is empty"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert problem(tmp_path, "- package\n") == (
        "agentspec.yaml:1:1: the top level must be a mapping of sections, got a list"
    )


def test_other_files_hold_resources_only(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        agentspec_yaml=MINIMAL,
        more_yaml="package: other\nversion: 2.0.0\nskills: {}\ntools: {}\n",
    )
    assert found == [
        'more.yaml:1:1: package "other" does not match "demo" of agentspec.yaml',
        "more.yaml:2:1: version: the package header belongs in agentspec.yaml",
        'more.yaml:4:1: tools: "tools" and "skills" are the same section; use one of them',
    ]


def test_unsupported_tag(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "description: !env DESCRIPTION\n") == (
        'agentspec.yaml:10:14: unsupported YAML tag "!env"'
    )


def test_invalid_resource_name(tmp_path: Path) -> None:
    assert problem(tmp_path, MINIMAL + "  bad name: {model: scripted, instructions: Hi.}\n") == (
        'agentspec.yaml:10:3: agents.bad name: invalid name "bad name"'
        ' (use letters, digits, "_", "." and "-", starting with a letter or "_")'
    )


def test_problems_of_a_broken_resource_are_not_repeated_by_references(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    skills: [clock]\n"
        "  other:\n    model: fast\n    prompt: sys\n"
        "models:\n  fast: {provider: openai, temperature: -1}\n"
        "skills:\n  clock: {description: Time, command: {binary: date, timeout: never}}\n"
    )
    assert problems(tmp_path, agentspec_yaml=text) == [
        "agentspec.yaml:15:41: models.fast.temperature: must be >= 0 (got -1)",
        "agentspec.yaml:17:63: skills.clock.command.timeout: invalid duration 'never':"
        " use a number of seconds or '500ms', '30s', '2m', '1h'",
    ]


def test_problems_in_a_named_model_are_reported_once_at_the_model(tmp_path: Path) -> None:
    text = """\
    package: demo
    models:
      smart: {provider: openai, api_key: secret(token)}
    agents:
      a: {model: smart, instructions: A.}
      b: {model: smart, instructions: B.}
    """
    assert problems(tmp_path, agentspec_yaml=text) == [
        'agentspec.yaml:3:38: models.smart.api_key: secret "token" not found'
    ]


def test_header_and_resource_forms(tmp_path: Path) -> None:
    text = """\
    package: {version: 1.0}
    secrets:
      a: secret(b)
      c: {source: vault, key: x}
    types:
      t: {}
    mcp_servers:
      kb: {transport: stdio}
    prompts:
      p:
        content: ""
        variables: [x, 5, {name: y, required: maybe}]
    """
    assert problems(tmp_path, agentspec_yaml=text) == [
        'agentspec.yaml:1:1: package: missing required field "name"',
        "agentspec.yaml:3:6: secrets.a: a secret comes from env(NAME) or file(path),"
        " not another secret",
        'agentspec.yaml:4:15: secrets.c.source: unknown value "vault" (available: env, file)',
        "agentspec.yaml:6:3: types.t: a type needs exactly one of: fields, enum, list_of",
        "agentspec.yaml:8:3: mcp_servers.kb: an MCP server with stdio transport needs a command",
        "agentspec.yaml:11:14: prompts.p.content: must not be empty",
        "agentspec.yaml:12:20: prompts.p.variables[1]: must be a mapping (got 5)",
        "agentspec.yaml:12:43: prompts.p.variables[2].required: must be true or false"
        ' (got "maybe")',
    ]


def test_names_and_aliases_must_agree(tmp_path: Path) -> None:
    text = MINIMAL.replace("  sys:\n", "  sys:\n    name: system\n") + (
        "    skills: [a]\n    tools: [a]\nskills:\n  a: {description: A, mcp: a}\n"
    )
    assert problems(tmp_path, agentspec_yaml=text) == [
        'agentspec.yaml:4:11: prompts.sys.name: name "system" does not match its key "sys"',
        'agentspec.yaml:12:5: agents.assistant.tools: "tools" and "skills" are the same field;'
        " use one",
    ]


def test_both_main_file_spellings(tmp_path: Path) -> None:
    write(tmp_path, agentspec_yaml=MINIMAL, agentspec_yml=MINIMAL)
    with pytest.raises(SpecError) as info:
        load_yaml_project(tmp_path)
    assert [d.message for d in info.value.diagnostics] == [
        "both agentspec.yaml and agentspec.yml exist; keep one"
    ]


def test_python_module_named_like_the_standard_library(tmp_path: Path) -> None:
    text = MINIMAL + "skills:\n  dump: {python: json:dumps}\n"
    assert problems(tmp_path, agentspec_yaml=text, json_py="def dumps(): pass\n") == [
        'agentspec.yaml:11:18: skills.dump.python: module "json" of the project has the name'
        " of a standard library module (rename it)"
    ]


def test_five_problems_are_reported_together(tmp_path: Path) -> None:
    text = """\
    package: demo
    prompts:
      sys:
        content: Hello {{user}} and {{guest}}.
        variables: {user: string}
    agents:
      assistant:
        model: scripted
        prompt: sys
        max_turn: 3
        temperature: 9
        strategy: plan-exec
        skills: [lookup]
    """
    found = problems(tmp_path, agentspec_yaml=text)
    assert found == [
        'agentspec.yaml:4:14: prompts.sys.content: prompt "sys" references undeclared'
        " variable {{guest}} (declare it under variables; declared: user)",
        'agentspec.yaml:10:5: agents.assistant.max_turn: unknown field "max_turn"'
        ' (did you mean "max_turns"?)',
        "agentspec.yaml:11:18: agents.assistant.temperature: must be <= 2 (got 9)",
        'agentspec.yaml:12:15: agents.assistant.strategy: unknown value "plan-exec"'
        ' (did you mean "plan-execute"?)',
        'agentspec.yaml:13:14: agents.assistant.skills[0]: skill "lookup" not found',
    ]


def test_loading_many_resources_is_fast(tmp_path: Path) -> None:
    parts = ["package: big", "prompts:"]
    parts += [
        f"  p{i}: {{content: 'Prompt {i} for {{{{user}}}}', variables: {{user: string}}}}"
        for i in range(50)
    ]
    parts += ["skills:"]
    parts += [
        f"  s{i}: {{description: S{i}, input: {{q: string}}, command: {{binary: echo}}}}"
        for i in range(50)
    ]
    parts += ["agents:"]
    parts += [
        f"  a{i}: {{model: scripted, prompt: p{i}, skills: [s{i}], variables: {{user: x}}}}"
        for i in range(50)
    ]
    write(tmp_path, agentspec_yaml="\n".join(parts) + "\n")
    load_yaml_project(tmp_path)
    start = time.perf_counter()
    project = load_yaml_project(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(project.package.agents) == 50
    assert elapsed < 0.5, f"loading 150 resources took {elapsed:.3f}s"
