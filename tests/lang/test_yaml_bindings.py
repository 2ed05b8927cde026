"""The ``bindings:`` section: routes from channels, accounts and peers to agents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import agentspec
from agentspec.engine.routing import resolve
from agentspec.ir import Agent, Binding, ModelConfig, Package, Prompt, check_package, ir_hash
from tests.conftest import EXAMPLES
from tests.lang.test_yaml import ADD_PY, DOCS, load, problem, problems

QUICKSTART_HASH = "sha256:d60252e0c2495ae973af6c85bf36cf3cb43b7befd5c140bdfcdbf2939763c670"
"""The quickstart's hash before bindings existed (without its bindings section, which was added
later): packages without bindings keep their hash."""

AGENTS = """\
package: routed
agents:
  helper: {model: scripted, instructions: You help.}
  vip: {model: scripted, instructions: You help VIPs.}
"""


def test_bindings_load_into_the_ir(tmp_path: Path) -> None:
    text = (
        AGENTS
        + """\
bindings:
  fallback: {agent: helper, default: true}
  alice:
    agent: vip
    channel: telegram
    account: bot-1
    peer: alice
  eng: {agent: vip, channel: discord, guild: eng, team: core}
"""
    )
    bindings = load(tmp_path, agentspec_yaml=text).package.bindings
    assert bindings == {
        "fallback": Binding(name="fallback", agent="helper", default=True),
        "alice": Binding(
            name="alice", agent="vip", channel="telegram", account="bot-1", peer="alice"
        ),
        "eng": Binding(name="eng", agent="vip", channel="discord", guild="eng", team="core"),
    }


def test_numbers_keep_their_text(tmp_path: Path) -> None:
    text = (
        AGENTS + "bindings:\n  tg: {agent: vip, channel: telegram, peer: 0012345, account: 1.10}\n"
    )
    binding = load(tmp_path, agentspec_yaml=text).package.bindings["tg"]
    assert (binding.peer, binding.account) == ("0012345", "1.10")


def test_bindings_in_another_file(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        agentspec_yaml=AGENTS,
        routes_yaml="bindings:\n  fallback: {agent: helper, default: true}\n",
    )
    assert set(project.package.bindings) == {"fallback"}


def test_an_empty_section_is_allowed(tmp_path: Path) -> None:
    assert load(tmp_path, agentspec_yaml=AGENTS + "bindings:\n").package.bindings == {}


def test_unknown_agent_with_suggestion(tmp_path: Path) -> None:
    text = AGENTS + "bindings:\n  tg: {agent: helpr, channel: telegram}\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:6:15: bindings.tg.agent: agent "helpr" not found (did you mean "helper"?)'
    )


def test_a_binding_to_a_broken_agent_is_not_reported_again(tmp_path: Path) -> None:
    text = AGENTS + "  bad: {model: scripted, instructions: x, max_turns: 0}\n"
    text += "bindings:\n  tg: {agent: bad, channel: telegram}\n"
    assert problem(tmp_path, text) == (
        "agentspec.yaml:5:54: agents.bad.max_turns: must be > 0 (got 0)"
    )


def test_only_one_default(tmp_path: Path) -> None:
    text = AGENTS + (
        "bindings:\n  first: {agent: helper, default: true}\n  second: {agent: vip, default: true}\n"
    )
    assert problem(tmp_path, text) == (
        "agentspec.yaml:7:33: bindings.second.default: multiple bindings marked as default"
        ' (only one binding may be the default; "first" already is)'
    )


def test_a_default_false_binding_needs_a_match_field(tmp_path: Path) -> None:
    text = AGENTS + "bindings:\n  route:\n    agent: vip\n    default: false\n"
    assert problem(tmp_path, text) == (
        "agentspec.yaml:6:3: bindings.route: a binding must match on at least one of peer,"
        " guild, team, account, channel (or set default: true to route every message nothing"
        " else matches)"
    )


def test_unknown_field_is_reported_alone(tmp_path: Path) -> None:
    text = AGENTS + "bindings:\n  tg: {agent: vip, chanel: telegram}\n"
    assert problem(tmp_path, text) == (
        'agentspec.yaml:6:20: bindings.tg.chanel: unknown field "chanel" (did you mean "channel"?)'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{agent: vip, peer: ""}', "bindings.tg.peer: must not be empty"),
        ("{agent: vip, peer: [a]}", "bindings.tg.peer: must be a string (got a list)"),
        (
            "{agent: vip, default: maybe}",
            'bindings.tg.default: must be true or false (got "maybe")',
        ),
        ("{agent: Not a name, peer: x}", 'bindings.tg.agent: invalid name "Not a name"'),
    ],
)
def test_wrong_values(tmp_path: Path, value: str, message: str) -> None:
    found = problem(tmp_path, AGENTS + f"bindings:\n  tg: {value}\n")
    assert found.split(": ", 1)[1].startswith(message), found


def test_missing_agent(tmp_path: Path) -> None:
    text = AGENTS + "bindings:\n  tg: {channel: telegram}\n"
    assert (
        problem(tmp_path, text) == 'agentspec.yaml:6:3: bindings.tg: missing required field "agent"'
    )


def test_a_binding_must_be_a_mapping(tmp_path: Path) -> None:
    text = AGENTS + "bindings:\n  tg: vip\n"
    assert (
        problem(tmp_path, text)
        == "agentspec.yaml:6:7: bindings.tg: must be a mapping, got a string"
    )


def test_the_section_must_be_a_mapping(tmp_path: Path) -> None:
    text = AGENTS + "bindings: [a]\n"
    assert problem(tmp_path, text) == (
        "agentspec.yaml:5:1: bindings: must be a mapping of name to binding, got a list"
    )


def test_invalid_and_duplicate_binding_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        agentspec_yaml=AGENTS + "bindings:\n  bad name: {agent: vip, peer: x}\n",
        more_yaml="bindings:\n  bad name: {agent: vip, peer: y}\n",
    )
    assert found[0].startswith('agentspec.yaml:6:3: bindings.bad name: invalid name "bad name"')
    assert found[1].startswith('more.yaml:2:3: bindings.bad name: duplicate binding "bad name"')


def test_check_package_on_the_ir() -> None:
    agent = Agent(name="a", prompt="p", model=ModelConfig(provider="scripted"))
    package = Package(
        name="x",
        prompts={"p": Prompt(name="p", content="hi")},
        agents={"a": agent},
        bindings={
            "d1": Binding(name="d1", agent="a", default=True),
            "d2": Binding(name="d2", agent="b", default=True),
            "none": Binding(name="none", agent="a"),
        },
    )
    found = [(p.path, p.message) for p in check_package(package)]
    assert found == [
        (("bindings", "d2", "agent"), 'agent "b" not found'),
        (("bindings", "d2", "default"), "multiple bindings marked as default"),
        (
            ("bindings", "none"),
            "a binding must match on at least one of peer, guild, team, account, channel",
        ),
    ]


def test_packages_without_bindings_keep_their_hash(tmp_path: Path) -> None:
    quickstart = agentspec.load(EXAMPLES / "quickstart").package
    assert ir_hash(quickstart.model_copy(update={"bindings": {}})) == QUICKSTART_HASH
    plain = load(tmp_path / "plain", agentspec_yaml=AGENTS).package
    empty = load(tmp_path / "empty", agentspec_yaml=AGENTS + "bindings: {}\n").package
    routed = load(
        tmp_path / "routed",
        agentspec_yaml=AGENTS + "bindings:\n  d: {agent: helper, default: true}\n",
    ).package
    assert ir_hash(plain) == ir_hash(empty) != ir_hash(routed)
    assert "bindings" not in plain.model_dump(exclude_defaults=True)


def test_the_docs_example_declares_bindings(tmp_path: Path) -> None:
    text = DOCS.read_text()
    block = re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    package = load(tmp_path, agentspec_yaml=block.group(1), tools_py=ADD_PY).package
    assert resolve(package.bindings, "slack", "acme", "U024BE7LH").name == "ceo"
    assert resolve(package.bindings, "slack", "acme", "U1", team="finance").name == "billing-desk"
    assert resolve(package.bindings, "email", "support").name == "everyone"
