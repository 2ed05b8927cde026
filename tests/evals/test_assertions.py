"""Every assertion kind, passing and failing, against real runs of a scripted project."""

from __future__ import annotations

import pytest

from agentspec.engine.settings import Settings
from agentspec.evals import EvalReport, load_cases, parse_verdict, run_evals
from agentspec.lang.project import load
from tests.evals.project import write_project

JUDGE = """
          model:
            provider: scripted
            script:
              - {when: {contains: "21"}, text: "PASS: mentions the temperature"}
              - {when: {contains: "maybe"}, text: "Probably fine, I guess."}
              - {text: "FAIL: no temperature given"}
"""

CASES = f"""
evals:
  - {{name: equals-pass, agent: helper, input: hello, expect: [{{equals: "You said: hello"}}]}}
  - {{name: equals-fail, agent: helper, input: hello, expect: [{{equals: "Hello!"}}]}}
  - {{name: contains-pass, agent: helper, input: hello there, expect: [{{contains: [HELLO, there]}}]}}
  - {{name: contains-fail, agent: helper, input: hello, expect: [{{contains: goodbye}}]}}
  - {{name: not_contains-pass, agent: helper, input: hello, expect: [{{not_contains: goodbye}}]}}
  - {{name: not_contains-fail, agent: helper, input: hello, expect: [{{not_contains: hello}}]}}
  - {{name: regex-pass, agent: helper, input: hello 123, expect: [{{regex: 'said: \\w+ \\d{{3}}$'}}]}}
  - {{name: regex-fail, agent: helper, input: hello, expect: [{{regex: '\\d+'}}]}}
  - name: json_schema-pass
    agent: helper
    input: give json
    expect:
      - json_schema:
          type: object
          required: [answer]
          properties: {{answer: {{type: integer, minimum: 0}}, unit: {{enum: [none, m]}}}}
  - name: json_schema-fail
    agent: helper
    input: give json
    expect:
      - json_schema: {{type: object, required: [answer, source], properties: {{answer: {{type: string}}}}}}
  - {{name: json_schema-notjson, agent: helper, input: hello, expect: [{{json_schema: {{type: object}}}}]}}
  - name: tool_called-pass
    agent: helper
    input: weather in Paris
    expect:
      - tool_called: {{name: lookup, arguments: {{city: Paris}}, times: 1}}
  - {{name: tool_called-fail, agent: helper, input: weather in Paris, expect: [{{tool_called: {{name: lookup, arguments: {{city: Rome}}}}}}]}}
  - {{name: tool_not_called-pass, agent: helper, input: weather in Paris, expect: [{{tool_not_called: probe}}]}}
  - {{name: tool_not_called-fail, agent: helper, input: weather in Paris, expect: [{{tool_not_called: lookup}}]}}
  - {{name: status-pass, agent: helper, input: crash now, expect: [{{status: failed}}]}}
  - {{name: status-fail, agent: helper, input: crash now, expect: [{{status: completed}}]}}
  - {{name: max_turns-pass, agent: helper, input: weather in Oslo, expect: [{{max_turns: 2}}]}}
  - {{name: max_turns-fail, agent: helper, input: weather in Oslo, expect: [{{max_turns: 1}}]}}
  - {{name: max_tokens-pass, agent: helper, input: hi, expect: [{{max_tokens: 1000}}]}}
  - {{name: max_tokens-fail, agent: helper, input: hi, expect: [{{max_tokens: 3}}]}}
  - {{name: max_cost-pass, agent: helper, input: hi, expect: [{{max_cost: 0}}]}}
  - name: max_cost-fail
    agent: helper
    input: hi
    prices: {{input: 100000, output: 100000}}
    expect: [{{max_cost: 0.5}}]
  - name: judge-pass
    agent: helper
    input: weather in Oslo
    expect:
      - judge:
          rubric: The answer gives the temperature.{JUDGE}
  - name: judge-fail
    agent: helper
    input: hello
    expect:
      - judge:
          rubric: The answer gives the temperature.{JUDGE}
  - name: judge-unparseable
    agent: helper
    input: maybe
    expect:
      - judge:
          rubric: The answer gives the temperature.{JUDGE}
  - {{name: default-expect-fail, agent: helper, input: crash}}
  - {{name: error-missing-variable, agent: other, input: hi, variables: {{}}, expect: [{{status: completed}}]}}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> EvalReport:
    import asyncio

    root = write_project(tmp_path_factory.mktemp("evals") / "lab", CASES)
    project = load(root)
    cases = load_cases(project)
    return asyncio.run(run_evals(project, cases, concurrency=8, settings=Settings(store="memory")))


def _case(report: EvalReport, name: str) -> tuple[str, str]:
    case = next(c for c in report.cases if c.name == name)
    return case.status, " | ".join(a.message for a in case.assertions) or case.error


KINDS = [
    "equals",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "tool_called",
    "tool_not_called",
    "status",
    "max_turns",
    "max_tokens",
    "max_cost",
    "judge",
]


@pytest.mark.parametrize("kind", KINDS)
def test_each_assertion_kind_passes_and_fails(report: EvalReport, kind: str) -> None:
    assert _case(report, f"{kind}-pass")[0] == "passed", _case(report, f"{kind}-pass")
    assert _case(report, f"{kind}-fail")[0] == "failed", _case(report, f"{kind}-fail")


def test_failure_messages_say_what_was_seen(report: EvalReport) -> None:
    assert _case(report, "equals-fail")[1] == 'output is "You said: hello", expected "Hello!"'
    assert _case(report, "contains-fail")[1] == 'output "You said: hello" lacks ["goodbye"]'
    assert "missing required property 'source'" in _case(report, "json_schema-fail")[1]
    assert "$.answer: expected string, got number" in _case(report, "json_schema-fail")[1]
    assert _case(report, "json_schema-notjson")[1].startswith("output is not JSON")
    assert (
        (_case(report, "tool_called-fail")[1])
        == 'lookup with {"city": "Rome"} was not called (called: lookup({"city": "Paris"}))'
    )
    assert (
        _case(report, "status-fail")[1] == "status is failed (invalid_request: cannot answer that)"
    )
    assert _case(report, "max_turns-fail")[1] == "2 turn(s), at most 1"
    assert _case(report, "max_cost-fail")[1].startswith("cost $")
    assert _case(report, "judge-pass")[1] == ("judge (scripted): PASS: mentions the temperature")
    assert _case(report, "judge-fail")[1] == "judge (scripted): FAIL: no temperature given"
    status, message = _case(report, "judge-unparseable")
    assert status == "failed" and "did not answer in the form 'PASS: reason'" in message
    assert _case(report, "default-expect-fail")[0] == "failed"
    status, message = _case(report, "error-missing-variable")
    assert status == "error" and "missing prompt variable" in message


def test_scores_and_totals(report: EvalReport) -> None:
    assert report.passed == len(KINDS)
    assert report.errors == 1
    assert report.failed == len(report.cases) - len(KINDS) - 1
    assert not report.ok and 0 < report.score < 1


def test_verdicts_are_parsed_strictly() -> None:
    assert parse_verdict("PASS: good") == (True, "good")
    assert parse_verdict("  FAIL : wrong sum \n") == (False, "wrong sum")
    for answer in ("PASS", "pass: lower case", "PASS: a\nFAIL: b", "I think PASS: yes", ""):
        with pytest.raises(ValueError, match="PASS: reason"):
            parse_verdict(answer)
