"""Static checks: every problem of a pipeline at file:line:col, in YAML and IntentLang."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.ir.canonical import ir_hash
from agentspec.ir.check_pipeline import find_cycle
from agentspec.lang.project import load
from tests.pipelines.helpers import write_project


def line_of(root: Path, text: str) -> int:
    """The 1-based line of ``agentspec.yaml`` in ``root`` where ``text`` first appears."""
    lines = (root / "agentspec.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def problems(root: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(root)
    return [str(d) for d in caught.value.diagnostics]


def test_cycle_reports_its_path_and_unreachable_dependents(tmp_path: Path) -> None:
    pipelines = """\
    loop:
      steps:
        a: {agent: fast, depends_on: [c]}
        b: {agent: fast, depends_on: a}
        c: {agent: fast, depends_on: [b]}
        d: {agent: fast, depends_on: [c]}
        free: {agent: fast}
    """
    found = problems(write_project(tmp_path, pipelines))
    file = str(tmp_path / "agentspec.yaml")
    first = 'pipeline "loop" has a dependency cycle: a -> c -> b -> a'
    where = f"{file}:{line_of(tmp_path, 'a: {agent')}:36:"
    assert any(p.startswith(where) and first in p for p in found), found
    unreachable = 'step "d" is unreachable: it waits on step "c", which is in a dependency cycle'
    where = f"{file}:{line_of(tmp_path, 'd: {agent')}:"
    assert any(p.startswith(where) and unreachable in p for p in found), found
    assert not any('"free"' in p for p in found)
    assert len(found) == 2


def test_unknown_agents_steps_and_fields_with_suggestions(tmp_path: Path) -> None:
    pipelines = """\
    typo:
      steps:
        - name: first
          agent: fats
          input: "{{trigger.x}} {{nothing}}"
        - name: second
          agent: fast
          depends_on: [frist]
          timeout: soon
          retries: -1
          colour: red
        - name: third
          depends_on: [second]
    """
    found = problems(write_project(tmp_path, pipelines))
    text = "\n".join(found)
    file = str(tmp_path / "agentspec.yaml")
    root = tmp_path
    expected = [
        (
            "agent: fats",
            'steps[0].agent: step "first": agent "fats" not found (did you mean "fast"?)',
        ),
        ("{{nothing}}", 'steps[0].input: step "first": input references unknown "{{nothing}}"'),
        (
            "[frist]",
            'steps[1].depends_on[0]: step "second" depends on unknown step "frist" '
            '(did you mean "first"?)',
        ),
        ("soon", "steps[1].timeout: invalid duration 'soon'"),
        ("retries: -1", "steps[1].retries: must be >= 0 (got -1)"),
        ("colour", 'steps[1].colour: unknown field "colour"'),
        ("name: third", 'steps[2]: missing required field "agent"'),
    ]
    for anchor, message in expected:
        line = line_of(root, anchor)
        assert any(p.startswith(f"{file}:{line}:") and message in p for p in found), (
            message,
            text,
        )
    assert text.count("unknown step") == 1  # "third" depends on the stubbed "second": no error
    assert len(found) == len(expected)


def test_template_references_must_be_dependencies(tmp_path: Path) -> None:
    pipelines = """\
    reads:
      steps:
        one: {agent: fast, output: report}
        two: {agent: fast, input: "{{report}}", when: "{{two}}"}
        three: {agent: fast, output: one}
        four: {agent: fast, output: report}
    """
    found = problems(write_project(tmp_path, pipelines))
    text = "\n".join(found)
    assert 'step "two": input reads the output of step "one" but does not depend on it' in text
    assert '(add "one" to depends_on)' in text
    assert 'step "two": when references its own output "{{two}}"' in text
    assert 'step "three": output name "one" is the name of another step' in text
    assert 'step "four": output name "report" is already the output of step "one"' in text


def test_pipeline_shapes(tmp_path: Path) -> None:
    found = problems(write_project(tmp_path / "a", "empty:\n  steps: {}\nnone: {}\nlist: [1]\n"))
    text = "\n".join(found)
    assert "pipelines.empty.steps: a pipeline needs at least one step" in text
    assert 'pipelines.none: missing required field "steps"' in text
    assert "pipelines.list: must be a mapping, got a list" in text
    dup = "dup:\n  steps:\n    - {name: a, agent: fast}\n    - {name: a, agent: fast}\n"
    found = problems(write_project(tmp_path / "b", dup))
    assert any('duplicate step name "a" in pipeline "dup"' in p for p in found)


def test_find_cycle() -> None:
    assert find_cycle({"a": ("b",), "b": ()}) == []
    assert find_cycle({"a": ("a",)}) == ["a", "a"]
    assert find_cycle({"x": (), "a": ("b",), "b": ("c", "x"), "c": ("a",)}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ("zzz",)}) == []


IAS = """\
package "same" version "0.1.0" lang "2.0"

prompt "sys" {
  content "You review code."
}

agent "analyst" {
  uses prompt "sys"
  model "scripted"
}

agent "summarizer" {
  uses prompt "sys"
  model "scripted"
}

pipeline "review" {
  step "security" {
    agent "analyst"
    input "Security review: {{trigger.code}}"
    output "sec"
  }
  step "style" {
    agent "analyst"
    input "Style review: {{trigger.code}}"
    parallel true
  }
  step "summary" {
    agent "summarizer"
    input "{{sec}} / {{style}}"
    depends_on ["security", "style"]
    when "{{trigger.summarize}}"
  }
}
"""
YAML = """\
package: same
version: 0.1.0
prompts:
  sys: {content: You review code.}
agents:
  analyst: {model: scripted, prompt: sys}
  summarizer: {model: scripted, prompt: sys}
pipelines:
  review:
    steps:
      security: {agent: analyst, input: "Security review: {{trigger.code}}", output: sec}
      style: {agent: analyst, input: "Style review: {{trigger.code}}", parallel: true}
      summary:
        agent: summarizer
        input: "{{sec}} / {{style}}"
        depends_on: [security, style]
        when: "{{trigger.summarize}}"
"""


def test_yaml_and_intentlang_pipelines_have_the_same_ir_hash(tmp_path: Path) -> None:
    (tmp_path / "p.ias").write_text(IAS)
    (tmp_path / "agentspec.yaml").write_text(YAML)
    from_ias = load(tmp_path / "p.ias")
    from_yaml = load(tmp_path / "agentspec.yaml")
    assert from_ias.notes == []  # pipelines are no longer "validated but not run"
    assert from_ias.package.pipelines == from_yaml.package.pipelines
    assert ir_hash(from_ias.package) == ir_hash(from_yaml.package)
    changed = YAML.replace("parallel: true", "parallel: false")
    (tmp_path / "agentspec.yaml").write_text(changed.replace("{{sec}}", "{{sec}}!"))
    assert ir_hash(load(tmp_path / "agentspec.yaml").package) != ir_hash(from_ias.package)


def test_intentlang_pipeline_errors_have_positions(tmp_path: Path) -> None:
    bad = IAS.replace('"{{sec}} / {{style}}"', '"{{secc}}"')
    (tmp_path / "bad.ias").write_text(bad)
    found = problems(tmp_path / "bad.ias")
    assert found == [
        f'{tmp_path / "bad.ias"}:28:8: step "summary": input references unknown "{{{{secc}}}}" '
        '(did you mean "sec"?)'
    ]
    cyclic = IAS.replace('    output "sec"\n', '    output "sec"\n    depends_on ["summary"]\n')
    (tmp_path / "cyc.ias").write_text(cyclic)
    found = problems(tmp_path / "cyc.ias")
    assert len(found) == 1 and "dependency cycle: security -> summary -> security" in found[0]
    assert found[0].startswith(f"{tmp_path / 'cyc.ias'}:17:1:")
