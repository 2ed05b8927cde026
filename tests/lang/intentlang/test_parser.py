"""The IntentLang parser (§3-§6): every resource kind, NEWLINE rules, error recovery."""

from __future__ import annotations

from agentspec.exceptions import Diagnostic
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.parser import parse

from .conftest import APPENDIX_A

HEADER = 'package "p" version "1.0.0" lang "2.0"\n'


def ok(body: str) -> ast.File:
    tree, errors = parse(HEADER + body, "f.ias")
    assert errors == [], [str(e) for e in errors]
    return tree


def errors_of(text: str) -> list[Diagnostic]:
    return parse(text, "f.ias")[1]


def one(body: str) -> ast.Statement:
    tree = ok(body)
    assert len(tree.statements) == 1
    return tree.statements[0]


def test_appendix_a_parses() -> None:
    tree, errors = parse(APPENDIX_A, "a.ias")
    assert errors == []
    assert tree.header is not None
    assert (tree.header.name, tree.header.version, tree.header.lang) == (
        "helpdesk",
        "0.3.0",
        "2.0",
    )
    kinds = [type(s).__name__ for s in tree.statements]
    assert kinds == [
        "TypeDef", "Prompt", "Secret", "Server", "Client", "Skill", "Skill", "Agent", "Agent",
        "Pipeline", "Environment", "Policy", "Deploy",
    ]  # fmt: skip
    desk = tree.statements[7]
    assert isinstance(desk, ast.Agent)
    assert desk.pos == ast.Pos("a.ias", 22, 1)
    assert desk.prompt == ast.Ref("desk-sys", ast.Pos("a.ias", 23, 15))
    assert desk.delegates[0].condition == "the user reports an outage"
    assert desk.temperature == 0.3 and desk.max_turns == 8


def test_prompt() -> None:
    node = one(
        'prompt "p" {\n content "Hi {{a}}"\n version "2"\n'
        ' variables {\n  a string required default "x"\n  b int\n }\n metadata { k v }\n}'
    )
    assert isinstance(node, ast.Prompt)
    assert node.content == "Hi {{a}}" and node.version == "2"
    assert [(v.name, v.type, v.required, v.default) for v in node.variables] == [
        ("a", "string", True, "x"),
        ("b", "int", False, None),
    ]
    assert node.metadata == {"k": "v"}


def test_skill_tools() -> None:
    tree = ok(
        'skill "a" { description "d" input { q string required } output { r string }\n'
        '  tool http { method "post" url "https://x/{{q}}" headers { A "b" } body_template "{}"'
        ' timeout "3s" } }\n'
        'skill "b" { tool inline { language "python" code "print(1)" memory "64Mi" } }\n'
        'skill "c" { tool command { binary "ls" args "-l" env { X "1" } secrets { T tok } } }\n'
        'skill "d" { execution command "run.sh" }\n'
    )
    a, b, c, d = tree.statements
    assert isinstance(a, ast.Skill) and a.tool is not None
    assert a.tool.kind == "http" and a.tool.attrs["method"] == "post"
    assert a.tool.maps["headers"] == {"A": "b"}
    assert a.input is not None and a.input[0].required
    assert isinstance(b, ast.Skill) and b.tool is not None and b.tool.attrs["memory"] == "64Mi"
    assert isinstance(c, ast.Skill) and c.tool is not None
    assert c.tool.args == ["-l"] and c.tool.maps == {"env": {"X": "1"}, "secrets": {"T": "tok"}}
    assert isinstance(d, ast.Skill) and d.execution is not None
    assert (d.execution.kind, d.execution.value) == ("command", "run.sh")


def test_agent_everything() -> None:
    node = one(
        'agent "a" { uses prompt "p" uses skill "s1" uses skill "s2" model "openai/gpt-4o"\n'
        ' strategy "plan-and-execute" max_turns 3 timeout "30s" token_budget 100\n'
        ' temperature 0 stream false on_error "retry" max_retries 4 fallback "b"\n'
        ' memory { strategy "summary" max_messages 7 }\n'
        ' delegate "c"\n delegate to agent "d" when "x"\n metadata { team ops }\n}'
    )
    assert isinstance(node, ast.Agent)
    assert [r.name for r in node.skills] == ["s1", "s2"]
    assert node.temperature == 0.0 and node.stream is False
    assert node.memory == {"strategy": "summary", "max_messages": 7}
    assert [(d.agent.name, d.condition) for d in node.delegates] == [("c", ""), ("d", "x")]


def test_agent_ext() -> None:
    node = one(
        'agent "a" {\n prompt p\n models ["m1", "m2"]\n budget daily 5.5\n loop "react"\n'
        ' uses guardrail "g"\n'
        ' config {\n  api_url string required\n    "The URL"\n  token string secret\n }\n'
        ' validate {\n  rule short error max_retries 2 "too short" when len ( output ) > 10\n }\n'
        ' eval {\n  case c1 input "hi" expect "hello" scoring exact threshold 0.5 tags ["t"]\n }\n'
        " on input {\n  use skill s1 with { q: input.text, n: 3 }\n"
        '  if x == 1 { respond "one" } else if x == 2 { delegate to b } else { respond "n" }\n'
        "  for each item in items { use s2 }\n }\n}"
    )
    assert isinstance(node, ast.Agent)
    assert node.prompt is not None and node.prompt.name == "p"
    assert node.models == ["m1", "m2"] and node.budget_daily == 5.5
    assert node.strategy == "react"
    assert node.config is not None
    assert [(p.name, p.required, p.secret, p.description) for p in node.config] == [
        ("api_url", True, False, "The URL"),
        ("token", False, True, ""),
    ]
    assert node.rules is not None and node.rules[0].when == "len ( output ) > 10"
    assert node.rules[0].message == "too short" and node.rules[0].max_retries == 2
    assert node.evals is not None
    case = node.evals[0]
    assert (case.input, case.expect, case.scoring, case.threshold, case.tags) == (
        "hi",
        "hello",
        "exact",
        0.5,
        ["t"],
    )
    assert node.on_input is not None
    use, branch, loop = node.on_input
    assert use.params == {"q": "input.text", "n": "3"}
    assert branch.expr == "x == 1" and branch.branches[0][0] == "x == 2"
    assert branch.orelse is not None and branch.orelse[0].expr == '"n"'
    assert (loop.target, loop.expr, loop.body[0].target) == ("item", "items", "s2")


def test_other_resources() -> None:
    tree = ok(
        'server "s" { transport stdio command "srv" args ["-x"] env { A "1" } }\n'
        'client "c" { connects "s" connects to server "t" }\n'
        'secret "k1" { env KEY }\nsecret "k2" { store("prod/db/pw") }\n'
        'environment "e" { agent "a" { temperature "0.3" model "m" } }\n'
        'policy "p" { deny model "gpt-3.5-turbo"\n allow skill x }\n'
        'plugin "pl" version "1"\nimport "./other.ias" version "2" as o\n'
        'deploy "d" target "kubernetes" { port 80 replicas 2 resources { cpu "1" memory "1Gi" }\n'
        ' health { path "/h" } autoscale { min 1 max 3 metric "cpu" target 70 } env { A "b" } }\n'
        'pipeline "pl" { step "a" { agent "x" parallel true when "y" depends_on ["b"] } }\n'
        'type "t" { f string required default "x" }\ntype "l" list string\n'
        'binding "b" adapter "local-mcp" { default agent "x" channel web }\n'
        'user "u" { key secret("K") agents ["a"] role "admin" }\n'
        'guardrail "g" { mode "block" keywords ["x"] patterns "y" fallback "no" }\n'
        'state { type "local" path "/tmp/x" }\n'
    )
    s, c, k1, k2, e, p, pl, im, d, pipe, t, lst, b, u, g, st = tree.statements
    assert isinstance(s, ast.Server) and s.transport == "stdio" and s.env == {"A": "1"}
    assert isinstance(c, ast.Client) and [r.name for r in c.servers] == ["s", "t"]
    assert isinstance(k1, ast.Secret) and (k1.source, k1.key) == ("env", "KEY")
    assert isinstance(k2, ast.Secret) and (k2.source, k2.key) == ("store", "prod/db/pw")
    assert isinstance(e, ast.Environment)
    assert [(o.kind, o.target, o.attribute, o.value) for o in e.overrides] == [
        ("agent", "a", "temperature", "0.3"),
        ("agent", "a", "model", "m"),
    ]
    assert isinstance(p, ast.Policy)
    assert [(r.action, r.resource, r.subject) for r in p.rules] == [
        ("deny", "model", "gpt-3.5-turbo"),
        ("allow", "skill", "x"),
    ]
    assert isinstance(pl, ast.Plugin) and pl.version == "1"
    assert isinstance(im, ast.Import) and (im.name, im.version, im.alias) == (
        "./other.ias",
        "2",
        "o",
    )
    assert isinstance(d, ast.Deploy) and d.target == "kubernetes"
    assert d.config["autoscale"] == {"min": 1, "max": 3, "metric": "cpu", "target": 70}
    assert isinstance(pipe, ast.Pipeline) and pipe.steps[0].parallel
    assert isinstance(t, ast.TypeDef) and t.fields[0].default == "x"
    assert isinstance(lst, ast.TypeDef) and lst.list_of == "string"
    assert isinstance(b, ast.Binding) and b.default and b.config == {"agent": "x", "channel": "web"}
    assert isinstance(u, ast.User) and u.key == "K" and u.role == "admin"
    assert isinstance(g, ast.Guardrail) and g.patterns == ["y"]
    assert isinstance(st, ast.State) and st.properties == {"path": "/tmp/x"}


# ---------------------------------------------------------------------- NEWLINE rules (§3.1)


def test_header_is_one_line() -> None:
    errors = errors_of('package "p"\nversion "1"')
    assert [(e.line, e.column, e.message) for e in errors][0] == (2, 1, "unexpected token version")


def test_items_may_share_a_line_and_braces_may_follow_newlines() -> None:
    node = one('agent "a"\n{\n uses prompt "p" model "m"\n memory\n { max_messages 3 } }')
    assert isinstance(node, ast.Agent) and node.model == "m" and node.memory == {"max_messages": 3}


def test_bracket_list_cannot_span_lines() -> None:
    errors = errors_of(HEADER + 'skill "s" { tool command { args ["-v",\n "x"] } }')
    assert errors[0].message == "expected string for list item, got Newline"
    assert errors[0].line == 2


def test_map_brace_must_be_on_the_keyword_line() -> None:
    node = one('prompt "p" { metadata\n content "x" }')
    assert isinstance(node, ast.Prompt) and node.metadata == {} and node.content == "x"


def test_policy_rule_ends_at_newline() -> None:
    node = one('policy "p" {\n deny model a\n require secret b }')
    assert isinstance(node, ast.Policy) and len(node.rules) == 2


def test_variable_modifiers_end_at_newline() -> None:
    node = one('prompt "p" { variables {\n a string\n required string\n } }')
    assert isinstance(node, ast.Prompt)
    assert [(v.name, v.required) for v in node.variables] == [("a", False), ("required", False)]


# ---------------------------------------------------------------------- errors (§6)


def test_missing_package() -> None:
    errors = errors_of('agent "a" {}')
    assert errors[0].message == "expected 'package' declaration at start of file"


def test_lang_1_rejected_with_migrate_hint() -> None:
    text = 'package "p" version "1" lang "1.0"  # c\n'
    errors = errors_of(text)
    assert errors[0].message == "IntentLang 1.0 is no longer supported"
    assert "migrate --to-v2" in errors[0].hint
    assert (errors[0].line, errors[0].column) == (1, len(text))


def test_recovery_collects_several_errors() -> None:
    errors = errors_of(
        HEADER + 'agent "a" {\n  bogus 1\n  model gpt4\n  max_turns "x"\n}\nwidget\n'
        'skill "s" { tool ftp }\n'
    )
    messages = [(e.line, e.message) for e in errors]
    assert (3, "unexpected token Ident in agent block") in messages
    assert (4, "expected string for model, got Ident") in messages
    assert (5, "expected number for max_turns, got String") in messages
    assert (7, "unexpected token Ident") in messages
    assert (8, "expected tool type (mcp, http, command, inline), got Ident") in messages
    assert len(errors) >= 5


def test_invalid_numbers() -> None:
    errors = errors_of(HEADER + 'agent "a" { max_turns 1.5 temperature 1.2.3 }')
    assert [e.message for e in errors] == [
        'invalid integer for max_turns: "1.5"',
        'invalid float for temperature: "1.2.3"',
    ]


def test_lexer_error_is_one_diagnostic_at_real_position() -> None:
    errors = errors_of(HEADER + 'agent "a" { model "m" ; }')
    assert [(e.line, e.column, e.message) for e in errors] == [(2, 23, "unexpected character ';'")]


def test_unclosed_block() -> None:
    errors = errors_of(HEADER + 'agent "a" {\n model "m"\n')
    assert errors[-1].message == "expected }, got EOF"


def test_deploy_without_target_keyword() -> None:
    errors = errors_of(HEADER + 'deploy "d" { port 1 }')
    assert errors[0].message == "expected 'target' keyword in deploy block"


def test_uses_needs_a_kind() -> None:
    errors = errors_of(HEADER + 'agent "a" { uses "p" }')
    assert errors[0].message == "expected 'prompt', 'skill', or 'guardrail' after 'uses'"
