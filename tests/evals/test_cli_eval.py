"""``agentspec eval`` as a real subprocess: the quickstart's cases, reports, exit codes."""

from __future__ import annotations

import asyncio
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from agentspec.engine.settings import Settings
from agentspec.lang.project import load
from tests.cli.test_cli import QUESTION, agentspec
from tests.conftest import EXAMPLES
from tests.evals.project import write_project


def test_the_quickstart_cases_pass_and_reports_are_written(tmp_path: Path) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    ran = agentspec(
        "eval", str(EXAMPLES / "quickstart"), "--junit", str(junit), "--json", str(report)
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "6/6 passed · 0 failed" in ran.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["passed"] == 6 and data["package"] == "quickstart"
    judged = next(c for c in data["cases"] if c["name"] == "judged-by-a-rubric")
    assert judged["assertions"][0]["message"].startswith("judge (scripted): PASS")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "6" and suite.get("failures") == "0"
    only = agentspec("eval", str(EXAMPLES / "quickstart"), "--filter", "adds-*", "--json", "-")
    assert only.returncode == 0 and "1/1 passed" in only.stderr
    printed = json.loads(only.stdout)
    assert [c["name"] for c in printed["cases"]] == ["adds-two-numbers"]


def test_failures_regressions_and_bad_files_set_the_exit_code(tmp_path: Path) -> None:
    cases = "evals:\n  - {name: greets, agent: helper, input: hi, expect: [{contains: hi}]}\n"
    root = write_project(tmp_path / "p", cases)
    baseline = tmp_path / "baseline.json"
    green = agentspec("eval", str(root), "--json", str(baseline))
    assert green.returncode == 0, green.stdout + green.stderr
    missing = agentspec("eval", str(root), "--baseline", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr
    (root / "evals" / "cases.yaml").write_text(cases.replace("contains: hi", "contains: bye"))
    red = agentspec(
        "eval", str(root), "--baseline", str(baseline), "--junit", str(tmp_path / "j.xml")
    )
    assert red.returncode == 1
    assert "regression greets: passed in the baseline, fails now" in red.stdout
    assert "0/1 passed · 1 failed" in red.stdout
    assert (tmp_path / "j.xml").is_file()
    (root / "evals" / "cases.yaml").write_text(
        "evals:\n  - {name: greets, agent: helper, input: hi, expect: [{contain: hi}]}\n"
    )
    bad = agentspec("eval", str(root))
    assert bad.returncode == 2
    assert (
        f'{root / "evals" / "cases.yaml"}:2:56: eval "greets": unknown assertion "contain"'
        in bad.stderr
    )
    assert "did you mean" in bad.stderr and "Traceback" not in bad.stderr
    none = agentspec("eval", str(write_project(tmp_path / "empty")))
    assert none.returncode == 2 and "no eval cases" in none.stderr


def test_from_run_writes_a_case_that_passes(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", project, ignore=shutil.ignore_patterns("evals"))
    db = tmp_path / "runs.db"

    async def record() -> str:
        async with load(project).runtime(Settings(store=f"sqlite:///{db}")) as runtime:
            return (await runtime.run("assistant", QUESTION)).run_id

    run_id = asyncio.run(record())
    target = project / "evals" / "regression.yaml"
    made = agentspec("eval", str(project), "--from-run", run_id, "--out", str(target), store=db)
    assert made.returncode == 0, made.stderr
    text = target.read_text()
    assert f"name: regression-{run_id}" in text and "tool_called:" in text
    again = agentspec("eval", str(project))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1/1 passed" in again.stdout
    unknown = agentspec("eval", str(project), "--from-run", "run_nope", store=db)
    assert unknown.returncode == 2 and "no run 'run_nope'" in unknown.stderr
