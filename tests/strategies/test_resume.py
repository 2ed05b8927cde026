"""Strategy runs survive a crash: SIGKILL ``agentspec run`` after a given event, resume the run
with ``agentspec runs resume``, and check the log folds to the uninterrupted run's result and
holds each structure decision (plan, steps, critiques, handoffs) exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine.faults import ENV_KILL_AFTER_SEQ
from agentspec.engine.result import RunResult, fold
from agentspec.engine.settings import Settings
from agentspec.lang.project import load
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow
EXAMPLE = EXAMPLES / "strategies"
CASES = {
    "planner": ("What is 12 + 30?", ("plan.created", "plan.step.started", "plan.step.finished")),
    "editor": ("Name the capital of France.", ("critique.round",)),
    "helpdesk": ("Please refund invoice INV-42.", ("handoff",)),
}


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
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.decode()
    return proc.returncode


def _summary(result: RunResult) -> tuple[Any, ...]:
    calls = [(c.id, c.tool_name, c.input, c.output, c.error) for c in result.tool_calls]
    return result.status, result.output, result.turns, result.usage.to_dict(), calls


@pytest.mark.parametrize("agent", sorted(CASES))
async def test_killed_strategy_run_resumes_to_the_same_result(tmp_path: Path, agent: str) -> None:
    text, kinds = CASES[agent]
    project = load(str(EXAMPLE))
    async with project.runtime(Settings(store=f"sqlite:///{tmp_path / 'base.db'}")) as rt:
        reference = await rt.run(agent, text)
        baseline_log = await rt.get_events(reference.run_id)
    baseline = _summary(fold(baseline_log))
    structure = [e.type for e in baseline_log if e.type in kinds]
    total = len(baseline_log)
    for n in range(2, total, 6):  # a spread of boundaries: subprocesses are slow
        url = f"sqlite:///{tmp_path / f'kill{n}.db'}"
        args = ("run", str(EXAMPLE), agent, "--input", text)
        assert await asyncio.to_thread(_cli, url, *args, kill_after=n) == -signal.SIGKILL
        async with project.runtime(Settings(store=url)) as rt:
            (record,) = (await rt.list_runs(limit=5)).runs
        resume = ("runs", "resume", record.id, "--project", str(EXAMPLE))
        assert await asyncio.to_thread(_cli, url, *resume) == 0
        async with project.runtime(Settings(store=url)) as rt:
            log = await rt.get_events(record.id)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        assert _summary(fold(log)) == baseline, f"killed after event {n}"
        assert [e.type for e in log if e.type in kinds] == structure, f"killed after event {n}"
