"""Resume: re-execute a run against its own log, reusing recorded model answers and tool
results, for every strategy; and the bad inputs (unknown, finished, foreign, corrupted)."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.result import RunResult, fold
from agentspec.engine.resume import ResumeError
from agentspec.engine.settings import Settings
from agentspec.exceptions import UsageError
from agentspec.lang.project import load
from agentspec.models.base import ModelRequest
from agentspec.models.scripted import ScriptedModel
from agentspec.store.base import RunRecord, Store, WriteBatch
from agentspec.store.memory import MemoryStore
from agentspec.store.sql import SQLStore
from agentspec.tools.base import ToolContext
from agentspec.tools.function import tool

from ..conftest import EXAMPLES
from ..engine.helpers import package, runtime

EXECUTED: list[str] = []
"""Idempotency keys of every execution of the Python tool below."""


@tool
async def step(key: str, ctx: ToolContext) -> str:
    """Do a step with a side effect.

    Args:
        key: Which step.
    """
    EXECUTED.append(ctx.idempotency_key)
    return f"ok {key}"


MODEL_CALLS: list[int] = []


def script(request: ModelRequest) -> dict[str, Any]:
    """Three tool turns (2, 1 and 2 calls), then an answer built from the last results."""
    MODEL_CALLS.append(len(request.messages))
    done = sum(1 for m in request.messages if m.role == "assistant")
    turns = [["a", "b"], ["c"], ["d", "e"]]
    if done < len(turns):
        return {
            "tool_calls": [
                {"id": f"c{done}{i}", "name": "step", "arguments": {"key": key}}
                for i, key in enumerate(turns[done])
            ]
        }
    results = [m.content for m in request.messages if m.role == "tool"]
    return {"text": "finished: " + ", ".join(results)}


def summary(result: RunResult) -> tuple[Any, ...]:
    calls = [(c.id, c.tool_name, c.input, c.output, c.error) for c in result.tool_calls]
    return result.status, result.output, result.turns, result.usage.to_dict(), calls


def crashed(record: RunRecord, events: list[Event], k: int) -> WriteBatch:
    """What the store holds after a crash right after event ``k`` was committed."""
    run = dataclasses.replace(
        record, status="running", output="", turns=0, lease_owner="", lease_expires=0.0
    )
    return WriteBatch(runs=[run], events=events[:k])


async def baseline_run(store: Store) -> tuple[RunRecord, list[Event]]:
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",)}}, tools=[step])
    async with runtime(
        pkg, tools=[step], store=store, models={"worker": ScriptedModel(script)}
    ) as rt:
        result = await rt.run("worker", "go")
        record = await rt.get_run(result.run_id)
        assert record is not None
        return record, await rt.get_events(result.run_id)


async def test_resume_from_every_event_reuses_answers_and_results() -> None:
    record, log = await baseline_run(MemoryStore())
    baseline = summary(fold(log))
    assert baseline[1] == "finished: ok a, ok b, ok c, ok d, ok e"
    turns = baseline[2]
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",)}}, tools=[step])
    for k in range(1, len(log)):
        store = MemoryStore()
        await store.write(crashed(record, log, k))
        prefix = log[:k]
        EXECUTED.clear()
        MODEL_CALLS.clear()
        model = ScriptedModel(script)
        async with runtime(pkg, tools=[step], store=store, models={"worker": model}) as rt:
            result = await rt.resume(record.id)
            final = await rt.get_events(record.id)
        assert result.status == "completed" and summary(fold(final)) == baseline, k
        # recorded model answers are not requested again, recorded results not re-executed
        answered = sum(1 for e in prefix if e.type == ev.MODEL_RESPONSE)
        assert len(MODEL_CALLS) == turns - answered, k
        recorded = {e.data["call_id"] for e in prefix if e.type == ev.TOOL_RESULT}
        assert len(EXECUTED) == 5 - len(recorded), k
        assert not {f"{record.id}:{c}" for c in recorded} & set(EXECUTED)
        # the stored prefix is untouched; new events follow it, starting with run.resumed
        assert final[:k] == prefix
        assert final[k].type == ev.RUN_RESUMED and final[k].seq == k + 1
        assert final[k].data["from_seq"] == k + 1
        assert [e.seq for e in final] == list(range(1, len(final) + 1))
        assert sum(1 for e in final if e.type == ev.MODEL_RESPONSE) == turns


async def test_resumed_run_result_equals_fold_and_record_is_updated() -> None:
    record, log = await baseline_run(MemoryStore())
    store = MemoryStore()
    await store.write(crashed(record, log, 9))
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",)}}, tools=[step])
    async with runtime(
        pkg, tools=[step], store=store, models={"worker": ScriptedModel(script)}
    ) as rt:
        handle = rt.start_resume(record.id)
        seen = [event async for event in handle]
        result = await handle.result()
        stored = await rt.get_run(record.id)
    assert seen[0].type == ev.RUN_RESUMED and seen[-1].type == ev.RUN_COMPLETED
    assert stored is not None and stored.status == "completed"
    assert stored.output == result.output == fold(log).output
    assert stored.turns == fold(log).turns


STRATEGY_CASES = [
    ("planner", "What is 12 + 30?"),  # plan-execute
    ("editor", "Name the capital of France."),  # reflexion
    ("desk", "My invoice INV-42 is wrong."),  # router (a child run)
    ("helpdesk", "Please refund invoice INV-42."),  # react with a handoff
    ("digest", "First part.\n\nSecond part.\n\nThird part."),  # map-reduce, concurrent
    ("billing", "Refund INV-7 please."),  # react with a tool
]


@pytest.mark.parametrize(("agent", "text"), STRATEGY_CASES, ids=[a for a, _ in STRATEGY_CASES])
async def test_every_strategy_resumes_from_every_event(
    tmp_path: Path, agent: str, text: str
) -> None:
    project = load(str(EXAMPLES / "strategies"))
    base = tmp_path / "base.db"
    async with project.runtime(Settings(store=f"sqlite:///{base}")) as rt:
        result = await rt.run(agent, text)
        log = await rt.get_events(result.run_id)
        children = len(await rt.store.child_runs(result.run_id))
    run_id = result.run_id
    baseline = summary(fold(log))
    responses = sum(1 for e in log if e.type == ev.MODEL_RESPONSE)
    for k in range(1, len(log)):
        db = tmp_path / f"k{k}.db"
        shutil.copy(base, db)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM run_events WHERE run_id = ? AND seq > ?", (run_id, k))
            conn.execute(
                "UPDATE runs SET status = 'running', output = '', lease_owner = '' WHERE id = ?",
                (run_id,),
            )
        conn.close()
        async with project.runtime(Settings(store=f"sqlite:///{db}")) as rt:
            resumed = await rt.resume(run_id)
            final = await rt.get_events(run_id)
            assert len(await rt.store.child_runs(run_id)) == children, k  # reused, not re-run
        assert resumed.status == "completed", (k, resumed.error_message)
        assert summary(fold(final)) == baseline, k
        assert sum(1 for e in final if e.type == ev.MODEL_RESPONSE) == responses, k
        assert [e.seq for e in final] == list(range(1, len(final) + 1))
        assert final[:k] == log[:k]


# ---------------------------------------------------------------------------- bad inputs


async def _crashed_store(k: int = 6) -> tuple[MemoryStore, RunRecord, list[Event]]:
    record, log = await baseline_run(MemoryStore())
    store = MemoryStore()
    await store.write(crashed(record, log, k))
    return store, record, log


def _rt(store: Store, name: str = "test", **options: Any) -> Any:
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",), **options}}, tools=[step])
    pkg = pkg.model_copy(update={"name": name})
    return runtime(pkg, tools=[step], store=store, models={"worker": ScriptedModel(script)})


async def test_resume_of_an_unknown_run_is_a_clear_error() -> None:
    async with _rt(MemoryStore()) as rt:
        with pytest.raises(UsageError, match=r"cannot resume run 'run_nope': no such run"):
            await rt.resume("run_nope")


async def test_resume_of_a_finished_run_is_a_clear_error() -> None:
    store = MemoryStore()
    record, _ = await baseline_run(store)
    async with _rt(store) as rt:
        with pytest.raises(UsageError, match=r"already finished \(completed\)"):
            await rt.resume(record.id)


async def test_resume_of_a_foreign_run_is_a_clear_error() -> None:
    store, record, _ = await _crashed_store()
    async with _rt(store, name="other") as rt:
        with pytest.raises(
            UsageError, match=r"belongs to package 'test'.*not to this project's 'other'"
        ):
            await rt.resume(record.id)
    async with _rt(store, max_turns=7) as rt:  # same package name, another spec (hash)
        with pytest.raises(UsageError, match="use the spec the run was started with"):
            await rt.resume(record.id)
    assert (await store.get_run(record.id)).status == "running"  # type: ignore[union-attr]


async def test_resume_of_a_structured_run_of_an_unknown_structure_is_refused() -> None:
    store = MemoryStore()
    async with _rt(store) as rt:

        async def body(state: Any) -> str:
            raise AssertionError("never finishes here")

        await store.write(
            WriteBatch(
                runs=[RunRecord("run_flow1", "p", "test", rt.ir_hash, "running")],
                events=[
                    Event("run_flow1", 1, 0.0, ev.RUN_STARTED, {"agent": "p", "kind": "pipeline"})
                ],
            )
        )
        with pytest.raises(UsageError, match="unknown pipeline 'p'"):
            await rt.resume("run_flow1")  # structured runs resume (test_flow_resume.py)


async def _corrupt_and_resume(sql: str, params: tuple[Any, ...], tmp_path: Path) -> tuple[str, int]:
    """Store a crashed run in SQLite, corrupt it with ``sql``, try to resume it."""
    db = tmp_path / "c.db"
    from agentspec.store.sql import SQLStore

    record, log = await baseline_run(MemoryStore())
    store = SQLStore(f"sqlite:///{db}")
    await store.setup()
    await store.write(crashed(record, log, 10))
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute(sql, (record.id, *params))
    conn.close()
    store = SQLStore(f"sqlite:///{db}")
    async with _rt(store) as rt:
        before = await rt.get_events(record.id) if "data" not in sql else []
        with pytest.raises(ResumeError) as info:
            await rt.resume(record.id)
        stored = await rt.get_run(record.id)
        assert stored is not None and stored.status == "running"
        if before:
            assert await rt.get_events(record.id) == before  # nothing appended
    assert info.value.run_id == record.id
    return str(info.value), info.value.seq


async def test_a_gap_in_the_log_names_the_run_and_seq(tmp_path: Path) -> None:
    message, seq = await _corrupt_and_resume(
        "DELETE FROM run_events WHERE run_id = ? AND seq = ?", (5,), tmp_path
    )
    assert seq == 6 and "event seq 5 is missing" in message and "nothing was resumed" in message


async def test_an_unreadable_event_names_the_run_and_seq(tmp_path: Path) -> None:
    message, seq = await _corrupt_and_resume(
        "UPDATE run_events SET data = '{not json' WHERE run_id = ? AND seq = ?", (7,), tmp_path
    )
    assert seq == 7 and "unreadable" in message


async def test_an_edited_event_does_not_match_re_execution(tmp_path: Path) -> None:
    edited = '{"turn": 1, "call_id": "c00", "name": "step", "arguments": {"key": "zzz"}}'
    message, seq = await _corrupt_and_resume(
        "UPDATE run_events SET data = ?2 WHERE run_id = ?1 AND seq = 4",
        (edited,),
        tmp_path,
    )
    assert seq == 4 and "tool.call" in message and "zzz" in message


async def test_a_result_for_no_call_is_corruption(tmp_path: Path) -> None:
    message, seq = await _corrupt_and_resume(
        "UPDATE run_events SET type = 'tool.result' WHERE run_id = ? AND seq = ?", (3,), tmp_path
    )
    assert seq == 3 and "answers no pending tool.call" in message


# ---------------------------------------------------------------------------- leases


async def test_a_live_lease_of_another_process_blocks_resume() -> None:
    store, record, _ = await _crashed_store()
    import time

    assert await store.acquire_lease(record.id, "elsewhere:1:ab", time.time() + 60, now=time.time())
    async with _rt(store) as rt:
        with pytest.raises(UsageError, match=r"process elsewhere:1:ab is driving it"):
            await rt.resume(record.id)
    assert await store.acquire_lease(record.id, "elsewhere:1:ab", 0.0, now=time.time())  # lapse
    async with _rt(store) as rt:
        assert (await rt.resume(record.id)).status == "completed"


async def test_two_processes_racing_to_resume_one_wins(tmp_path: Path) -> None:
    import asyncio

    from agentspec.store.sql import SQLStore

    record, log = await baseline_run(MemoryStore())
    url = f"sqlite:///{tmp_path / 'race.db'}"
    first = SQLStore(url)
    await first.setup()
    await first.write(crashed(record, log, 6))
    async with _rt(first) as a, _rt(SQLStore(url)) as b:
        assert a.owner != b.owner
        outcomes = await asyncio.gather(
            a.resume(record.id), b.resume(record.id), return_exceptions=True
        )
        events = await a.get_events(record.id)
    wins = [o for o in outcomes if isinstance(o, RunResult)]
    losses = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(wins) == 1 and wins[0].status == "completed"
    assert len(losses) == 1 and isinstance(losses[0], UsageError)
    assert "is driving it" in str(losses[0]) or "already finished" in str(losses[0])
    assert sum(1 for e in events if e.type == ev.RUN_RESUMED) == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_heartbeats_keep_the_lease_of_a_long_run(tmp_path: Path) -> None:
    import asyncio
    import time

    @tool
    async def slow(key: str) -> str:
        """Sleep a while.

        Args:
            key: Anything.
        """
        await asyncio.sleep(2.5)
        return key

    pkg = package(
        {
            "worker": {
                "skills": ("slow",),
                "script": [
                    {
                        "when": {"last": "user"},
                        "tool_calls": [{"name": "slow", "arguments": {"key": "k"}}],
                    },
                    {"text": "done"},
                ],
            }
        },
        tools=[slow],
    )
    store = SQLStore(f"sqlite:///{tmp_path / 'lease.db'}")
    async with runtime(pkg, tools=[slow], store=store, lease_ttl=0.5) as rt:
        handle = rt.start("worker", "go")
        await asyncio.sleep(1.2)  # two lease times: without heartbeats it would have lapsed
        record = await store.get_run(handle.run_id)
        assert record is not None and record.lease_owner == rt.owner
        assert record.lease_expires > time.time()
        assert not await store.acquire_lease(
            handle.run_id, "thief", time.time() + 5, now=time.time()
        )
        assert (await handle.result()).status == "completed"


async def test_a_run_whose_lease_is_taken_stops_writing(tmp_path: Path) -> None:
    import asyncio
    import time

    @tool
    async def slow(key: str) -> str:
        """Sleep a while.

        Args:
            key: Anything.
        """
        await asyncio.sleep(5.0)
        return key

    pkg = package(
        {
            "worker": {
                "skills": ("slow",),
                "script": [
                    {
                        "when": {"last": "user"},
                        "tool_calls": [{"name": "slow", "arguments": {"key": "k"}}],
                    },
                    {"text": "done"},
                ],
            }
        },
        tools=[slow],
    )
    store = SQLStore(f"sqlite:///{tmp_path / 'lease.db'}")
    async with runtime(pkg, tools=[slow], store=store, lease_ttl=0.3) as rt:
        handle = rt.start("worker", "go")
        await asyncio.sleep(0.2)
        owner = rt.owner
        assert await store.acquire_lease(
            handle.run_id, "thief", time.time() + 60, now=time.time(), steal_from=owner
        )
        result = await handle.result()
        events = await store.get_events(handle.run_id)
        record = await store.get_run(handle.run_id)
    assert result.status != "completed"
    assert not any(e.type in ev.TERMINAL for e in events)  # the thief owns the rest of the log
    assert record is not None and record.status == "running" and record.lease_owner == "thief"


async def test_runs_left_running_are_resumed_at_start_up(tmp_path: Path) -> None:
    import asyncio

    from agentspec.store.sql import SQLStore

    record, log = await baseline_run(MemoryStore())
    url = f"sqlite:///{tmp_path / 'boot.db'}"
    store = SQLStore(url)
    await store.setup()
    await store.write(crashed(record, log, 8))
    await store.close()
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",)}}, tools=[step])
    rt = runtime(
        pkg,
        tools=[step],
        store=SQLStore(url),
        models={"worker": ScriptedModel(script)},
        resume_on_start=True,
    )
    async with rt:
        for _ in range(100):
            current = await rt.get_run(record.id)
            if current is not None and current.status == "completed":
                break
            await asyncio.sleep(0.05)
        assert current is not None and current.status == "completed"
        assert current.output == fold(log).output


async def test_a_session_run_resumes_with_its_history_and_stores_its_messages_once(
    tmp_path: Path,
) -> None:
    from agentspec.store.sql import SQLStore

    a, b = tmp_path / "a.db", tmp_path / "b.db"
    pkg = package({"worker": {"max_turns": 6, "skills": ("step",)}}, tools=[step])

    def rt(path: Path) -> Any:
        return runtime(
            pkg,
            tools=[step],
            store=SQLStore(f"sqlite:///{path}"),
            models={"worker": ScriptedModel(script)},
        )

    async with rt(a) as first:
        await first.run("worker", "first", session_id="s1")
    shutil.copy(a, b)  # the state before the second run
    async with rt(a) as first:
        second = await first.run("worker", "second", session_id="s1")
        record = await first.get_run(second.run_id)
        log = await first.get_events(second.run_id)
        expected = await first.session_messages("s1")
    assert record is not None
    async with rt(b) as crashed_rt:
        await crashed_rt.store.write(crashed(record, log, 12))
        result = await crashed_rt.resume(record.id)
        messages = await crashed_rt.session_messages("s1")
    assert result.status == "completed" and result.output == second.output
    assert [m.to_dict() for m in messages] == [m.to_dict() for m in expected]


async def test_a_run_whose_log_ended_but_whose_record_did_not_is_repaired() -> None:
    """A crash between the terminal event and the record's update: resume trusts the log."""
    store = MemoryStore()
    async with _rt(store) as rt:
        await store.write(
            WriteBatch(
                runs=[RunRecord("run_ended", "worker", "test", rt.ir_hash, "running")],
                events=[
                    Event("run_ended", 1, 0.0, ev.RUN_STARTED, {"agent": "worker", "input": "x"}),
                    Event(
                        "run_ended",
                        2,
                        0.0,
                        ev.RUN_COMPLETED,
                        {"output": "done", "turns": 1, "usage": {}, "duration_ms": 1.0},
                    ),
                ],
            )
        )
        result = await rt.resume("run_ended")
        record = await rt.get_run("run_ended")
        events = await rt.get_events("run_ended")
    assert (result.status, result.output) == ("completed", "done")
    assert record is not None and (record.status, record.output) == ("completed", "done")
    assert len(events) == 2  # nothing appended
