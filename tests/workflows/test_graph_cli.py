"""``agentspec graph`` (Mermaid, DOT, SVG/PNG through Graphviz) and ``agentspec workflow run``,
run as real subprocesses on the offline example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentspec.ir.models import Agent, Delegate, ModelConfig, Package, Prompt
from agentspec.ir.pipeline import Pipeline
from agentspec.lang.graph import (
    delegation_diagram,
    diagram_for,
    pipeline_diagram,
    to_dot,
    to_mermaid,
)
from agentspec.lang.project import load
from tests.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "workflow"
URGENT = json.dumps({"tickets": [{"id": 7, "text": "The site is down!"}]})
ROUTINE = json.dumps({"tickets": [{"id": 1, "text": "How?"}, {"id": 2, "text": "Why?"}]})


def agentspec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AGENTSPEC_STORE": "memory", **(env or {})}
    full_env.pop("AGENTSPEC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


# --------------------------------------------------------------------------- diagrams


def test_workflow_mermaid_has_role_shapes_and_labelled_edges() -> None:
    text = to_mermaid(diagram_for(load(EXAMPLE).package, "triage"))
    lines = text.splitlines()
    assert lines[:2] == ["%% workflow triage", "flowchart TD"]
    assert '    n0(["intake<br/>START<br/>fn: nodes:normalize"])' in lines
    assert '    n1{"has_tickets<br/>DECISION"}' in lines
    assert '    n3[["escalate<br/>BRANCH"]]' in lines
    assert '    n6[/"escalated<br/>MERGE mapping"\\]' in lines
    assert '    n7{{"per_ticket<br/>SPLIT over tickets"}}' in lines
    assert '    n12(["empty<br/>EXIT failed"])' in lines
    assert '    n1 -->|"some: count #gt; 0"| n2' in lines
    assert '    n2 -->|"urgent"| n3' in lines
    assert "    n3 ==> n4" in lines  # fan-out edges are thick


def test_fsm_tree_pipeline_and_delegation_diagrams() -> None:
    package = load(EXAMPLE).package
    fsm = to_mermaid(diagram_for(package, "review"))
    assert '    n0(("start"))' in fsm
    assert '    n2((("approved<br/>final: completed")))' in fsm
    assert '    n1 -->|"score #gt;= 8"| n2' in fsm and "    n1 --> n1" in fsm
    tree = to_mermaid(diagram_for(package, "greet", "behavior_tree"))
    assert '    n0["→ sequence"]' in tree
    assert '    n1{{"len(customer) #gt; 0"}}' in tree
    assert '    n5(["vip-greeting<br/>fn: nodes:remember"])' in tree
    assert '    n0 -->|"1"| n1' in tree and '    n0 -->|"2"| n2' in tree

    pipeline = Pipeline.model_validate(
        {
            "name": "review",
            "steps": [
                {"name": "security", "agent": "a"},
                {"name": "style", "agent": "a"},
                {"name": "summary", "agent": "b", "depends_on": ["security", "style"]},
            ],
        }
    )
    text = to_mermaid(pipeline_diagram(pipeline))
    assert '    n2("summary<br/>agent: b")' in text
    assert "    n0 --> n2" in text and "    n1 --> n2" in text

    model = ModelConfig(provider="scripted")
    agents = {
        "triage": Agent(
            name="triage",
            prompt="p",
            model=model,
            delegates=(Delegate(agent="billing", condition='the user asks about "money"'),),
            on_error="fallback",
            fallback="human",
        ),
        "billing": Agent(name="billing", prompt="p", model=model, strategy="reflexion"),
        "human": Agent(name="human", prompt="p", model=model),
    }
    text = to_mermaid(delegation_diagram(agents))
    assert text.startswith("%% delegation\nflowchart LR\n")
    assert '    n1("billing<br/>reflexion")' in text
    assert '    n0 -->|"the user asks about #quot;money#quot;"| n1' in text
    assert '    n0 -.->|"fallback"| n2' in text
    dot = to_dot(delegation_diagram(agents))
    assert 'n0 -> n1 [label="the user asks about \\"money\\""];' in dot
    assert 'n0 -> n2 [label="fallback", style=dashed];' in dot
    pkg = Package(name="p", prompts={"p": Prompt(name="p", content="x")}, agents=agents)
    assert diagram_for(pkg).title == "delegation"  # nothing else to draw


def test_diagram_lookup_errors() -> None:
    package = load(EXAMPLE).package
    with pytest.raises(LookupError, match='did you mean "triage"'):
        diagram_for(package, "triag")
    with pytest.raises(LookupError, match="name one structure: triage \\(workflow\\), review"):
        diagram_for(package)
    with pytest.raises(LookupError, match="unknown kind 'flow'"):
        diagram_for(package, "triage", "flow")


def test_graph_command_prints_mermaid_and_writes_files(tmp_path: Path) -> None:
    done = agentspec("graph", str(EXAMPLE), "triage")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("%% workflow triage\nflowchart TD\n")
    out = tmp_path / "review.dot"
    done = agentspec("graph", str(EXAMPLE), "review", "--format", "dot", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith('digraph "state machine review" {')
    done = agentspec("graph", str(EXAMPLE), "--kind", "agents")
    assert done.returncode == 0 and "flowchart LR" in done.stdout
    done = agentspec("graph", str(EXAMPLE), "nope")
    assert done.returncode == 2
    assert "no pipeline, workflow, state machine or behaviour tree named 'nope'" in done.stderr


def test_graph_svg_without_graphviz_says_how_to_install_it(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = agentspec("graph", str(EXAMPLE), "triage", "--format", "svg", env={"PATH": str(empty)})
    assert done.returncode == 2
    assert "Graphviz is not installed" in done.stderr and "apt-get install graphviz" in done.stderr
    done = agentspec("graph", str(EXAMPLE), "triage", "--format", "png")
    assert done.returncode == 2 and "give --output FILE" in done.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_and_png_with_graphviz(tmp_path: Path) -> None:
    done = agentspec("graph", str(EXAMPLE), "triage", "--format", "svg")
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "escalate" in done.stdout
    png = tmp_path / "triage.png"
    done = agentspec("graph", str(EXAMPLE), "greet", "--format", "png", "--output", str(png))
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- workflow run


def test_workflow_run_shows_transitions_and_prints_the_result() -> None:
    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "--input", URGENT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "page": {"paged": "oncall@example.com", "tickets": [7]},
        "incident": {"incident": "INC-0007", "severity": 1},
    }
    assert "▶ workflow triage" in done.stderr
    assert "◆ classify → escalate (agent 'classifier' answered 'urgent')" in done.stderr
    assert "⑃ escalate cloned t: t.b0→page, t.b1→incident" in done.stderr
    assert "⑂ escalated merged 2 into t" in done.stderr
    assert "✓ completed" in done.stderr

    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "--input", ROUTINE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["id"] for r in result["replies"]] == [1, 2]
    assert result["summary"] == "Replied to every routine ticket."
    assert "⑃ per_ticket split t into 2 subtasks" in done.stderr


def test_workflow_run_json_fsm_tree_and_failures() -> None:
    done = agentspec("workflow", "run", str(EXAMPLE), "review", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed" and json.loads(result["output"]) == {"score": 9}
    done = agentspec("workflow", "run", str(EXAMPLE), "greet", "-i", '{"customer": "acme"}')
    assert done.returncode == 0 and json.loads(done.stdout)["greeted"] is True
    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "-i", '{"tickets": []}')
    assert done.returncode == 1
    assert 'ended at EXIT "empty" with status failed' in done.stderr
    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "-i", "{nope")
    assert done.returncode == 2 and "--input is not valid JSON" in done.stderr
    done = agentspec("workflow", "run", str(EXAMPLE), "triag")
    assert done.returncode == 2 and 'did you mean "triage"' in done.stderr
    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "-i", '{"tickets": 3}')
    assert done.returncode == 1
    assert "node \"intake\": function 'nodes:normalize' raised TypeError" in done.stderr


def test_a_workflow_run_is_stored_and_shown_by_runs_show(tmp_path: Path) -> None:
    store = {"AGENTSPEC_STORE": f"sqlite:///{tmp_path / 'runs.db'}"}
    done = agentspec("workflow", "run", str(EXAMPLE), "triage", "-i", ROUTINE, "--json", env=store)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    shown = agentspec("runs", "show", run_id, "--json", env=store)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    types = [event["type"] for event in data["events"]]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert {"node.started", "decision", "task.split", "task.merged", "task.exited"} <= set(types)
