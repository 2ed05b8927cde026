"""Strategies from the front-ends: YAML options, bad options with positions, IntentLang
delegation, and the examples/strategies project run by the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.ir.canonical import ir_hash
from agentspec.ir.models import Agent, ModelConfig
from agentspec.lang.project import load
from agentspec.lang.yaml_spec import load_yaml_project
from tests.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "strategies"


def _write(tmp_path: Path, text: str, name: str = "agentspec.yaml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_example_loads_with_options_and_delegates() -> None:
    package = load_yaml_project(EXAMPLE).package
    assert package.agents["planner"].strategy == "plan-execute"
    assert package.agents["planner"].strategy_options.max_replans == 1
    assert package.agents["digest"].strategy_options.chunk_size == 30
    assert [d.agent for d in package.agents["desk"].delegates] == ["billing", "helpdesk"]


def test_default_options_keep_the_ir_hash() -> None:
    model = ModelConfig(provider="scripted")
    plain = Agent(name="a", prompt="p", model=model)
    explicit = Agent(name="a", prompt="p", model=model, strategy_options={"max_rounds": 3})
    assert ir_hash(plain) == ir_hash(explicit)
    assert "strategy_options" not in plain.model_dump(exclude_defaults=True)


BAD_OPTIONS = """\
package: p
agents:
  w:
    model: scripted
    instructions: W
    strategy: reflexion
    strategy_options:
      max_round: 2
      critic: reviewr
  r:
    model: scripted
    instructions: R
    strategy: router
  reviewer:
    model: scripted
    instructions: Review.
"""


def test_bad_strategy_options_are_located(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml_project(_write(tmp_path, BAD_OPTIONS))
    found = {(d.line, d.column): (d.message, d.hint) for d in info.value.diagnostics}
    message, hint = found[(8, 7)]
    assert 'unknown field "max_round"' in message and "max_rounds" in hint
    message, hint = found[(9, 15)]
    assert 'critic agent "reviewr" not found' in message and "reviewer" in hint
    message, hint = found[(13, 15)]
    assert "uses the router strategy but has no delegates" in message
    assert len(found) == 3


IAS = """\
package "desk" version "0.1.0" lang "2.0"

prompt "sys" {
  content "You help."
}

agent "triage" {
  uses prompt "sys"
  model "scripted"
  strategy "router"
  delegate to agent "billing" when "the ticket mentions invoices"
}

agent "billing" {
  uses prompt "sys"
  model "scripted"
  delegate to agent "triage" when "not about invoices"
}
"""


def test_intentlang_delegation_cycle_is_reported_at_the_delegate(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load(_write(tmp_path, IAS, "desk.ias"))
    messages = [(d.line, d.message) for d in info.value.diagnostics]
    assert any("delegation cycle: " in m and line in (11, 17) for line, m in messages), messages


def test_intentlang_router_with_delegates_loads(tmp_path: Path) -> None:
    text = IAS.replace('  delegate to agent "triage" when "not about invoices"\n', "")
    project = load(_write(tmp_path, text, "desk.ias"))
    triage = project.package.agents["triage"]
    assert triage.strategy == "router"
    assert [(d.agent, d.condition) for d in triage.delegates] == [
        ("billing", "the ticket mentions invoices")
    ]


def _cli(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{store}"}
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_example_runs_offline_from_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "cli.db"
    done = _cli("run", str(EXAMPLE), "helpdesk", "--input", "Refund invoice INV-42", store=store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Billing: refund issued for INV-42."
    assert "handoff helpdesk → billing" in done.stderr
    routed = _cli(
        "run", str(EXAMPLE), "desk", "--input", "Refund INV-9 please", "--json", store=store
    )
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout)["output"] == "Billing: refund issued for INV-9."


async def test_python_agent_takes_strategy_options() -> None:
    import agentspec

    model = agentspec.ScriptedModel([{"text": "draft"}, {"text": "REVISE: more"}])
    agent = agentspec.Agent(
        "writer",
        instructions="You write.",
        model=model,
        strategy="reflexion",
        strategy_options={"max_rounds": 1},
    )
    result = await agent.run("Write")
    assert result.output == "draft" and result.turns == 2
