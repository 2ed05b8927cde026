"""``agentspec runs resume``: one run, or every interrupted run of the project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from agentspec.engine.faults import ENV_KILL_AFTER_SEQ

from .project import CALLS, EXPECTED_OUTPUT, effects, write_project


def _cli(
    root: Path, url: str, *args: str, kill_after: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_KILL_AFTER_SEQ}
    if kill_after is not None:
        env[ENV_KILL_AFTER_SEQ] = str(kill_after)
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args, "--store", url],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_resume_all_interrupted_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    url = f"sqlite:///{tmp_path / 'all.db'}"
    for n in (5, 14):
        killed = _cli(root, url, "run", ".", "worker", "--input", "go", kill_after=n)
        assert killed.returncode == -signal.SIGKILL
    listed = json.loads(_cli(root, url, "runs", "list", "--status", "running", "--json").stdout)
    ids = sorted(r["id"] for r in listed["runs"])
    assert len(ids) == 2

    resumed = _cli(root, url, "runs", "resume", "--all", "--json")
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads(resumed.stdout)
    assert sorted(r["run_id"] for r in rows) == ids and {r["status"] for r in rows} == {"completed"}
    for run_id in ids:
        shown = json.loads(_cli(root, url, "runs", "show", run_id, "--json").stdout)
        assert shown["run"]["output"] == EXPECTED_OUTPUT
        types = [e["type"] for e in shown["events"]]
        assert types.count("run.resumed") == 1 and types[-1] == "run.completed"
        mine = [line.split(" ")[0] for line in effects(root) if line.startswith(run_id)]
        assert sorted(mine) == sorted(f"{run_id}:{c}" for c in CALLS)

    nothing = _cli(root, url, "runs", "resume", "--all")
    assert nothing.returncode == 0 and "no interrupted runs" in nothing.stderr
    neither = _cli(root, url, "runs", "resume")
    assert neither.returncode == 2 and "give one RUN_ID, or --all" in neither.stderr
