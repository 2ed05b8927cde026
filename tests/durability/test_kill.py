"""The crash test: SIGKILL a real ``agentspec run`` process at every event boundary (and at
random times), resume, and check that every tool call had its effect exactly once, the answer
is right and the log folds to the same result as an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.faults import ENV_KILL_AFTER_SEQ
from agentspec.engine.result import RunResult, fold
from agentspec.engine.settings import Settings
from agentspec.exceptions import UsageError
from agentspec.lang.project import Project, load
from agentspec.store.sql import SQLStore

from .project import CALLS, EXPECTED_OUTPUT, attempts, effects, write_project

pytestmark = pytest.mark.slow


def _cli(root: Path, url: str, *args: str, kill_after: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV_KILL_AFTER_SEQ}
    if kill_after is not None:
        env[ENV_KILL_AFTER_SEQ] = str(kill_after)
    proc = subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args, "--store", url],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.decode()
    return proc.returncode


def _summary(result: RunResult) -> tuple[Any, ...]:
    calls = [(c.id, c.tool_name, c.input, c.output, c.error) for c in result.tool_calls]
    return result.status, result.output, result.turns, result.usage.to_dict(), calls


async def _only_run(project: Project, url: str) -> str:
    async with project.runtime(Settings(store=url)) as runtime:
        page = await runtime.list_runs(limit=5)
    assert len(page.runs) <= 1
    return str(page.runs[0].id) if page.runs else ""


async def _finish(project: Project, url: str, run_id: str) -> list[Event]:
    """Resume the run in this process if it is unfinished; return its final log."""
    async with project.runtime(Settings(store=url)) as runtime:
        record = await runtime.get_run(run_id)
        assert record is not None
        if record.status == "running":
            result = await runtime.resume(run_id)
            assert result.status == "completed", result.error_message
        else:
            with pytest.raises(UsageError, match="already finished"):
                await runtime.resume(run_id)
        return await runtime.get_events(run_id)


def _check(root: Path, run_id: str, log: list[Event], baseline: tuple[Any, ...]) -> None:
    assert [e.seq for e in log] == list(range(1, len(log) + 1)), "gap in the log"
    assert [e.type for e in log].count(ev.RUN_COMPLETED) == 1 and log[-1].type in ev.TERMINAL
    for call in CALLS:
        assert sum(1 for e in log if e.type == ev.TOOL_CALL and e.data["call_id"] == call) == 1
        assert sum(1 for e in log if e.type == ev.TOOL_RESULT and e.data["call_id"] == call) == 1
    mine = [line for line in effects(root) if line.startswith(run_id + ":")]
    assert sorted(line.split(" ")[0] for line in mine) == sorted(f"{run_id}:{c}" for c in CALLS)
    result = fold(log)
    assert result.output == EXPECTED_OUTPUT
    assert _summary(result) == baseline


async def test_sigkill_at_every_event_boundary_and_at_random_times(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    project = load(str(root))
    url0 = f"sqlite:///{tmp_path / 'baseline.db'}"
    async with project.runtime(Settings(store=url0)) as runtime:
        reference = await runtime.run("worker", "go")
        baseline_log = await runtime.get_events(reference.run_id)
    baseline = _summary(fold(baseline_log))
    assert reference.output == EXPECTED_OUTPUT
    total = len(baseline_log)
    assert total >= 25

    urls = [f"sqlite:///{tmp_path / f'kill{n}.db'}" for n in range(1, total + 1)]
    urls += [f"sqlite:///{tmp_path / f'random{i}.db'}" for i in range(8)]
    for url in urls:  # migrate first, one at a time: Alembic's proxies are process-global
        store = SQLStore(url)
        await store.setup()
        await store.close()
    counts = {"kills": 0, "resumed": 0}
    limit = asyncio.Semaphore(4)  # independent runs (one database each), a few at a time

    async def at_boundary(n: int) -> None:
        async with limit:
            url = f"sqlite:///{tmp_path / f'kill{n}.db'}"
            code = await asyncio.to_thread(
                _cli, root, url, "run", ".", "worker", "--input", "go", kill_after=n
            )
            assert code == -signal.SIGKILL
            counts["kills"] += 1
            run_id = await _only_run(project, url)
            if n < total and n % 2 == 0:  # kill the resuming process too, a few events later
                code = await asyncio.to_thread(
                    _cli, root, url, "runs", "resume", run_id, kill_after=n + 3
                )
                counts["kills"] += code == -signal.SIGKILL
            log = await _finish(project, url, run_id)
            if n < total:
                assert any(e.type == ev.RUN_RESUMED for e in log)
                counts["resumed"] += 1
            _check(root, run_id, log, baseline)

    async def at_random(i: int) -> None:
        async with limit:  # killed from the outside, wherever the run happens to be
            url = f"sqlite:///{tmp_path / f'random{i}.db'}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "agentspec.cli", "run", ".", "worker", "--input", "go",
                 "--store", url],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(random.Random(i).uniform(0.5, 3.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                counts["kills"] += 1
            await asyncio.to_thread(proc.wait)
            run_id = await _only_run(project, url)
            if run_id:  # else killed before its first commit: no run at all
                _check(root, run_id, await _finish(project, url, run_id), baseline)

    await asyncio.gather(
        *(at_boundary(n) for n in range(1, total + 1)), *(at_random(i) for i in range(8))
    )
    assert counts["kills"] >= 50, counts
    assert counts["resumed"] == total - 1
    # at-least-once execution, exactly-once effect: some calls ran twice, none wrote twice
    assert len(attempts(root)) > len(effects(root))
