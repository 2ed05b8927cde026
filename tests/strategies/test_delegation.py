"""Delegation: handoff tools, the handoff event, the delegate's prompt/model/tools, sessions,
depth limit, and cycle errors at validation time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentspec import tool
from agentspec.engine.delegation import tool_name
from agentspec.exceptions import SpecError
from agentspec.ir import Agent, ModelConfig, Package, Prompt, PythonTool, Skill
from agentspec.lang.yaml_spec import load_yaml_project
from tests.engine.helpers import runtime
from tests.strategies.helpers import check_log, data_of


@tool
async def refund(invoice: str) -> str:
    """Refund an invoice."""
    return f"refunded {invoice}"


TRIAGE = [
    {
        "when": {"last": "user", "contains": "invoice"},
        "tool_calls": [{"name": "transfer_to_billing", "arguments": {"reason": "invoices"}}],
    },
    {"when": {"last": "user"}, "text": "triage here"},
]
BILLING = [
    {"when": {"last": "tool", "tool": "refund"}, "text": "Done: {{tool.refund}}"},
    {
        "when": {"last": "tool", "tool": "transfer_to_billing", "regex": r"(INV-\d+)"},
        "tool_calls": [{"name": "refund", "arguments": {"invoice": "{{1}}"}}],
    },
    {"when": {"last": "user"}, "text": "billing here"},
]


def _package(agents: dict[str, dict[str, Any]]) -> Package:
    built = {}
    for name, spec in agents.items():
        spec = dict(spec)
        script = tuple(spec.pop("script"))
        model = ModelConfig(provider="scripted", name=name, script=script)
        built[name] = Agent(name=name, prompt=name, model=model, **spec)
    return Package(
        name="desk",
        prompts={n: Prompt(name=n, content=f"You are {n}.") for n in agents},
        skills={
            "refund": Skill(
                name="refund",
                description=refund.description,
                input_schema=refund.parameters,
                tool=PythonTool(function="tests:refund"),
            )
        },
        agents=built,
    )


def _desk(**triage: Any) -> Package:
    return _package(
        {
            "triage": {
                "script": TRIAGE,
                "delegates": [{"agent": "billing", "condition": "the user asks about invoices"}],
                **triage,
            },
            "billing": {"script": BILLING, "skills": ["refund"]},
        }
    )


async def test_handoff_continues_with_the_delegates_prompt_model_and_tools() -> None:
    captured: list[tuple[str, list[str]]] = []
    async with runtime(_desk(), tools=[refund]) as rt:
        rt.add_listener(lambda e: None)
        result = await rt.run("triage", "please refund invoice INV-7")
        events = await rt.get_events(result.run_id)
    for event in events:
        if event.type == "model.request":
            captured.append((event.data["model"], event.data["tools"]))
    assert result.output == "Done: refunded INV-7"
    assert captured == [
        ("scripted:triage", ["transfer_to_billing"]),
        ("scripted:billing", ["refund"]),
        ("scripted:billing", ["refund"]),
    ]
    (handoff,) = data_of(events, "handoff")
    assert handoff["from"] == "triage" and handoff["to"] == "billing"
    assert handoff["reason"] == "invoices" and handoff["depth"] == 1
    types = [e.type for e in events if e.type != "model.text"]
    # the transfer call is answered, then the handoff is recorded before the delegate runs
    at = types.index("handoff")
    assert types[at - 2 : at + 2] == ["tool.call", "tool.result", "handoff", "model.request"]
    assert [c.tool_name for c in result.tool_calls] == ["transfer_to_billing", "refund"]
    turns = [e.data["turn"] for e in events if e.type == "model.request"]
    assert turns == [1, 2, 3]
    check_log(events, result)


async def test_no_handoff_when_the_model_answers_itself() -> None:
    async with runtime(_desk(), tools=[refund]) as rt:
        result = await rt.run("triage", "hello")
        events = await rt.get_events(result.run_id)
    assert result.output == "triage here"
    assert not data_of(events, "handoff")
    check_log(events, result)


async def test_session_continues_with_the_delegate() -> None:
    async with runtime(_desk(), tools=[refund]) as rt:
        session = await rt.create_session("triage")
        first = await rt.run("triage", "refund invoice INV-1", session_id=session.id)
        second = await rt.run("triage", "thanks!", session_id=session.id)
        events = await rt.get_events(second.run_id)
        stored = await rt.get_session(session.id)
    assert first.output == "Done: refunded INV-1"
    assert second.output == "billing here"
    (restored,) = data_of(events, "handoff")
    assert restored["restored"] is True and restored["to"] == "billing"
    assert restored["chain"] == ["triage", "billing"]
    requests = [e.data["model"] for e in events if e.type == "model.request"]
    assert requests == ["scripted:billing"]
    # the session still belongs to its entry agent; clients keep addressing it
    assert stored is not None and stored.agent == "triage"
    check_log(events, second)


async def test_depth_limit_stops_offering_handoffs() -> None:
    relay = [
        {
            "when": {"last": "user"},
            "tool_calls": [{"name": "transfer_to_b", "arguments": {"reason": "go"}}],
        }
    ]
    b_script = [
        {
            "when": {"last": "tool", "tool": "transfer_to_b"},
            "tool_calls": [{"name": "transfer_to_c"}],
        },
        {"when": {"last": "tool"}, "text": "b answered: {{tool_result}}"},
    ]
    pkg = _package(
        {
            "a": {
                "script": relay,
                "delegates": [{"agent": "b"}],
                "strategy_options": {"max_delegation_depth": 1},
            },
            "b": {"script": b_script, "delegates": [{"agent": "c"}]},
            "c": {"script": [{"text": "c here"}]},
        }
    )
    async with runtime(pkg) as rt:
        result = await rt.run("a", "hi")
        events = await rt.get_events(result.run_id)
    assert [d["to"] for d in data_of(events, "handoff")] == ["b"]
    tools = [e.data["tools"] for e in events if e.type == "model.request"]
    assert tools == [["transfer_to_b"], [], []]
    assert result.output.startswith("b answered: error: unknown tool 'transfer_to_c'")
    check_log(events, result)


def test_tool_names_are_provider_safe() -> None:
    assert tool_name("billing.desk v2") == "transfer_to_billing_desk_v2"


YAML_CYCLE = """\
package: loop
models:
  m: {provider: scripted}
agents:
  a:
    model: m
    instructions: A
    delegates: [b]
  b:
    model: m
    instructions: B
    delegates:
      - {agent: c, condition: always}
  c:
    model: m
    instructions: C
    delegates: [a]
"""


def test_delegation_cycle_is_a_validation_error_naming_the_path(tmp_path: Path) -> None:
    spec = tmp_path / "agentspec.yaml"
    spec.write_text(YAML_CYCLE)
    with pytest.raises(SpecError) as info:
        load_yaml_project(tmp_path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message.endswith("delegation cycle: a -> b -> c -> a")
    assert (diagnostic.line, diagnostic.column) == (17, 17)  # the "a" in c.delegates
    assert "remove one of these delegates" in diagnostic.hint


def test_self_delegation_is_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "agentspec.yaml").write_text(
        "package: p\nagents:\n  a:\n    model: scripted\n    instructions: A\n    delegates: [a]\n"
    )
    with pytest.raises(SpecError, match=r"delegation cycle: a -> a"):
        load_yaml_project(tmp_path)


async def test_delegate_with_another_strategy_answers_with_it() -> None:
    pkg = _package(
        {
            "triage": {
                "script": TRIAGE,
                "delegates": [{"agent": "billing"}],
            },
            "billing": {
                "script": [{"text": "draft reply"}, {"text": "APPROVE"}],
                "strategy": "reflexion",
            },
        }
    )
    async with runtime(pkg) as rt:
        session = await rt.create_session("triage")
        result = await rt.run("triage", "about my invoice", session_id=session.id)
        events = await rt.get_events(result.run_id)
        history = await rt.session_messages(session.id)
    assert result.output == "draft reply"
    assert [d["to"] for d in data_of(events, "handoff")] == ["billing"]
    assert [d["verdict"] for d in data_of(events, "critique.round")] == ["approve"]
    # the session keeps the conversation and the final answer, not the critic's exchange
    assert [(m.role, m.content) for m in history][-1] == ("assistant", "draft reply")
    assert not any("Answer to review" in m.content for m in history)
    check_log(events, result)


async def test_handoff_to_a_router_routes_the_conversation() -> None:
    entry = [
        {
            "when": {"last": "user"},
            "tool_calls": [{"name": "transfer_to_desk", "arguments": {"reason": "routing"}}],
        }
    ]
    pkg = _package(
        {
            "front": {"script": entry, "delegates": [{"agent": "desk"}]},
            "desk": {
                "script": [{"text": "billing", "expect": {"contains": "Choose the one agent"}}],
                "strategy": "router",
                "delegates": [{"agent": "billing"}],
            },
            "billing": {"script": [{"text": "billing: {{input}}"}]},
        }
    )
    async with runtime(pkg) as rt:
        result = await rt.run("front", "my invoice")
        events = await rt.get_events(result.run_id)
    assert result.output == "billing: my invoice"
    requests = [e.data for e in events if e.type == "model.request"]
    # the router classifies the text of the conversation, without the transfer's tool traffic
    assert requests[1]["messages"] == 1 and requests[1]["tools"] == []
    assert [d["to"] for d in data_of(events, "handoff")] == ["desk"]
    assert data_of(events, "route.chosen")[0]["agent"] == "billing"
    check_log(events, result)
