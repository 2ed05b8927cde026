"""Eval files: where cases come from, and bad files reported all at once as file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.evals import load_cases
from agentspec.exceptions import SpecError
from agentspec.lang.project import load
from tests.evals.project import SPEC, write_project


def _problems(root: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_cases(load(root))
    return [str(d) for d in caught.value.diagnostics]


def test_cases_come_from_the_spec_and_the_evals_folder_and_do_not_change_the_ir(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "p")
    before = load(root).ir_hash
    spec = SPEC + "\nevals:\n  - {name: in-spec, agent: helper, input: hi}\n"
    write_project(root, "evals:\n- {name: listed, agent: helper, input: hi}\n", spec=spec)
    (root / "evals" / "nested").mkdir()
    (root / "evals" / "nested" / "more.yml").write_text(
        "evals:\n  - {name: nested, agent: other, turns: [a, b], variables: {name: Ada}}\n"
    )
    project = load(root)
    assert project.ir_hash == before
    cases = load_cases(project)
    assert [c.name for c in cases] == ["in-spec", "listed", "nested"]
    nested = cases[2]
    assert nested.turns == ["a", "b"] and nested.variables == {"name": "Ada"}
    assert nested.where.endswith("more.yml:2")


def test_every_problem_of_every_file_is_reported_with_its_position(tmp_path: Path) -> None:
    cases = """\
evals:
  - name: first
    agent: helper
    input: hi
    expect:
      - contians: hello
      - tool_called: {name: lookpu, argments: {}}
      - regex: "(open"
      - max_tokens: many
      - judge: {model: nowhere:x, rubric: good}
  - name: first
    agnet: helper
    turns: []
  - {name: both, agent: helper, input: a, turns: [b]}
  - [not, a, case]
"""
    root = write_project(tmp_path / "p", cases)
    (root / "evals" / "broken.yaml").write_text("evals:\n  - name: x\n    input: [unclosed\n")
    (root / "evals" / "typo.yaml").write_text("eval:\n  - {name: y, input: hi}\n")
    problems = _problems(root)
    file = str(root / "evals" / "cases.yaml")
    expected = [
        f'{file}:6:9: eval "first": unknown assertion "contians" (did you mean "contains"?)',
        f'{file}:7:29: eval "first": tool_called: agent "helper" has no tool "lookpu" (did you mean "lookup"?)',
        f'{file}:7:37: eval "first": tool_called: unknown field "argments" (did you mean "arguments"?)',
        f'{file}:8:16: eval "first": regex: invalid regular expression: missing ), unterminated subpattern at position 0',
        f'{file}:9:21: eval "first": max_tokens must be an integer >= 0, got a string',
        f"{file}:10:24: eval \"first\": judge: model 'nowhere:x': unknown provider 'nowhere'; use openai:NAME, anthropic:NAME, scripted or replay:RUN_ID",
        f'{file}:11:11: duplicate eval case "first" (first defined at {file}:2)',
        f'{file}:12:5: eval case: unknown field "agnet" (did you mean "agent"?)',
        f'{file}:11:5: eval "first": missing "agent" (the project has 2 agents) (helper, other)',
        f'{file}:13:12: eval "first": turns must be a non-empty list of user messages',
        f'{file}:14:43: eval "both": give "input" or "turns", not both',
        f"{file}:15:5: eval case must be a mapping, got a list",
    ]
    for line in expected:
        assert line in problems, (line, problems)
    assert any("broken.yaml:" in p and "invalid YAML" in p for p in problems)
    assert any(
        p.startswith(str(root / "evals" / "typo.yaml") + ':1:1: unknown top-level key "eval"')
        and 'did you mean "evals"' in p
        for p in problems
    )


def test_a_misspelt_evals_key_in_the_spec_is_a_spec_error(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", spec=SPEC + "\nevalz:\n  - {name: x, input: hi}\n")
    with pytest.raises(SpecError) as caught:
        load(root)
    (problem,) = [str(d) for d in caught.value.diagnostics]
    assert problem.startswith(f"{root / 'agentspec.yaml'}:")
    assert 'unknown top-level key "evalz"' in problem and 'did you mean "evals"' in problem


def test_eval_cases_in_the_spec_are_checked_with_positions(tmp_path: Path) -> None:
    spec = SPEC + "\nevals:\n  - {name: x, agent: helpr, input: hi}\n"
    root = write_project(tmp_path / "p", spec=spec)
    line = spec.count("\n", 0, spec.index("helpr")) + 1
    assert _problems(root) == [
        f'{root / "agentspec.yaml"}:{line}:22: eval "x": unknown agent "helpr" '
        '(did you mean "helper"?)'
    ]
