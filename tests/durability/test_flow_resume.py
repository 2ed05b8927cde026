"""Structured runs survive a crash too: SIGKILL ``agentspec pipeline run`` / ``workflow run``
after a given event, resume the run, and get the uninterrupted run's result with every step
(and every child agent run) done exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.faults import ENV_KILL_AFTER_SEQ
from agentspec.engine.settings import Settings
from agentspec.lang.project import load
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow
TRIGGER = {"code": "eval(input())"}


def _cli(url: str, *args: str, kill_after: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV_KILL_AFTER_SEQ}
    if kill_after is not None:
        env[ENV_KILL_AFTER_SEQ] = str(kill_after)
    proc = subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args, "--store", url],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1, -signal.SIGKILL), proc.stderr.decode()
    return proc.returncode


def _steps(output: str) -> dict[str, Any]:
    result = json.loads(output)
    return {
        name: (step["status"], step.get("output")) for name, step in sorted(result["steps"].items())
    }


async def _reference(url: str) -> dict[str, Any]:
    project = load(str(EXAMPLES / "pipeline"))
    from agentspec.engine.pipeline import run_pipeline

    async with project.runtime(Settings(store=url)) as rt:
        result = await run_pipeline(rt, "code-review", TRIGGER)
    assert result.status == "completed"
    return {name: (step.status, step.output) for name, step in sorted(result.steps.items())}


@pytest.mark.parametrize("kill_after", [1, 2, 3, 4, 5, 6, 8])
async def test_a_killed_pipeline_resumes_to_the_same_result(
    tmp_path: Path, kill_after: int
) -> None:
    reference = await _reference(f"sqlite:///{tmp_path / 'reference.db'}")
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    code = _cli(
        url,
        "pipeline",
        "run",
        str(EXAMPLES / "pipeline"),
        "code-review",
        "--trigger",
        json.dumps(TRIGGER),
        kill_after=kill_after,
    )
    project = load(str(EXAMPLES / "pipeline"))
    async with project.runtime(Settings(store=url)) as rt:
        page = await rt.list_runs(agent="code-review")
        assert len(page.runs) == 1
        run_id = page.runs[0].id
        if code == -signal.SIGKILL:
            assert page.runs[0].status == "running"
            result = await rt.resume(run_id)
        else:  # the crash point came after the pipeline's last write
            record = await rt.get_run(run_id)
            assert record is not None
            result = await rt.get_run(run_id)  # type: ignore[assignment]
        events = await rt.get_events(run_id)
        record = await rt.get_run(run_id)
        children = [r for r in (await rt.list_runs(limit=100)).runs if r.parent_run_id == run_id]
    assert record is not None and record.status == "completed"
    assert _steps(record.output) == {k: list(v) if False else v for k, v in reference.items()}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    completed = [e.data["step"] for e in events if e.type == "step.completed"]
    assert sorted(completed) == ["security", "style", "summary"]  # each step once
    assert events[-1].type == ev.RUN_COMPLETED
    assert sorted(r.agent for r in children if r.status == "completed") == [
        "security-analyst",
        "style-analyst",
        "summarizer",
    ]  # no step ran its agent twice to completion
    del result


async def test_a_killed_workflow_resumes_to_the_same_output(tmp_path: Path) -> None:
    from agentspec.engine.workflow import run_workflow

    data = {"tickets": [{"id": 1, "text": "How do I export?"}, {"id": 2, "text": "Invoice?"}]}
    project = load(str(EXAMPLES / "workflow"))
    async with project.runtime(Settings(store=f"sqlite:///{tmp_path / 'ref.db'}")) as rt:
        reference = await run_workflow(rt, "triage", data)
    assert reference.status == "completed"
    for kill_after in (2, 5, 9):
        url = f"sqlite:///{tmp_path / f'crash{kill_after}.db'}"
        code = _cli(
            url,
            "workflow",
            "run",
            str(EXAMPLES / "workflow"),
            "triage",
            "--input",
            json.dumps(data),
            kill_after=kill_after,
        )
        async with project.runtime(Settings(store=url)) as rt:
            page = await rt.list_runs(agent="triage")
            run_id = page.runs[0].id
            if code == -signal.SIGKILL:
                result = await rt.resume(run_id)
                assert result.status == "completed", result.error_message
            record = await rt.get_run(run_id)
            events = await rt.get_events(run_id)
        assert record is not None and record.status == "completed"
        assert json.loads(record.output) == json.loads(reference.output)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
