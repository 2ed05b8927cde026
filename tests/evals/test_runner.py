"""Running cases: sessions for multi-turn cases, the concurrency limit, reports, baselines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from agentspec.engine.settings import Settings
from agentspec.evals import (
    case_from_run,
    case_yaml,
    load_cases,
    regressions,
    run_evals,
    select,
    to_json,
    to_junit,
)
from agentspec.lang.project import load
from agentspec.store import open_store
from tests.evals.project import write_project

MULTI = """
evals:
  - name: two-turns
    agent: helper
    turns: [weather in Oslo, and again hello]
    expect:
      - equals: "You said: and again hello"
      - tool_called: {name: lookup, arguments: {city: Oslo}}
      - max_turns: 3
"""


async def test_a_multi_turn_case_runs_its_turns_in_one_session(tmp_path: Path) -> None:
    project = load(write_project(tmp_path / "p", MULTI))
    url = f"sqlite:///{tmp_path / 'evals.db'}"
    report = await run_evals(project, load_cases(project), settings=Settings(store=url))
    (case,) = report.cases
    assert case.status == "passed", case.assertions
    assert case.turns == 3 and len(case.run_ids) == 2
    store = open_store(url)
    await store.setup()
    try:
        first, second = [await store.get_run(r) for r in case.run_ids]
        assert first and second and first.session_id and first.session_id == second.session_id
        requests = [e for e in await store.get_events(case.run_ids[1]) if e.type == "model.request"]
        assert requests[0].data["messages"] == 5  # the first turn's 4 messages + the new one
    finally:
        await store.close()


async def test_cases_run_concurrently_up_to_the_limit(tmp_path: Path) -> None:
    cases = "evals:\n" + "".join(
        f"  - {{name: probe-{i}, agent: helper, input: probe {i}}}\n" for i in range(6)
    )
    project = load(write_project(tmp_path / "p", cases))
    import sys

    for limit in (3, 1):
        sys.modules.pop("tools", None)  # a fresh counter per project load
        project = load(tmp_path / "p")
        seen: list[str] = []
        report = await run_evals(
            project, load_cases(project), concurrency=limit, on_result=lambda c: seen.append(c.name)
        )
        peaks = {int(c.output.split()[-1]) for c in report.cases}
        assert max(peaks) == limit, (limit, peaks)
        assert sorted(seen) == sorted(c.name for c in report.cases)
        assert [c.name for c in report.cases] == [f"probe-{i}" for i in range(6)]


async def test_reports_and_baseline_regressions(tmp_path: Path) -> None:
    cases = """
evals:
  - {name: stays-green, agent: helper, input: hi, expect: [{contains: hi}]}
  - {name: breaks, agent: helper, input: hi, expect: [{contains: hi}, {max_tokens: 1000}]}
  - {name: worse, agent: helper, input: hi, expect: [{contains: hi}, {contains: z}, {contains: q}]}
"""
    project = load(write_project(tmp_path / "p", cases))
    report = await run_evals(project, load_cases(project))
    baseline = json.loads(to_json(report))
    assert baseline["summary"] == {
        "total": 3,
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "score": round((1 + 1 + 1 / 3) / 3, 4),
        "duration_ms": baseline["summary"]["duration_ms"],
    }
    for case in baseline["cases"]:
        if case["name"] == "worse":
            case["score"] = 0.6667  # it used to do better
    changed = cases.replace("{max_tokens: 1000}", "{max_tokens: 2}")
    project = load(write_project(tmp_path / "p", changed))
    now = await run_evals(project, load_cases(project))
    found = {r.name: r.reason for r in regressions(now, baseline)}
    assert found == {"breaks": "passed in the baseline, fails now", "worse": "score dropped"}
    suite = ET.fromstring(to_junit(now)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    failure = suite.find("testcase[@name='breaks']/failure")
    assert failure is not None and failure.get("message", "").startswith("max_tokens: ")
    assert suite.find("testcase[@name='stays-green']/failure") is None
    declared = load_cases(project)
    assert [c.name for c in select(declared, "*green")] == ["stays-green"]
    assert [c.name for c in select(declared, "ea")] == ["breaks"]
    assert select(declared, None) == declared


async def test_a_recorded_run_becomes_a_passing_regression_case(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    project = load(root)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with project.runtime(Settings(store=url)) as runtime:
        run = await runtime.run("helper", "weather in Lima", variables={"who": "Ana"})
    store = open_store(url)
    await store.setup()
    try:
        case = await case_from_run(store, run.run_id)
    finally:
        await store.close()
    assert case["expect"] == [
        {"status": "completed"},
        {"equals": run.output},
        {"tool_called": {"name": "lookup", "arguments": {"city": "Lima"}}},
    ]
    (root / "evals").mkdir()
    (root / "evals" / "regression.yaml").write_text(case_yaml(case, note="from a run"))
    project = load(root)
    report = await run_evals(project, load_cases(project))
    assert [(c.name, c.status) for c in report.cases] == [(f"regression-{run.run_id}", "passed")]
