"""Structural (§7) and semantic (§8) validation, with positions and suggestions."""

from __future__ import annotations

import pytest

from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import find_cycle, validate

from .conftest import APPENDIX_A

HEADER = 'package "p" version "1.0.0" lang "2.0"\n'
BASE = (
    'prompt "sys" { content "hi" }\n'
    'skill "lookup" { description "d" input { q string } output { r string } tool command'
    ' { binary "x" } }\n'
)


def problems(body: str, header: str = HEADER) -> list[tuple[int, int, str, str]]:
    tree, errors = parse(header + body, "f.ias")
    assert errors == [], [str(e) for e in errors]
    return [(d.line, d.column, d.message, d.hint) for d in validate(tree)]


def messages(body: str) -> list[str]:
    return [m for _, _, m, _ in problems(body)]


def test_appendix_a_is_valid() -> None:
    tree, errors = parse(APPENDIX_A, "a.ias")
    assert errors == [] and validate(tree) == []


def test_header_checks() -> None:
    assert problems("", 'package "" \n')[:3] == [
        (1, 1, "package name is required", ""),
        (1, 1, "package version is required", 'add version "x.y.z"'),
        (1, 1, "lang version is required", 'add lang "2.0"'),
    ]


def test_missing_header() -> None:
    tree, _ = parse('agent "a" {}', "f.ias")
    [problem] = validate(tree)
    assert (problem.line, problem.column, problem.message) == (1, 1, "missing package declaration")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('agent "a" { model "m" }', 'agent "a" requires a prompt reference'),
        ('agent "a" { uses prompt "sys" }', 'agent "a" requires a model or models list'),
        (
            'agent "a" { uses prompt "sys" model "m" models ["x"] }',
            "agent \"a\" has both 'model' and 'models' — use one or the other",
        ),
        (
            'agent "a" { uses prompt "sys" model "m" budget daily -1 }',
            'agent "a" has negative daily budget',
        ),
        (
            'agent "a" { uses prompt "sys" model "m" on_error "explode" }',
            'agent "a" has invalid on_error "explode"',
        ),
        (
            'agent "a" { uses prompt "sys" model "m" on_error "fallback" }',
            'agent "a" uses on_error "fallback" but no fallback agent specified',
        ),
        (
            'agent "a" { uses prompt "sys" model "m" temperature 2.5 }',
            'agent "a" has temperature 2.5 out of range [0, 2]',
        ),
        ('prompt "q" { version "1" }', 'prompt "q" requires content'),
        ('skill "s" { }', 'skill "s" requires a description'),
        ('server "s" { }', 'server "s" requires a transport'),
        ('server "s" { transport "stdio" }', 'server "s" with stdio transport requires a command'),
        ('server "s" { transport "sse" }', 'server "s" with sse transport requires a url'),
        ('client "c" { }', 'client "c" requires at least one server connection'),
        ('secret "k" { }', 'secret "k" requires a source (env or store)'),
        ('binding "b" { }', 'binding "b" requires an adapter'),
        ('deploy "d" target "cloud" { }', 'deploy "d" has invalid target type "cloud"'),
        ('type "t" enum []', 'type "t" must have fields, enum values, or list type'),
        ('pipeline "p" { }', 'pipeline "p" requires at least one step'),
        ('user "u" { role "root" }', 'user "u" requires a key reference'),
        (
            'guardrail "g" { mode "block" }',
            'guardrail "g" requires at least one keyword or pattern',
        ),
        ('import ""', "import path is required"),
    ],
)
def test_structural_messages(body: str, message: str) -> None:
    assert message in messages(BASE + body)


def test_skill_structure_all_at_keyword() -> None:
    found = problems('skill "s" { tool mcp "x" execution command "y" }')
    assert [(line, col) for line, col, _, _ in found] == [(2, 1)] * 4
    assert [m for _, _, m, _ in found] == [
        'skill "s" requires a description',
        'skill "s" requires an input schema',
        'skill "s" requires an output schema',
        'skill "s" has both execution and tool blocks',
    ]


def test_strategy_with_suggestion_at_value() -> None:
    [found] = problems(BASE + 'agent "a" { uses prompt "sys" model "m" strategy "plan-execute" }')
    assert found == (
        4,
        50,
        'agent "a" has invalid strategy "plan-execute"',
        'did you mean "plan-and-execute"?',
    )


def test_ext_agent_blocks() -> None:
    found = messages(
        BASE + 'agent "a" { uses prompt "sys" model "m"\n'
        " config { x blob\n y string secret default 1 }\n"
        " validate { rule r fatal max_retries -1 }\n"
        " eval { case c scoring regex threshold 2 }\n on input { respond\n use nope }\n}"
    )
    assert found == [
        'config param "x" has invalid type "blob"',
        'config param "y" is marked secret and cannot have a default value',
        'validation rule "r" has invalid severity "fatal"',
        'validation rule "r" has negative max_retries',
        "validation rule \"r\" requires a 'when' expression",
        'eval case "c" requires an input',
        'eval case "c" requires an expected output',
        'eval case "c" has invalid scoring method "regex"',
        'eval case "c" has threshold 2 out of range [0, 1]',
        "respond requires an expression",
        'skill "nope" not found',
    ]


def test_references_with_positions_and_suggestions() -> None:
    found = problems(
        BASE + 'agent "a" {\n uses prompt "sis"\n uses skill "lookpu"\n model "m"\n'
        ' fallback "zz"\n delegate to "b"\n}\nagent "b" { uses prompt "sys" model "m" }\n'
    )
    assert found == [
        (5, 14, 'prompt "sis" not found', 'did you mean "sys"?'),
        (6, 13, 'skill "lookpu" not found', 'did you mean "lookup"?'),
        (8, 11, 'fallback agent "zz" not found', "available: b"),
    ]


def test_fallback_to_self() -> None:
    assert 'agent "a" cannot fallback to itself' in messages(
        BASE + 'agent "a" { uses prompt "sys" model "m" fallback "a" }'
    )


def test_server_client_tool_references() -> None:
    found = messages(
        'server "kb" { transport "stdio" command "x" auth "tok" exposes "nope" }\n'
        'client "c" { connects to server "kv" }\n'
        'skill "s" { description "d" input { a string } output { b string } tool mcp "kv/t" }\n'
    )
    assert found == [
        'skill "nope" not found',
        'secret "tok" not found',
        'server "kv" not found',
        'MCP server "kv" not found in tool reference "kv/t"',
    ]


def test_undeclared_prompt_variable() -> None:
    [found] = problems('prompt "q" { content "{{a}} {{b}}" variables { a string } }')
    assert found[:3] == (2, 1, 'prompt "q" references undeclared variable {{b}}')


def test_duplicates() -> None:
    found = problems('prompt "q" { content "x" }\nprompt "q" { content "y" }\nagent "q" {}\n')
    assert found[0][:3] == (3, 8, 'duplicate Prompt name "q"')
    assert "first declared at f.ias:2:8" in found[0][3]


def test_pipeline_steps_and_cycle() -> None:
    found = problems(
        BASE + 'agent "a" { uses prompt "sys" model "m" }\n'
        'pipeline "p" {\n step "x" { agent "a" depends_on ["y"] }\n'
        ' step "y" { agent "a" depends_on ["z"] }\n step "z" { agent "b" depends_on ["x", "z", "w"] }\n'
        ' step "z" { }\n}'
    )
    assert found == [
        (8, 19, 'step "z" references unknown agent "b"', "available: a"),
        (9, 7, 'duplicate step name "z" in pipeline "p"', ""),
        (9, 7, 'step "z" requires an agent', "add 'agent \"agent-name\"'"),
        (8, 7, 'step "z" cannot depend on itself', ""),
        (8, 7, 'step "z" depends_on unknown step "w"', "available: x, y"),
        (5, 1, 'pipeline "p" has a dependency cycle: x -> y -> z -> x', found[-1][3]),
    ]


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


def test_environment_override_targets() -> None:
    found = problems(
        BASE + 'environment "prod" {\n agent "desk" { model "x" }\n prompt "sys" { content "a"'
        ' content "b" }\n widget "w" { a "b" }\n}'
    )
    assert [(line, message) for line, _, message, _ in found] == [
        (5, 'environment "prod": override target "agent/desk" not found'),
        (6, 'conflicting override in environment "prod": prompt/sys.content set multiple times'),
        (7, 'environment "prod": override target "widget/w" not found'),
    ]


def test_multiple_defaults() -> None:
    found = messages(
        'deploy "a" target "process" { default true }\ndeploy "b" target "docker" { default true }'
    )
    assert found == ["multiple deploy targets marked as default"]


def test_guardrail_and_user_rules() -> None:
    found = messages(
        BASE + 'guardrail "g" { mode "shout" }\nuser "u" { key "K" role "root" agents ["x"] }'
    )
    assert found == [
        'guardrail "g" has invalid mode "shout"',
        'guardrail "g" requires at least one keyword or pattern',
        'user "u" has invalid role "root"',
        'user "u" references unknown agent "x"',
    ]
