"""Lowering to the IR: fields, unsupported constructs, imports, and hash equality with YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import agentspec
from agentspec.exceptions import SpecError
from agentspec.ir import CommandTool, HttpTool, InlineTool, McpTool, ir_hash
from agentspec.lang.intentlang import load_intentlang
from agentspec.lang.yaml_spec import load_yaml_project

from .conftest import APPENDIX_A

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "quickstart-ias"

IAS = """\
package "shop" version "1.2.0" lang "2.0"
type "level" enum ["low", "high"]
secret "api" { env(SHOP_KEY) }
prompt "sys" {
  content "Help {{user}}."
  version "3"
  variables { user string required default "friend" }
}
skill "count" {
  description "Count words."
  input { text string required  urgency level }
  output { n int }
  tool command { binary "python3" args ["wc.py", "{{text}}"] timeout "10s" secrets { KEY api } }
}
skill "fetch" {
  description "Fetch a page."
  input { url string required }
  output { body string }
  tool http { method "post" url "https://example.com" headers { A "b" } timeout "500ms" }
}
skill "calc" {
  description "Run code."
  input { x int }
  output { y int }
  tool inline { language "python" code "print(1)" memory "64Mi" timeout "2s" }
}
skill "search" {
  description "Search."
  input { q string }
  output { hits string }
  tool mcp "kb/search"
}
server "kb" { transport "stdio" command "kb-server" args ["--fast"] env { MODE "x" } auth "api" }
agent "main" {
  uses prompt "sys"
  uses skill "count"
  uses skill "fetch"
  model "openai/gpt-4o"
  strategy "plan-and-execute"
  max_turns 5
  timeout "2m"
  token_budget 1000
  temperature 0.2
  stream false
  on_error "fallback"
  max_retries 3
  fallback "helper"
  memory { strategy "summary" max_messages 9 }
  delegate to agent "helper" when "it is hard"
}
agent "helper" { uses prompt "sys" uses skill "search" uses skill "calc" model "scripted" }
"""

YAML = """\
package: shop
version: 1.2.0
types:
  level: {enum: [low, high]}
secrets:
  api: env(SHOP_KEY)
prompts:
  sys:
    content: Help {{user}}.
    version: "3"
    variables:
      user: {type: string, required: true, default: friend}
skills:
  count:
    description: Count words.
    input:
      text: {type: string, required: true}
      urgency: {type: level}
    output:
      n: {type: int}
    command: {binary: python3, args: [wc.py, "{{text}}"], timeout: 10s, secrets: {KEY: api}}
  fetch:
    description: Fetch a page.
    input:
      url: {type: string, required: true}
    output:
      body: {type: string}
    http: {method: POST, url: "https://example.com", headers: {A: b}, timeout: 500ms}
  calc:
    description: Run code.
    input:
      x: {type: int}
    output:
      y: {type: int}
    inline: {language: python, code: print(1), memory_limit: 64Mi, timeout: 2s}
  search:
    description: Search.
    input:
      q: {type: string}
    output:
      hits: {type: string}
    mcp: kb/search
mcp_servers:
  kb: {transport: stdio, command: kb-server, args: [--fast], env: {MODE: x}, auth: api}
agents:
  main:
    prompt: sys
    skills: [count, fetch]
    model: openai:gpt-4o
    strategy: plan-execute
    max_turns: 5
    timeout: 120
    token_budget: 1000
    temperature: 0.2
    stream: false
    on_error: fallback
    max_retries: 3
    fallback: helper
    memory: {strategy: summary, max_messages: 9}
    delegates: [{agent: helper, condition: it is hard}]
  helper:
    prompt: sys
    skills: [search, calc]
    model: scripted
"""


def write(tmp_path: Path, text: str, name: str = "main.ias") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_same_package_as_yaml(tmp_path: Path) -> None:
    ias = load_intentlang(write(tmp_path, IAS))
    yaml_dir = tmp_path / "yaml"
    yaml_dir.mkdir()
    (yaml_dir / "agentspec.yaml").write_text(YAML, encoding="utf-8")
    yaml = load_yaml_project(yaml_dir)
    assert ias.package.model_dump(exclude={"lang_version"}) == yaml.package.model_dump(
        exclude={"lang_version"}
    )
    assert ias.package.lang_version == yaml.package.lang_version == "2.0"
    assert ir_hash(ias.package) == ir_hash(yaml.package)
    assert ias.unsupported == []


def test_ir_fields(tmp_path: Path) -> None:
    package = load_intentlang(write(tmp_path, IAS)).package
    main = package.agents["main"]
    assert (main.model.provider, main.model.name) == ("openai", "gpt-4o")
    assert main.strategy == "plan-execute" and main.timeout == 120.0
    assert package.agents["helper"].model.provider == "scripted"
    count = package.skills["count"]
    assert isinstance(count.tool, CommandTool) and count.tool.timeout == 10.0
    assert count.input_schema == {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "urgency": {"type": "string", "enum": ["low", "high"]},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    fetch = package.skills["fetch"].tool
    assert isinstance(fetch, HttpTool) and fetch.method == "POST" and fetch.timeout == 0.5
    calc = package.skills["calc"].tool
    assert isinstance(calc, InlineTool) and calc.memory_limit == "64Mi"
    assert isinstance(package.skills["search"].tool, McpTool)
    assert package.secrets["api"].key == "SHOP_KEY"
    assert package.prompts["sys"].variables[0].default == "friend"


def test_appendix_a_lowers_with_unsupported_notes(tmp_path: Path) -> None:
    loaded = load_intentlang(write(tmp_path, APPENDIX_A))
    assert sorted(loaded.package.agents) == ["desk", "netops"]
    assert loaded.package.agents["desk"].model.provider == "anthropic"
    notes = [(d.line, d.message) for d in loaded.unsupported]
    assert not any("pipeline" in m for _, m in notes)  # pipelines lower to the IR
    intake = loaded.package.pipelines["intake"]
    assert [(s.name, s.agent, s.depends_on) for s in intake.steps] == [
        ("classify", "desk", ()),
        ("probe", "netops", ("classify",)),
    ]
    assert any("environment" in m for _, m in notes)
    assert any("policy" in m for _, m in notes)
    assert any("deploy" in m for _, m in notes)
    assert any("connects to client" in m for _, m in notes)


def test_ext_agent_items_are_listed(tmp_path: Path) -> None:
    loaded = load_intentlang(
        write(
            tmp_path,
            'package "p" version "1" lang "3.0"\nprompt "s" { content "x" }\n'
            'guardrail "g" { mode "warn" keywords ["x"] }\n'
            'agent "a" { uses prompt "s" models ["gpt-4o", "claude-x"] uses guardrail "g"\n'
            ' budget daily 3\n on input { respond "hi" } }\n',
        )
    )
    assert loaded.package.agents["a"].model.name == "gpt-4o"
    assert loaded.package.lang_version == "3.0"
    text = "\n".join(d.message for d in loaded.unsupported)
    for part in ("models fallback", "uses guardrail", "budget", "on input", "guardrails"):
        assert part in text


def errors(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_intentlang(write(tmp_path, 'package "p" version "1" lang "2.0"\n' + body))
    return [str(d) for d in info.value.diagnostics]


def test_model_without_provider(tmp_path: Path) -> None:
    [message] = errors(
        tmp_path, 'prompt "s" { content "x" }\nagent "a" { uses prompt "s" model "llama3" }'
    )
    assert message.startswith(
        f'{tmp_path / "main.ias"}:3:35: cannot tell the provider of model "llama3"'
    )


def test_store_secret_not_supported(tmp_path: Path) -> None:
    [message] = errors(tmp_path, 'secret "k" { store("a/b") }')
    assert "store secrets are not supported yet" in message and ":2:1:" in message


def test_ir_problems_map_to_positions(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        'skill "s" { description "d" input { a widget } output { b string } tool command'
        ' { binary "x" secrets { K nope } } }\n',
    )
    assert any(':2:37: skill "s" field "a" has unknown type "widget"' in m for m in found)
    assert any('secret "nope" not found' in m for m in found)


def test_pydantic_errors_are_located(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        'prompt "s" { content "x" }\nagent "a" { uses prompt "s" model "gpt-4o" timeout "soon" }',
    )
    assert any(":3:1: timeout:" in m for m in found)


def test_parse_and_lang_errors_raise(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_intentlang(write(tmp_path, 'package "p" version "1" lang "1.0"\n'))
    assert "migrate --to-v2" in str(info.value)


def test_imports(tmp_path: Path) -> None:
    write(tmp_path, 'package "lib" version "1" lang "2.0"\nprompt "s" { content "x" }', "lib.ias")
    (tmp_path / "sub").mkdir()
    write(tmp_path, 'package "lib" version "1" lang "2.0"\nimport "../lib"', "sub/index.ias")
    main = write(
        tmp_path,
        'package "p" version "1" lang "2.0"\nimport "./sub"\nimport "./lib.ias"\n'
        'agent "a" { uses prompt "s" model "scripted" }',
    )
    loaded = load_intentlang(main)
    assert list(loaded.package.prompts) == ["s"]
    assert [p.name for p in loaded.files] == ["main.ias", "index.ias", "lib.ias"]


def test_import_errors(tmp_path: Path) -> None:
    found = errors(tmp_path, 'import "./missing"\nimport "github.com/x/y"\n')
    assert any('import "./missing" not found' in m for m in found)
    assert any('package import "github.com/x/y" is not supported yet' in m for m in found)


def test_directory_of_files(tmp_path: Path) -> None:
    write(tmp_path, 'package "p" version "1" lang "2.0"\nprompt "s" { content "x" }', "a.ias")
    write(
        tmp_path,
        'package "p" version "1" lang "2.0"\nagent "a" { uses prompt "s" model "scripted" }',
        "b.ias",
    )
    project = agentspec.load(tmp_path)
    assert sorted(project.package.agents) == ["a"] and len(project.files) == 2
    write(tmp_path, 'package "q" version "1" lang "2.0"\n', "c.ias")
    with pytest.raises(SpecError, match='package "q" differs'):
        agentspec.load(tmp_path)


def test_directory_with_yaml_and_ias_is_refused(tmp_path: Path) -> None:
    write(tmp_path, 'package "p" version "1" lang "2.0"\n', "a.ias")
    (tmp_path / "agentspec.yaml").write_text("package: p\n", encoding="utf-8")
    with pytest.raises(SpecError, match="both agentspec.yaml and .ias"):
        agentspec.load(tmp_path)


def test_bindings(tmp_path: Path) -> None:
    loaded = load_intentlang(
        write(
            tmp_path,
            'package "p" version "1" lang "2.0"\nprompt "s" { content "x" }\n'
            'agent "a" { uses prompt "s" model "scripted" }\n'
            'binding "web" adapter "gateway" { agent "a" channel web }\n'
            'binding "all" adapter "gateway" { default agent "a" }\n'
            'binding "old" adapter "local-mcp" { port "8080" }\n',
        )
    )
    assert sorted(loaded.package.bindings) == ["all", "web"]
    assert loaded.package.bindings["web"].channel == "web"
    assert any('binding "old" ignored' in d.message for d in loaded.unsupported)


def test_quickstart_example_loads() -> None:
    project = agentspec.load(EXAMPLE)
    assert project.name == "quickstart"
    assert isinstance(project.package.skills["word_count"].tool, CommandTool)
    assert project.notes == []
