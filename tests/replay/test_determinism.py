"""Same IR hash + same recorded inputs => identical event payloads, over 100 varied runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from agentspec.engine.settings import Settings
from agentspec.lang.project import load
from agentspec.replay import replay_run
from agentspec.store import open_store
from tests.replay.project import write_project

INPUTS = [
    ("lab", "sum {i} {j}"),
    ("lab", "roll the dice {i}"),
    ("lab", "boom case{i}"),
    ("lab", "call the ghost {i}"),
    ("lab", "loop forever {i}"),
    ("lab", "this is broken {i}"),
    ("lab", "just chat {i}"),
    ("guarded", "a long question that does not fit the tiny token budget number {i}"),
    ("primary", "broken primary {i}"),
    ("primary", "sum {j} {i}"),
]


async def _record(tmp_path: Path) -> tuple[str, list[str]]:
    project = load(write_project(tmp_path / "proj"))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_ids: list[str] = []
    async with project.runtime(Settings(store=url)) as runtime:
        for agent in ("flaky", "stubborn", "slow"):  # provider retries, run retries, a timeout
            once = await runtime.run(agent, "hello", raise_on_failure=False)
            run_ids.append(once.run_id)
        sessions = [(await runtime.create_session("lab")).id for _ in range(3)]
        for batch in range(9):  # 97 more runs, 11 at a time

            async def one(k: int) -> str:
                i = batch * 11 + k
                agent, template = INPUTS[i % len(INPUTS)]
                text = template.format(i=i, j=i * 7 % 13)
                session = sessions[i % 3] if agent == "lab" and i % 2 else None
                result = await runtime.run(
                    agent,
                    text,
                    session_id=session,
                    variables={"user": f"user{i % 4}"} if i % 3 else None,
                    raise_on_failure=False,
                )
                return result.run_id

            count = 11 if batch < 8 else 9
            run_ids.extend(await asyncio.gather(*(one(k) for k in range(count))))
    return url, run_ids


async def test_a_hundred_recorded_runs_replay_identically(tmp_path: Path) -> None:
    url, run_ids = await _record(tmp_path)
    assert len(run_ids) == 100
    project = load(tmp_path / "proj")
    store = open_store(url)
    await store.setup()
    kinds: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    try:
        for run_id in run_ids:
            report = await replay_run(run_id, project, store=store)
            assert report.identical, (run_id, report.divergence)
            assert report.replayed.output == report.recorded.output
            assert report.stats.live_model_calls == report.stats.live_tool_calls == 0
            statuses[report.recorded.status] += 1
            kinds.update(e.type for e in await store.get_events(run_id))
            events = await store.get_events(run_id)
            if events[0].data["session_id"] and any(
                e.type == "model.request" and e.data["messages"] > 2 for e in events
            ):
                kinds["session-with-history"] += 1
            errors = [e for e in events if e.data.get("error")]
            kinds.update("error:" + e.type for e in errors)
            kinds.update(
                f"error:{e.type}:{e.data['error']}" for e in errors if e.type == "run.failed"
            )
    finally:
        await store.close()
    # the 100 runs cover every recorded source of nondeterminism and every way a run ends
    assert statuses["completed"] > 30 and statuses["failed"] > 10
    for kind in (
        "model.retry",
        "run.retry",
        "error:run.failed:timeout",
        "run.fallback",
        "budget.exceeded",
        "model.text",
        "error:tool.result",
        "error:run.failed",
        "session-with-history",
    ):
        assert kinds[kind] > 0, kind
